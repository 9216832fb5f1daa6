"""Training the MHP (and its GRU variant) by maximum likelihood with Adam, in mini-batches."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from m3tr_core.temporal.batch import EventBatch, EventSequence, make_batch
from m3tr_core.temporal.config import TrainConfig
from m3tr_core.temporal.mhp import MHP

log = logging.getLogger(__name__)

Progress = Callable[[int, int, float], None]  # (step, total_steps, loss)


@dataclass
class FitReport:
    """Losses (NLL per event) after every step, and the number of steps."""

    losses: list[float] = field(default_factory=list)
    steps: int = 0

    @property
    def final_loss(self) -> float:
        tail = self.losses[-10:]
        return float(np.mean(tail)) if tail else float("nan")


def _length_sorted_batches(
    sequences: Sequence[EventSequence], batch_size: int, rng: np.random.Generator
) -> list[list[int]]:
    """Batches of similar lengths (less padding), in random order."""
    order = np.argsort([len(s) for s in sequences], kind="stable")
    batches = [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def fit_mhp(
    model: MHP,
    sequences: Sequence[EventSequence],
    train: TrainConfig,
    progress: Progress | None = None,
) -> FitReport:
    """Fit ``model`` to ``sequences``; the loss is the NLL per event (MC compensator)."""
    if not sequences:
        raise ValueError("fit_mhp: no sequences to train on")
    cfg = model.config
    rng = np.random.default_rng(train.seed)
    gen = torch.Generator().manual_seed(train.seed)
    torch.manual_seed(train.seed)
    opt = torch.optim.Adam(model.parameters(), lr=train.lr)
    batches = [
        make_batch([sequences[i] for i in idx], cfg.n_types, cfg.time_unit_s, train.max_len)
        for idx in _length_sorted_batches(sequences, train.batch_size, rng)
    ]
    total = train.epochs * len(batches)
    report = FitReport()
    if train.warm_start:
        warm_start_from_hawkes(model, batches)
    model.train()
    for epoch in range(train.epochs):
        for j in rng.permutation(len(batches)):
            batch = batches[j]
            loss = model.loglik(batch, n_mc=train.n_mc, generator=gen).nll_per_event()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"fit_mhp: non-finite loss at step {report.steps}")
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), train.clip)
            opt.step()
            report.steps += 1
            report.losses.append(float(loss.detach()))
            if progress is not None:
                progress(report.steps, total, report.losses[-1])
        log.info("epoch %d: nll/event %.4f", epoch + 1, report.final_loss)
    model.eval()
    return report


def warm_start_from_hawkes(model: MHP, batches: Sequence[EventBatch]) -> None:
    """Fit a classical Hawkes on ``batches`` and copy mu, alpha, delta into ``model``."""
    from m3tr_core.temporal.baselines import ClassicalHawkes

    cfg = model.config
    classical = ClassicalHawkes(cfg.n_types)
    classical.fit_batch(concat_batches(batches))
    src, dst = classical.hawkes, model.hawkes
    with torch.no_grad():
        dst.mu_raw.copy_(_inv_softplus(src.mu))
        dst.alpha_raw.copy_(src.alpha)
        dst.decay_raw.copy_(src.decay_raw)
    log.info("warm start from classical Hawkes: mu=%s", src.mu.detach().numpy().round(4))


def _inv_softplus(x: torch.Tensor) -> torch.Tensor:
    x = x.clamp(min=1e-6)
    return x + torch.log(-torch.expm1(-x))


def concat_batches(batches: Sequence[EventBatch]) -> EventBatch:
    """One batch holding every row of ``batches`` (padded to the widest)."""
    width = max(b.times.shape[1] for b in batches)

    def pad(x: torch.Tensor, value: float | int | bool) -> torch.Tensor:
        extra = width - x.shape[1]
        if extra == 0:
            return x
        fill = (
            x[:, -1:].expand(-1, extra) if value is None else x.new_full((x.shape[0], extra), value)
        )
        return torch.cat([x, fill], 1)

    first = batches[0]
    return EventBatch(
        torch.cat([pad(b.times, None) for b in batches]),
        torch.cat([pad(b.types, first.n_types) for b in batches]),
        torch.cat([pad(b.mask, False) for b in batches]),
        torch.cat([pad(b.dt, 0.0) for b in batches]),
        torch.cat([b.lengths for b in batches]),
        torch.cat([b.t_end for b in batches]),
        first.n_types,
        first.time_unit_s,
        [k for b in batches for k in b.keys],
    )
