"""The fusion model's training recipe: one variant, one split, one seed -> the trained model,
its validation and test predictions and its record.

Variants (``M3TRVariant``):
- ``m3tr``: temporal modality from the Mamba-Hawkes Process (pre-trained on the training
  windows, then trained end to end with ``L_pred + gamma L_mhp``), temporal-aware retrieval
  (Eq. 3) with the mean-pooled MHP signature as trajectory vector, neighbour labels.
- ``no_retrieval``: S = 0.
- ``no_temporal``: no events at all (no temporal modality, no observed counts), content-only
  retrieval.
- ``no_mhp``: temporal modality by pad-and-mask, no point process.
- ``content_only_retrieval``: the full model, retrieving by the semantic vector only (MMRA).

``no_mhp`` and a ``temporal_factory=None`` setup use the standardised count profile as the
trajectory vector for retrieval. ``space_vectors`` fixes the trajectory vectors of Eq. 3 from
outside whatever the temporal modality: service training passes the active MHP version's
(``training.bank_space``), the space its served neighbours come from.

Service training (``training.service``) and the evaluation method (``evaluation.methods.m3tr``)
both run :meth:`FusionRecipe.fit`; reproducibility: it seeds torch, numpy and ``random`` with
the run seed before every random step. ``device``: where the MHP is pre-trained and the fusion
model trained and scored (weights are initialised on the CPU first, so a CUDA run starts from
the same weights as a CPU run); predictions come back as numpy arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import torch
from torch import nn

from m3tr.core.fusion.config import FusionConfig, TemporalKind
from m3tr.core.fusion.mhp_adapter import MHPTemporalEncoder, signature_vectors
from m3tr.core.fusion.model import M3TRFusion
from m3tr.core.training.data import DataSplit, TaskData
from m3tr.core.training.features import count_profile, profile_vector
from m3tr.core.training.neighbours import NeighbourIndex, TrainingBank
from m3tr.core.training.shared_mhp import SharedMHP, TemporalFactory, mhp_encoder, seed_everything
from m3tr.core.training.tensors import video_tensors
from m3tr.core.training.trainer import FusionDataset, FusionTrainConfig, predict, train_fusion

logger = logging.getLogger(__name__)

# trajectory retrieval vectors (N, d_s) for data, given the training data
TrajectoryVectors = Callable[[TaskData, TaskData], np.ndarray]


class SpaceVectors(Protocol):
    """Trajectory vectors in a named space (e.g. ``bank_space.BankSpaceVectors``)."""

    name: str  # recorded as the record's ``trajectory_vector``

    def __call__(self, data: TaskData, train: TaskData) -> np.ndarray: ...


@dataclass(frozen=True)
class M3TRVariant:
    name: str
    temporal: TemporalKind = "mhp"
    retrieval: str = "temporal_aware"  # "temporal_aware" | "content_only" | "none"
    use_labels: bool = True
    # trajectory vector of Eq. 3 with the MHP: "signature" (mean-pooled X^s of length
    # signature_length), "profile" (count profile) or "signature+profile" (both, concatenated
    # after L2 normalisation and scaled by 1/sqrt(2): the dot product averages the two cosines)
    trajectory: str = "signature"
    signature_length: int = 128


VARIANTS = {
    "m3tr": M3TRVariant("m3tr"),
    "no_retrieval": M3TRVariant("no_retrieval", retrieval="none"),
    "no_temporal": M3TRVariant("no_temporal", temporal="none", retrieval="content_only"),
    "no_mhp": M3TRVariant("no_mhp", temporal="padmask"),
    "content_only_retrieval": M3TRVariant("content_only_retrieval", retrieval="content_only"),
}


def profile_trajectory_vectors(data: TaskData, train: TaskData) -> np.ndarray:
    """(N, F) trajectory vectors from the standardised count profile (stats of ``train``)."""
    k, t_obs = train.spec.num_types, train.spec.obs_window_s
    ref = count_profile(train.event_t, train.event_k, k, t_obs)
    prof = count_profile(data.event_t, data.event_k, k, t_obs)
    return profile_vector(prof, ref.mean(axis=0), ref.std(axis=0))


def temporal_score_spread(
    query: np.ndarray, bank: np.ndarray, nb: NeighbourIndex
) -> dict[str, float]:
    """How the trajectory axis ranks a query's retrieved neighbours: their normalised temporal
    scores ``Norm(s_i . s_j)`` (min-max over the whole bank, Eq. 3), per query the spread
    (max - min) among its top-S, the lowest and the highest; means over queries.
    query (Q, d), bank (N, d)."""
    scores = query @ bank.T  # (Q, N)
    lo = scores.min(axis=1, keepdims=True)  # (Q, 1)
    hi = scores.max(axis=1, keepdims=True)
    norm = (np.take_along_axis(scores, nb.idx, axis=1) - lo) / np.where(hi > lo, hi - lo, 1.0)
    top = np.where(nb.mask, norm, np.nan)  # (Q, S)
    return {
        "norm_spread_mean": round(float(np.nanmean(np.nanmax(top, 1) - np.nanmin(top, 1))), 4),
        "norm_min_mean": round(float(np.nanmean(np.nanmin(top, 1))), 4),
        "norm_max_mean": round(float(np.nanmean(np.nanmax(top, 1))), 4),
    }


@dataclass
class FusionFit:
    """What one run of the recipe gives.

    model: the trained fusion model (best validation epoch); config: its configuration;
    val_pred (N_val, O), test_pred (N_test, O): log1p forecasts; record: how it was trained
    (temporal modality, retrieval, trajectory vector, best epoch, seconds, neighbour scores).
    """

    model: M3TRFusion
    config: FusionConfig
    val_pred: np.ndarray
    test_pred: np.ndarray
    record: dict[str, object]


class FusionRecipe:
    """One variant of the fusion model, trained per split and seed."""

    def __init__(
        self,
        variant: M3TRVariant,
        base: FusionConfig,
        train_cfg: FusionTrainConfig,
        temporal_factory: TemporalFactory | None = mhp_encoder,
        trajectory_vectors: TrajectoryVectors | None = None,
        device: torch.device | str = "cpu",
        space_vectors: SpaceVectors | None = None,
    ) -> None:
        self.variant = variant
        self.base = base
        self.train_cfg = train_cfg
        self.temporal_factory = temporal_factory
        self.trajectory_vectors = trajectory_vectors or profile_trajectory_vectors
        self.space_vectors = space_vectors  # when set: retrieval's trajectory vectors, always
        self.device = torch.device(device)

    def config(self, train: TaskData) -> FusionConfig:
        """The fusion config of this variant on ``train``'s task."""
        v = self.variant
        temporal = v.temporal
        if temporal == "mhp" and self.temporal_factory is None:
            temporal = "padmask"
        if train.spec.obs_window_s <= 0:
            temporal = "none"
        return replace(
            self.base,
            temporal=temporal,
            event_keep="first" if temporal == "mhp" else "last",
            top_s=0 if v.retrieval == "none" else self.base.top_s,
            use_labels=v.use_labels,
        )

    def neighbours(
        self, split: DataSplit, cfg: FusionConfig, trajectory: TrajectoryVectors | None = None
    ) -> tuple[NeighbourIndex | None, NeighbourIndex | None, NeighbourIndex | None]:
        """Neighbour indices for train (self excluded), val and test (training bank only)."""
        return self._neighbours(split, cfg, trajectory)[0]

    def _neighbours(
        self, split: DataSplit, cfg: FusionConfig, trajectory: TrajectoryVectors | None
    ) -> tuple[
        tuple[NeighbourIndex | None, NeighbourIndex | None, NeighbourIndex | None],
        dict[str, float] | None,
    ]:
        """The neighbour indices and the test queries' temporal score spread (or None)."""
        if cfg.top_s == 0:
            return (None, None, None), None
        tr, va, te = split.train, split.val, split.test
        assert tr.content is not None and va.content is not None and te.content is not None
        temporal = self.variant.retrieval == "temporal_aware" and cfg.uses_events

        vectors = trajectory or self.trajectory_vectors

        def traj(d: TaskData) -> np.ndarray | None:
            return vectors(d, tr) if temporal else None

        bank = TrainingBank(tr.video_ids, tr.content.R, traj(tr))
        try:
            n_tr = bank.query(tr.content.R, traj(tr), cfg.top_s, tr.video_ids, "train")
            n_va = bank.query(va.content.R, traj(va), cfg.top_s, None, "eval")
            n_te = bank.query(te.content.R, traj(te), cfg.top_s, None, "eval")
        finally:
            bank.close()
        t_te, t_tr = traj(te), traj(tr)
        spread = None if t_te is None or t_tr is None else temporal_score_spread(t_te, t_tr, n_te)
        return (n_tr, n_va, n_te), spread

    def _mhp_trajectory(self, mhp: nn.Module, obs_window_s: float, seed: int) -> TrajectoryVectors:
        kind, length = self.variant.trajectory, self.variant.signature_length
        if kind not in ("signature", "profile", "signature+profile"):
            raise ValueError(f"unknown trajectory vector {kind!r}")

        shared = self.temporal_factory if isinstance(self.temporal_factory, SharedMHP) else None

        def traj(d: TaskData, tr: TaskData) -> np.ndarray:
            parts = []
            if "signature" in kind and shared is not None:
                parts.append(shared.vectors(d, tr, seed, length))
            elif "signature" in kind:
                parts.append(
                    signature_vectors(mhp, d.event_t, d.event_k, obs_window_s, length, seed=seed)
                )
            if "profile" in kind:
                parts.append(profile_trajectory_vectors(d, tr))
            return (np.concatenate(parts, axis=1) / np.sqrt(len(parts))).astype(np.float32)

        return traj

    def fit(self, split: DataSplit, seed: int) -> FusionFit:
        """Train on ``split.train`` (early stopping on ``split.val``) with ``seed``."""
        cfg = self.config(split.train)
        seed_everything(seed)
        temporal = None
        traj = self.trajectory_vectors
        if cfg.temporal == "mhp" and self.temporal_factory is not None:
            temporal = self.temporal_factory(
                cfg.num_types, cfg.d_model, cfg.obs_window_s, split.train, seed, self.device
            )
            if isinstance(temporal, MHPTemporalEncoder):
                traj = self._mhp_trajectory(temporal.mhp, cfg.obs_window_s, seed)
        if self.space_vectors is not None:
            traj = self.space_vectors

        seed_everything(seed)
        # initialised on the CPU (the same weights on any device), then moved
        model = M3TRFusion(cfg, temporal).to(self.device)
        (n_tr, n_va, n_te), spread = self._neighbours(split, cfg, traj)
        bank = video_tensors(split.train, cfg.max_events, keep=cfg.event_keep)
        bank_y = torch.from_numpy(split.train.y_log()).float()

        def dataset(d: TaskData, nb: NeighbourIndex | None) -> FusionDataset:
            return FusionDataset(
                videos=bank
                if d is split.train
                else video_tensors(d, cfg.max_events, keep=cfg.event_keep),
                y=torch.from_numpy(d.y_log()).float(),
                bank=bank if nb is not None else None,
                bank_labels=bank_y if nb is not None else None,
                neighbours=nb,
            )

        ds_tr, ds_va, ds_te = (
            dataset(split.train, n_tr),
            dataset(split.val, n_va),
            dataset(split.test, n_te),
        )
        result = train_fusion(model, ds_tr, ds_va, replace(self.train_cfg, seed=seed))
        logger.info(
            "%s seed %d: best epoch %d, val L_pred %.4f, %.1f s",
            self.variant.name,
            seed,
            result.best_epoch,
            result.best_val_loss,
            result.seconds,
        )
        record: dict[str, object] = {
            "temporal": cfg.temporal,
            "retrieval": self.variant.retrieval if cfg.top_s else "none",
            "retrieval_mode": None if n_te is None else n_te.mode,
            "trajectory_vector": (
                None
                if n_te is None or n_te.mode != "temporal_aware"
                else self.space_vectors.name
                if self.space_vectors is not None
                else (
                    f"{self.variant.trajectory} (L={self.variant.signature_length})"
                    if cfg.temporal == "mhp"
                    else "count profile"
                )
            ),
            "best_epoch": result.best_epoch,
            "train_seconds": round(result.seconds, 2),
            "test_neighbour_temporal_scores": spread if n_te else None,
        }
        return FusionFit(model, cfg, predict(model, ds_va), predict(model, ds_te), record)
