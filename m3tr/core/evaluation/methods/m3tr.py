"""The M3TR fusion model and its ablations as evaluation methods.

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
trajectory vector for retrieval.

Stacking (``stack_with``): every variant's forecast is combined with the strong-features
forecasts on the validation split (``stacking.stack``: the model alone, the features alone or
a ridge stack, whichever has the lowest leave-one-out error there), so each variant is judged
on what it adds beyond the early features.

Reproducibility: each run seeds torch, numpy and ``random`` with its seed before every random
step, so a method's numbers do not depend on which methods ran before it in the process.
"""

from __future__ import annotations

import copy
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from m3tr.core.evaluation.methods.base import EvalSplit, MethodOutput, observed_floor
from m3tr.core.evaluation.methods.stacking import stack
from m3tr.core.evaluation.methods.strong_features import StrongFitter
from m3tr.core.fusion.config import FusionConfig, TemporalKind
from m3tr.core.fusion.mhp_adapter import MHPTemporalEncoder, pretrain_mhp, signature_vectors
from m3tr.core.fusion.model import M3TRFusion
from m3tr.core.training.data import TaskData
from m3tr.core.training.features import count_profile, profile_vector
from m3tr.core.training.neighbours import NeighbourIndex, TrainingBank
from m3tr.core.training.tensors import video_tensors
from m3tr.core.training.trainer import FusionDataset, TrainConfig, predict, train_fusion

logger = logging.getLogger(__name__)

# builds a point-process temporal encoder for (num_types, d_model, obs_window_s, train, seed)
TemporalFactory = Callable[[int, int, float, TaskData, int], nn.Module]
# trajectory retrieval vectors (N, d_s) for data, given the training data
TrajectoryVectors = Callable[[TaskData, TaskData], np.ndarray]


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


def seed_everything(seed: int) -> None:
    """Seed torch, numpy's global generator and ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def mhp_encoder(
    num_types: int, d_model: int, obs_window_s: float, train: TaskData, seed: int = 0
) -> nn.Module:
    """The default point-process encoder: an MHP pre-trained on the training windows."""
    mhp = pretrain_mhp(train.event_t, train.event_k, num_types, obs_window_s, seed)
    return MHPTemporalEncoder(mhp, d_model, obs_window_s)


class SharedMHP:
    """A ``TemporalFactory`` that pre-trains the MHP once per (training set, seed) and hands
    each caller its own copy (the fusion model fine-tunes it), so ``m3tr``, its ablations and
    ``trajectory_only_retrieval`` share one fit and its trajectory vectors.

    ``mhp_sizes``: the recipe's candidate model sizes (default: the recipe's own).
    ``fit_seed``: pre-train once per training set with this seed for every run seed (the
    fusion model's training still follows the run seed). The MHP recipe (several sizes, early
    stopping on whole windows) is the costliest step of an evaluation; one fit per split keeps
    the whole evaluation within its time budget.
    """

    def __init__(self, fit_seed: int | None = None, mhp_sizes: str | None = None) -> None:
        self.fit_seed = fit_seed
        self.mhp_sizes = mhp_sizes
        self._mhp: dict[tuple[int, int], nn.Module] = {}
        self._vectors: dict[tuple[int, int, int, int], np.ndarray] = {}

    def mhp(self, train: TaskData, num_types: int, obs_window_s: float, seed: int) -> nn.Module:
        """The pre-trained MHP (shared; do not train it in place)."""
        seed = seed if self.fit_seed is None else self.fit_seed
        key = (id(train), seed)
        if key not in self._mhp:
            seed_everything(seed)
            extra = {}
            if self.mhp_sizes:  # candidate sizes of the shared recipe ("16-8-1,32-16-2")
                from m3tr.core.temporal.recipe import MHPRecipe, parse_sizes

                extra["recipe"] = MHPRecipe(seed=seed, sizes=parse_sizes(self.mhp_sizes))
            self._mhp = {key: pretrain_mhp(train.event_t, train.event_k, num_types,
                                           obs_window_s, seed, **extra)}  # fmt: skip
            self._vectors = {}
        return self._mhp[key]

    def __call__(
        self, num_types: int, d_model: int, obs_window_s: float, train: TaskData, seed: int = 0
    ) -> nn.Module:
        mhp = copy.deepcopy(self.mhp(train, num_types, obs_window_s, seed))
        seed_everything(seed)
        return MHPTemporalEncoder(mhp, d_model, obs_window_s)

    def vectors(self, data: TaskData, train: TaskData, seed: int, length: int) -> np.ndarray:
        """(N, d_s) trajectory vectors of ``data`` under the MHP of (``train``, ``seed``)."""
        # the split's parts live for the whole evaluation: their ids are stable keys
        key = (id(train), id(data), seed if self.fit_seed is None else self.fit_seed, length)
        if key not in self._vectors:
            mhp = self.mhp(train, train.spec.num_types, train.spec.obs_window_s, seed)
            self._vectors[key] = signature_vectors(
                mhp, data.event_t, data.event_k, train.spec.obs_window_s, length, seed=seed
            )
        return self._vectors[key]


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


class M3TRMethod:
    """One variant of the fusion model, trained per seed."""

    seeded = True

    def __init__(
        self,
        variant: M3TRVariant,
        base: FusionConfig,
        train_cfg: TrainConfig,
        temporal_factory: TemporalFactory | None = mhp_encoder,
        trajectory_vectors: TrajectoryVectors | None = None,
        stack_with: StrongFitter | None = None,
    ) -> None:
        self.variant = variant
        self.name = variant.name
        self.base = base
        self.train_cfg = train_cfg
        self.temporal_factory = temporal_factory
        self.trajectory_vectors = trajectory_vectors or profile_trajectory_vectors
        self.stack_with = stack_with
        self.last_model: M3TRFusion | None = None
        self.neighbour_scores: dict[str, float] | None = None

    def config(self, train: TaskData) -> FusionConfig:
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
        self, split: EvalSplit, cfg: FusionConfig, trajectory: TrajectoryVectors | None = None
    ) -> tuple[NeighbourIndex | None, NeighbourIndex | None, NeighbourIndex | None]:
        """Neighbour indices for train (self excluded), val and test (training bank only)."""
        if cfg.top_s == 0:
            return None, None, None
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
        self.neighbour_scores = (
            None if t_te is None or t_tr is None else temporal_score_spread(t_te, t_tr, n_te)
        )
        return n_tr, n_va, n_te

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

    def run(self, split: EvalSplit, seed: int) -> MethodOutput:
        cfg = self.config(split.train)
        seed_everything(seed)
        temporal = None
        traj = self.trajectory_vectors
        if cfg.temporal == "mhp" and self.temporal_factory is not None:
            temporal = self.temporal_factory(
                cfg.num_types, cfg.d_model, cfg.obs_window_s, split.train, seed
            )
            if isinstance(temporal, MHPTemporalEncoder):
                mhp = temporal.mhp

                traj = self._mhp_trajectory(mhp, cfg.obs_window_s, seed)

        seed_everything(seed)
        model = M3TRFusion(cfg, temporal)
        n_tr, n_va, n_te = self.neighbours(split, cfg, traj)
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
        self.last_model = model
        logger.info(
            "%s seed %d: best epoch %d, val L_pred %.4f, %.1f s",
            self.name,
            seed,
            result.best_epoch,
            result.best_val_loss,
            result.seconds,
        )
        val_pred, test_pred = predict(model, ds_va), predict(model, ds_te)
        stack_info: dict[str, object] = {}
        if self.stack_with is not None:
            fit = self.stack_with.fit(split)
            val_pred, test_pred, stack_info = stack(
                split.val.y_log(),
                (val_pred, test_pred),
                [(fit.gbdt_val, fit.gbdt_test), (fit.ridge_val, fit.ridge_test)],
                observed_floor(split.val),
                observed_floor(split.test),
            )
        return MethodOutput(
            val_pred,
            test_pred,
            info={
                "temporal": cfg.temporal,
                "retrieval": self.variant.retrieval if cfg.top_s else "none",
                "retrieval_mode": None if n_te is None else n_te.mode,
                "trajectory_vector": (
                    None
                    if n_te is None or n_te.mode != "temporal_aware"
                    else (
                        f"{self.variant.trajectory} (L={self.variant.signature_length})"
                        if cfg.temporal == "mhp"
                        else "count profile"
                    )
                ),
                "best_epoch": result.best_epoch,
                "train_seconds": round(result.seconds, 2),
                "test_neighbour_temporal_scores": self.neighbour_scores if n_te else None,
                **stack_info,
            },
        )
