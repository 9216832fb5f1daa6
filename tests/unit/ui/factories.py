"""Factories for UI/API tests: a Services on a temporary workspace, rows, a small live bank."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from m3tr.app import bootstrap
from m3tr.app.services import Services
from m3tr.app.settings import Settings
from m3tr.core.db.models import Event, Label, Prediction, Video
from m3tr.core.db.session import transaction
from m3tr.core.retrieval.bank import BankItem, build_bank, set_live
from m3tr.core.retrieval.numpy_store import NumpyStore

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_VIDEO = REPO_ROOT.parent / "shared" / "data" / "microlens" / "videos" / "1002.mp4"


class Recorder:
    """An enqueue function that records job ids (and whether each job row was committed)."""

    def __init__(self, services_ref: list[Services] | None = None) -> None:
        self.sent: list[int] = []
        self.committed: list[bool] = []
        self.services_ref = services_ref if services_ref is not None else []

    def __call__(self, job_id: int) -> None:
        from m3tr.core.db.models import Job

        self.sent.append(job_id)
        if self.services_ref:
            with self.services_ref[0].sessions() as session:
                self.committed.append(session.get(Job, job_id) is not None)


def make_services(home: Path, **overrides: Any) -> tuple[Services, Recorder]:
    """Services on a fresh SQLite workspace with an in-memory NumPy vector store."""
    settings = Settings(home=home, **overrides)
    ref: list[Services] = []
    recorder = Recorder(ref)
    store = NumpyStore(None)
    services = bootstrap.services(settings, enqueue=recorder)
    services.store_opener = lambda: store
    ref.append(services)
    return services, recorder


def add_video(
    services: Services,
    title: str,
    event_t: Sequence[float] = (),
    event_types: Sequence[str] | None = None,
    labels: dict[str, int] | None = None,
    media_path: str | None = None,
    matured: bool = True,
) -> int:
    with transaction(services.sessions) as s:
        v = Video(
            source="test", external_id=title, title=title, media_path=media_path, matured=matured
        )
        s.add(v)
        s.flush()
        types = event_types or ["like"] * len(event_t)
        s.add_all(
            Event(video_id=v.id, t=float(t), type=k) for t, k in zip(event_t, types, strict=True)
        )
        s.add_all(
            Label(video_id=v.id, type=k, horizon_s=None, count=c) for k, c in (labels or {}).items()
        )
        return v.id


def add_model(services: Services, name: str = "m3tr-test", **fields: Any) -> int:
    """Register a model version and make it the active one of its kind (the registry's rules)."""
    from m3tr.core.db import registry

    kind = fields.pop("kind", "m3tr")
    with transaction(services.sessions) as s:
        m = registry.register(
            s, name=name, kind=kind, checkpoint_path=fields.pop("checkpoint_path", None), **fields
        )
        registry.activate(s, kind, m.id)
        return m.id


def add_prediction(
    services: Services,
    video_id: int,
    neighbours: list[dict[str, Any]],
    model_version_id: int | None = None,
    retrieval_mode: str = "temporal_aware",
    trajectory: dict[str, Any] | None = None,
) -> int:
    horizon = services.settings.horizon_s
    with transaction(services.sessions) as s:
        p = Prediction(
            video_id=video_id,
            model_version_id=model_version_id,
            horizon_s=horizon,
            forecast={
                "like": {"median": 120.0, "lo": 80.0, "hi": 200.0},
                "comment": {"median": 12.0, "lo": 5.0, "hi": 30.0},
            },
            interval=0.8,
            trajectory=trajectory
            or {
                "t": [0.0, 3600.0, horizon],
                "median": [0.0, 10.0, 132.0],
                "lo": [0.0, 10.0, 85.0],
                "hi": [0.0, 10.0, 230.0],
            },
            neighbours=neighbours,
            retrieval_mode=retrieval_mode,
            encoder_profile="lite-v1",
        )
        s.add(p)
        s.flush()
        return p.id


def live_bank_of(
    services: Services,
    semantic: dict[int, np.ndarray],
    temporal: dict[int, np.ndarray | None],
    profile: str = "lite-v1",
) -> str:
    """Build and set live a bank holding the given vectors; returns the collection name."""
    store = services.store()
    assert store is not None
    d_r = len(next(iter(semantic.values())))
    d_s = len(next(v for v in temporal.values() if v is not None))
    items = [
        BankItem(
            video_id=vid,
            semantic=np.asarray(vec, dtype=np.float32),
            temporal=None if temporal.get(vid) is None else np.asarray(temporal[vid], np.float32),
            payload={"matured": True, "split": "train"},
        )
        for vid, vec in semantic.items()
    ]
    info = build_bank(
        services.sessions, store, items, profile=profile, dims={"semantic": d_r, "temporal": d_s}
    )
    set_live(services.sessions, info.id)
    return info.collection


def synthetic_clip(folder: Path, name: str = "clip") -> Path:
    """A real 1-second MP4 (PyAV), so tests do not need the shared data."""
    from m3tr.core.synthetic.videos import ClipSpec, write_clip

    return write_clip(ClipSpec(name=name, seconds=1.0, size=32), folder / f"{name}.mp4")
