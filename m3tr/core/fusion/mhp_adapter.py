"""The Mamba-Hawkes Process of ``m3tr.core.temporal`` as the fusion model's temporal encoder.

Tokens X^s are the MHP's history states h(t_i) after each observed event (projected to the
fusion width), so gradients of L_pred reach the MHP; while training, the encoder also returns
the per-event point-process NLL of the observed window for ``L = L_pred + gamma * L_mhp``.
Events are the first L of the window (``FusionConfig.event_keep = "first"``); a sequence
that fills all L slots is treated as cut there (its window ends at its last kept event).

``pretrain_mhp`` fits the MHP alone first by the shared recipe (``temporal.recipe``: whole
windows, early stopping, size on validation) and ``signature_vectors`` gives the retrieval
vectors: trajectory signatures over the whole window, centred and whitened by the transform
fitted on the training windows (``temporal.trajectory``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from m3tr.core.fusion.temporal_encoders import TemporalEncoding

if TYPE_CHECKING:
    from m3tr.core.temporal.recipe import MHPRecipe

logger = logging.getLogger(__name__)


def padded_to_event_batch(
    times: torch.Tensor,
    types: torch.Tensor,
    mask: torch.Tensor,
    n_types: int,
    time_unit_s: float,
    obs_window_s: float,
):  # -> m3tr.core.temporal.EventBatch
    """(B, L) first-L padded events in seconds -> the temporal core's EventBatch (BOS slot 0)."""
    from m3tr.core.temporal import EventBatch

    b, L = times.shape
    dev = times.device
    lengths = mask.sum(dim=1)  # (B,)
    t = torch.where(mask, times, torch.zeros_like(times)) / time_unit_s  # (B, L)
    last = t.gather(1, (lengths - 1).clamp(min=0)[:, None]).squeeze(1)  # (B,)
    # padding repeats the last valid time
    pos = torch.arange(L, device=dev)[None, :]  # (1, L)
    t = torch.where(pos < lengths[:, None], t, last[:, None])
    t = torch.cat([torch.zeros(b, 1, dtype=t.dtype, device=dev), t], dim=1)  # (B, L + 1)
    ty = torch.where(mask, types, torch.full_like(types, n_types))
    bos = torch.full((b, 1), n_types, dtype=torch.long, device=dev)  # (B, 1)
    ty = torch.cat([bos, ty], dim=1)  # (B, L + 1)
    m = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=dev), mask], dim=1)  # (B, L + 1)
    dt = torch.diff(t, dim=1, prepend=torch.zeros(b, 1, dtype=t.dtype, device=dev)) * m
    t_end = torch.where(
        lengths < L, torch.full_like(last, obs_window_s / time_unit_s), torch.maximum(last, last)
    )
    return EventBatch(
        times=t.float(),
        types=ty,
        mask=m,
        dt=dt.float(),
        lengths=lengths.long(),
        t_end=t_end.float(),
        n_types=n_types,
        time_unit_s=time_unit_s,
    )


class MHPTemporalEncoder(nn.Module):
    """``TemporalEncoder`` over an ``m3tr.core.temporal.MHP`` module."""

    def __init__(self, mhp: nn.Module, d_model: int, obs_window_s: float, n_mc: int = 2) -> None:
        super().__init__()
        self.mhp = mhp
        self.obs_window_s = obs_window_s
        self.n_mc = n_mc
        d_mhp = int(mhp.config.d_model)
        self.proj = nn.Sequential(nn.Linear(d_mhp, d_model), nn.LayerNorm(d_model))

    def forward(
        self, times: torch.Tensor, types: torch.Tensor, mask: torch.Tensor
    ) -> TemporalEncoding:
        """times (B, L) seconds, types (B, L), mask (B, L) -> tokens (B, L, d), NLL (B,)."""
        cfg = self.mhp.config
        batch = padded_to_event_batch(
            times, types, mask, cfg.n_types, cfg.time_unit_s, self.obs_window_s
        )
        hist = self.mhp.encode(batch)
        tokens = self.proj(hist.outputs[:, 1:]) * mask[..., None]  # (B, L, d)
        nll = None
        if self.training and torch.is_grad_enabled():
            ll = self.mhp.loglik(batch, n_mc=self.n_mc)
            nll = -ll.loglik / ll.n_events.clamp(min=1.0)  # (B,) per event
        return TemporalEncoding(tokens, mask, nll)


def sequences_of(event_t: Sequence[np.ndarray], event_k: Sequence[np.ndarray], t_end: float):
    """TaskData events -> temporal-core EventSequences observed on [0, t_end]."""
    from m3tr.core.temporal import EventSequence

    return [
        EventSequence(np.asarray(t), np.asarray(k), t_end_s=t_end, key=i)
        for i, (t, k) in enumerate(zip(event_t, event_k, strict=True))
    ]


def pretrain_mhp(
    event_t: Sequence[np.ndarray],
    event_k: Sequence[np.ndarray],
    num_types: int,
    obs_window_s: float,
    seed: int,
    recipe: MHPRecipe | None = None,
    val: tuple[Sequence[np.ndarray], Sequence[np.ndarray]] | None = None,
    device: torch.device | str = "cpu",
) -> nn.Module:
    """Fit the MHP by the shared recipe (``m3tr.core.temporal.recipe``: whole windows, early
    stopping and model size on validation, trajectory transform) on the observed windows, on
    ``device`` (the returned model stays there).

    ``val``: (event_t, event_k) of validation windows (default: a seeded share of the train
    windows). Sharing one fit between the evaluation's variants is the caller's job
    (``training.shared_mhp.SharedMHP``).
    """
    from m3tr.core.temporal import EventVocab
    from m3tr.core.temporal.recipe import MHPRecipe, train_mhp

    recipe = recipe or MHPRecipe(seed=seed)
    vocab = EventVocab(tuple(str(k) for k in range(num_types)))
    seqs = sequences_of(event_t, event_k, obs_window_s)
    val_seqs = None if val is None else sequences_of(val[0], val[1], obs_window_s)
    result = train_mhp(seqs, vocab, recipe, val=val_seqs, device=device, t_obs_s=obs_window_s)
    logger.info(
        "MHP trained on %d windows: size %s, validation nll/event %.4f, %d epoch(s), %d cut",
        result.n_train, result.record()["size"], result.val_nll_per_event, result.epochs,
        result.truncated,
    )  # fmt: skip
    return result.model


def signature_vectors(
    mhp: nn.Module,
    event_t: Sequence[np.ndarray],
    event_k: Sequence[np.ndarray],
    obs_window_s: float,
    length: int = 32,
    seed: int = 0,
    batch_size: int = 256,
) -> np.ndarray:
    """(N, d_s) trajectory vectors over each whole window, through the MHP's trajectory
    transform (centred, whitened, L2-normalised): ``m3tr.core.temporal.trajectory``.
    ``seed`` and ``batch_size`` are kept for callers; the vectors are deterministic."""
    from m3tr.core.temporal.trajectory import trajectory_vectors

    seqs = sequences_of(event_t, event_k, obs_window_s)
    vectors, _ = trajectory_vectors(mhp, seqs, obs_window_s, length)
    return vectors.astype(np.float32)  # (N, d_s)
