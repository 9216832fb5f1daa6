"""Trajectory signatures over the whole observation window, and the transform that makes them
tell trajectories apart.

- X^s (L x d): the MHP's context ``h(t)`` read at L times evenly spread over ``(0, T_obs]``.
  Every event of the window is in the history behind those readouts (the encoding is streamed,
  :meth:`MHP.readout`), so a busy video's signature describes its whole first hour, not its
  first minutes. Deviation from the paper (§3.2.2 extends each sequence to L events by
  thinning): a time grid already gives every window L rows, short or long; the simulated
  future is what forecasts are for.
- The raw retrieval vector: ``[mean_j h(g_j), h(T_obs), log lambda(t_s), log1p N(t_s)]`` with
  ``lambda`` the MHP's total intensity and ``N`` the observed count at S log-spaced times
  ``t_s`` in ``(0, T_obs]`` (d_raw = 2 d + 2 S).
- :class:`TrajectoryTransform`: centring and PCA whitening (with shrinkage) fitted on the
  training windows, saved beside the MHP's weights (``trajectory.safetensors``) and applied to
  every vector of that model version, bank and queries alike; vectors come out L2-normalised.
  Without centring every raw vector shares one large mean component and the cosine between
  any two is ~1 (the trajectory half of Eq. 3 then ranks nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from m3tr.core.temporal.batch import EventSequence, make_batch
from m3tr.core.temporal.mhp import MHP

log = logging.getLogger(__name__)

TRANSFORM_FILE = "trajectory.safetensors"
SUMMARY_POINTS = 8  # S log-spaced times of the count and intensity summary
SLOT_BUDGET = 1 << 20  # padded slots per signature batch (B x longest window)


@dataclass
class TrajectoryFeatures:
    """Signatures of a batch of windows.

    Attributes:
        X: (B, L, d) h(t) on the time grid (the signature X^s).
        raw: (B, 2 d + 2 S) the raw retrieval vector, before :class:`TrajectoryTransform`.
        cold_start: (B,) True where the window holds no event.
        n_events: (B,) events in each window (all of them are used).
    """

    X: np.ndarray
    raw: np.ndarray
    cold_start: np.ndarray
    n_events: np.ndarray


def summary_times(t_obs: float, points: int = SUMMARY_POINTS) -> np.ndarray:
    """(S,) log-spaced times from ``t_obs / 2^(S-1)`` to ``t_obs``."""
    return t_obs * np.logspace(-(points - 1), 0, points, base=2.0)


@torch.no_grad()
def trajectory_features(
    model: MHP, sequences: Sequence[EventSequence], t_obs_s: float, length: int = 32
) -> TrajectoryFeatures:
    """X^s and the raw vector of each window ``[0, t_obs_s)`` (see the module docstring).

    Memory: windows are grouped so that a group holds at most SLOT_BUDGET padded slots, and
    each group is encoded chunk by chunk; a single long window costs O(its events).
    """
    if length < 1:
        raise ValueError(f"signature length must be >= 1, got {length}")
    cfg = model.config
    device = next(model.parameters()).device
    windows = [s.window(t_obs_s) for s in sequences]
    unit = cfg.time_unit_s
    grid = torch.linspace(t_obs_s / length, t_obs_s, length, device=device) / unit  # (L,)
    summ = torch.as_tensor(summary_times(t_obs_s) / unit, dtype=torch.float32, device=device)
    query = torch.cat([grid, summ])  # (L + S,)
    out_x = np.zeros((len(windows), length, cfg.d_model), dtype=np.float32)
    out_raw = np.zeros((len(windows), 2 * cfg.d_model + 2 * summ.numel()), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        for group in _groups([len(w) for w in windows]):
            batch = make_batch([windows[i] for i in group], cfg.n_types, unit, device=device)
            q = query.expand(len(group), -1).contiguous()  # (b, L + S)
            h, parts = model.readout(batch, q)  # (b, L+S, d), (b, L+S, K)
            x = h[:, :length]  # (b, L, d)
            log_lam = torch.log(parts.total[:, length:].sum(-1) + 1e-6)  # (b, S)
            raw = torch.cat([x.mean(1), h[:, length - 1], log_lam], -1).cpu().numpy()
            out_x[group] = x.cpu().numpy()
            out_raw[group, : raw.shape[1]] = raw
    finally:
        model.train(was_training)
    times = summary_times(t_obs_s)
    counts = np.array([np.searchsorted(w.times_s, times, side="right") for w in windows])
    out_raw[:, -summ.numel() :] = np.log1p(counts.reshape(len(windows), -1))
    n = np.array([len(w) for w in windows], dtype=np.int64)
    return TrajectoryFeatures(out_x, out_raw, n == 0, n)


def _groups(lengths: list[int]) -> list[list[int]]:
    """Indices grouped by length so each group's padded size stays under SLOT_BUDGET."""
    order = np.argsort(lengths, kind="stable")
    groups: list[list[int]] = []
    current: list[int] = []
    for i in order.tolist():
        width = lengths[i] + 1
        if current and (len(current) + 1) * width > SLOT_BUDGET or len(current) >= 256:
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    return groups


@dataclass
class TrajectoryTransform:
    """Centring and whitening of raw trajectory vectors: ``(raw - mean) @ proj``, then L2.

    Attributes:
        mean: (d_raw,) mean of the fitting vectors.
        proj: (d_raw, d_out) top principal directions scaled by ``1 / sqrt(variance + shrink)``.
    """

    mean: np.ndarray
    proj: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.proj.shape[1])

    @classmethod
    def fit(cls, raw: np.ndarray, dim: int = 32, shrink: float = 0.05) -> TrajectoryTransform:
        """PCA whitening of ``raw`` (n, d_raw) to ``dim`` components; ``shrink`` (a share of the
        mean variance) keeps near-empty directions from being blown up."""
        x = np.asarray(raw, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"need at least 2 raw vectors (n, d) to fit, got {x.shape}")
        mean = x.mean(0)
        cov = np.cov(x - mean, rowvar=False)  # (d_raw, d_raw)
        val, vec = np.linalg.eigh(cov)
        order = np.argsort(val)[::-1][: min(dim, x.shape[1])]
        floor = shrink * max(float(val.mean()), 1e-12)
        proj = vec[:, order] / np.sqrt(np.clip(val[order], 0.0, None) + floor)
        return cls(
            np.ascontiguousarray(mean, dtype=np.float32),
            np.ascontiguousarray(proj, dtype=np.float32),
        )

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """(n, d_raw) -> (n, d_out) float32, L2-normalised."""
        z = (np.asarray(raw, dtype=np.float32) - self.mean) @ self.proj
        norm = np.linalg.norm(z, axis=-1, keepdims=True)
        return (z / np.where(norm > 0, norm, 1.0)).astype(np.float32)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / TRANSFORM_FILE
        tmp = path.with_suffix(".tmp")
        tensors = {"mean": np.ascontiguousarray(self.mean), "proj": np.ascontiguousarray(self.proj)}
        save_file(tensors, str(tmp))  # C order: safetensors writes the raw buffer
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, directory: str | Path) -> TrajectoryTransform | None:
        """The transform saved with a checkpoint, or None for a checkpoint without one."""
        path = Path(directory) / TRANSFORM_FILE
        if not path.is_file():
            return None
        t = load_file(str(path))
        return cls(t["mean"], t["proj"])


def vector_dim(model: MHP) -> int:
    """d_s of ``model``'s retrieval vectors: the transform's output, or the raw size."""
    if model.trajectory_transform is not None:
        return model.trajectory_transform.dim
    return 2 * model.config.d_model + 2 * SUMMARY_POINTS


def trajectory_vectors(
    model: MHP, sequences: Sequence[EventSequence], t_obs_s: float, length: int = 32
) -> tuple[np.ndarray, TrajectoryFeatures]:
    """Retrieval vectors (B, d_out) of ``sequences`` through ``model.trajectory_transform``,
    and their features. A model without a transform (an older checkpoint) gives its raw
    vectors L2-normalised, with a warning: they barely discriminate."""
    feats = trajectory_features(model, sequences, t_obs_s, length)
    transform = model.trajectory_transform
    if transform is None:
        log.warning("MHP without a trajectory transform: raw vectors, L2-normalised")
        norm = np.linalg.norm(feats.raw, axis=1, keepdims=True)
        return (feats.raw / np.where(norm > 0, norm, 1.0)).astype(np.float32), feats
    return transform.apply(feats.raw), feats


def fit_trajectory_transform(
    model: MHP, sequences: Sequence[EventSequence], t_obs_s: float, dim: int = 32
) -> TrajectoryTransform:
    """Fit the whitening on the raw vectors of ``sequences`` (the training windows) and attach
    it to ``model``, so it is saved with the checkpoint and applied to every later vector."""
    feats = trajectory_features(model, sequences, t_obs_s)
    model.trajectory_transform = TrajectoryTransform.fit(feats.raw, dim=dim)
    return model.trajectory_transform
