"""What every pipeline step needs, passed explicitly: SQL sessions, folders, stores, model settings.

``workers/`` builds one :class:`PipelineContext` per process from settings. The vector store is
opened lazily, once, and shared by every step of that process: Qdrant local mode allows a single
process to hold its folder, so in the embedded deployment exactly one process (the one running
the worker) owns it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from m3tr.core.content.config import EncoderProfile, get_profile
from m3tr.core.content.fitting import resolve_profile
from m3tr.core.content.store import FeatureStore
from m3tr.core.events.log import EventLogRules
from m3tr.core.retrieval.factory import StoreConfig, open_store
from m3tr.core.retrieval.store import VectorStore

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class PipelineContext:
    """Explicit configuration and shared handles for the ingestion/prediction steps.

    Attributes:
        session_factory: SQL sessions (already migrated).
        media_dir: content-addressed media copies, ``<media_dir>/<sha256>.<ext>``.
        feature_dir: the feature store's root folder.
        model_dir: model checkpoints.
        store_config: which vector store to open (lazily, once, by :meth:`store`).
        event_rules: event-log vocabulary and size cap.
        encoder_profile: ``"lite"`` or ``"paper"``.
        encoder_models: overrides of the profile's models (``visual_model`` -> id or local path).
        obs_window_s: T_obs, the observed part of a log used for signatures and forecasts.
        horizon_s: T_h, the prediction horizon.
        top_s: S, neighbours retrieved per video.
        device: torch device string for encoders and the temporal model.
        forecast_samples: simulated futures per forecast.
        forecast_max_events: cap on simulated events per future (bounds a forecast's latency;
            futures that hit it are counted in the row's ``truncated_paths``).
        interval: central interval level of forecasts.
    """

    session_factory: sessionmaker[Session]
    media_dir: Path
    feature_dir: Path
    model_dir: Path
    store_config: StoreConfig
    event_rules: EventLogRules
    encoder_profile: str = "lite"
    encoder_models: dict[str, str] = field(default_factory=dict)
    obs_window_s: float = 3600.0
    horizon_s: float = 604800.0
    top_s: int = 10
    device: str = "cpu"
    forecast_samples: int = 64
    forecast_max_events: int = 2000
    interval: float = 0.8
    _store: VectorStore | None = field(default=None, init=False, repr=False)
    _store_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def profile(self) -> EncoderProfile:
        """The encoder profile named by ``encoder_profile``, with ``encoder_models`` applied and
        its text fit in use (lite: ``lite-v2.<fit id>``; unfitted until the first embedding)."""
        base = get_profile(self.encoder_profile)
        base = base.with_overrides(**self.encoder_models) if self.encoder_models else base
        return resolve_profile(base, FeatureStore(self.feature_dir))

    def store(self) -> VectorStore:
        """The process's vector store, opened on first use (thread-safe)."""
        with self._store_lock:
            if self._store is None:
                log.info("opening %s vector store", self.store_config.backend)
                self._store = open_store(self.store_config)
            return self._store

    def cached(self, key: str, build: Callable[[], T]) -> T:
        """A per-process object (loaded encoders, a temporal model) built once on first use."""
        with self._cache_lock:
            if key not in self._cache:
                self._cache[key] = build()
            return self._cache[key]

    def forget(self, prefix: str = "") -> None:
        """Drop cached objects whose key starts with ``prefix`` (e.g. after a model change)."""
        with self._cache_lock:
            for key in [k for k in self._cache if k.startswith(prefix)]:
                del self._cache[key]

    def close(self) -> None:
        """Release the vector store (flushes files, frees Qdrant's local lock)."""
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None
