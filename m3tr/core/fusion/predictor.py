"""Saved fusion models and the serving-side :class:`Predictor`.

A checkpoint folder holds ``config.json`` (fusion config, task, interval calibration, the
trajectory-vector statistics, metrics) and ``weights.pt`` (a plain state dict, loaded with
``torch.load(..., weights_only=True)``: no pickle of code). It is written to a temporary folder
and renamed into place, so a reader never sees half a checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from m3tr.core.fusion.batch import FusionBatch
from m3tr.core.fusion.config import FusionConfig
from m3tr.core.fusion.mhp_adapter import MHPTemporalEncoder
from m3tr.core.fusion.model import M3TRFusion
from m3tr.core.task.intervals import ResidualInterval
from m3tr.core.task.spec import TaskSpec

logger = logging.getLogger(__name__)

FORMAT = "m3tr-fusion-1"


class CheckpointError(RuntimeError):
    """A checkpoint folder that cannot be read; the message names the file."""


@dataclass
class FusedForecast:
    """Per-output log1p forecasts (outputs: each event type, then ``total``).

    median, lo, hi: (B, O) float64; lo/hi bound the ``level`` interval (e.g. 0.8).
    """

    names: tuple[str, ...]
    median: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    level: float

    def counts(self) -> dict[str, np.ndarray]:
        """The same as counts (expm1): {"median", "lo", "hi"} -> (B, O)."""
        return {k: np.expm1(getattr(self, k)) for k in ("median", "lo", "hi")}


class Predictor:
    """A trained fusion model ready to serve.

    ``predict(batch)`` needs a :class:`~m3tr.core.fusion.batch.FusionBatch` with, for each of
    B target videos (see ``m3tr.core.training.tensors.video_tensors`` to build them from
    ``TaskData``):

    - content features: text token embeddings (n_w, d_text) + mask, audio-visual frames
      (K, d_av) + mask (all False when the video has no media), side features (d_side);
    - its events in [0, T_obs] only: padded times (L,) in seconds, type ids (L,), mask, the
      count profile (``count_profile``) and the log1p observed counts per output (``floor``);
    - its S retrieved neighbours (matured videos from the live bank, never itself), either as
      raw ``VideoTensors`` (B * S rows) or as ``nb_vectors`` from :meth:`encode`, with their
      ``nb_floor`` (B, S, O), final labels ``nb_labels`` (B, S, O) in log1p and ``nb_mask``.
    """

    def __init__(
        self,
        model: M3TRFusion,
        spec: TaskSpec,
        interval: ResidualInterval,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.model = model.eval()
        self.spec = spec
        self.interval = interval
        self.extra = extra or {}

    @property
    def config(self) -> FusionConfig:
        return self.model.cfg

    @torch.no_grad()
    def encode(self, videos: Any) -> torch.Tensor:
        """(N, 3, d) neighbour vectors (C, T, S) of ``VideoTensors``."""
        return self.model.encode(videos)

    @torch.no_grad()
    def predict(self, batch: FusionBatch) -> FusedForecast:
        """Medians and intervals in log1p, never below the observed counts."""
        pred = self.model(batch).pred.double().cpu().numpy()  # (B, O)
        floor = batch.target.floor.double().cpu().numpy() if self.config.uses_events else None
        lo, hi = self.interval.apply(pred, floor)
        return FusedForecast(self.spec.output_names, pred, lo, hi, self.interval.level)


def save_predictor(
    directory: str | Path,
    model: M3TRFusion,
    spec: TaskSpec,
    interval: ResidualInterval,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint folder atomically; replaces an existing one."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        meta = {
            "format": FORMAT,
            "fusion": model.cfg.to_dict(),
            "task": spec.to_dict(),
            "interval": interval.to_dict(),
            "extra": extra or {},
        }
        temporal = model.encoder.temporal
        if isinstance(temporal, MHPTemporalEncoder):
            meta["mhp"] = temporal.mhp.config.to_dict()
        (tmp / "config.json").write_text(json.dumps(meta, indent=2, default=float))
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}  # readable anywhere
        torch.save(state, tmp / "weights.pt")
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("saved fusion model to %s", directory)
    return directory


def load_predictor(path: str | Path) -> Predictor:
    """Load a checkpoint folder written by :func:`save_predictor`.

    Raises:
        CheckpointError: missing or unreadable files, or another format.
    """
    path = Path(path)
    cfg_f, w_f = path / "config.json", path / "weights.pt"
    for f in (cfg_f, w_f):
        if not f.is_file():
            raise CheckpointError(f"{f}: missing (not a fusion checkpoint folder?)")
    try:
        meta = json.loads(cfg_f.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{cfg_f}: not valid JSON ({exc.msg})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_f}: format {meta.get('format')!r}, expected {FORMAT!r}")
    cfg = FusionConfig.from_dict(meta["fusion"])
    temporal = None
    if cfg.temporal == "mhp":
        from m3tr.core.temporal import MHP, MHPConfig

        if "mhp" not in meta:
            raise CheckpointError(f"{cfg_f}: temporal='mhp' but no MHP config saved")
        mhp = MHP(MHPConfig.from_dict(meta["mhp"]))
        temporal = MHPTemporalEncoder(mhp, cfg.d_model, cfg.obs_window_s)
    model = M3TRFusion(cfg, temporal)
    try:
        state = torch.load(w_f, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except (RuntimeError, OSError, ValueError) as exc:
        raise CheckpointError(f"{w_f}: cannot load the weights ({exc})") from None
    return Predictor(
        model,
        TaskSpec.from_dict(meta["task"]),
        ResidualInterval.from_dict(meta["interval"]),
        meta.get("extra", {}),
    )
