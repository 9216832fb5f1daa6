"""Training the MHP (and its GRU variant) by maximum likelihood with Adam, in mini-batches."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from m3tr.core.temporal.batch import EventBatch, EventSequence, make_batch
from m3tr.core.temporal.config import TrainConfig
from m3tr.core.temporal.mhp import MHP

log = logging.getLogger(__name__)

Progress = Callable[[int, int, float], None]  # (step, total_steps, loss)


@dataclass
class FitReport:
    """Losses (NLL per event) after every step, the number of steps and epochs, and with a
    validation set the validation NLL per event after every epoch (the best epoch's weights
    are the ones kept)."""

    losses: list[float] = field(default_factory=list)
    steps: int = 0
    epochs: int = 0
    val_losses: list[float] = field(default_factory=list)
    best_epoch: int = 0
    classical: torch.nn.Module | None = None  # the warm start's classical Hawkes, if any

    @property
    def best_val(self) -> float:
        return float(min(self.val_losses)) if self.val_losses else float("nan")

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
    val: Sequence[EventSequence] | None = None,
    classical: torch.nn.Module | None = None,
) -> FitReport:
    """Fit ``model`` to ``sequences``; the loss is the NLL per event (MC compensator).

    ``classical``: a fitted classical Hawkes to warm-start from (default: fit one).
    With ``val``: the validation NLL per event is measured (fixed draws) before training (the
    warm start, epoch 0) and after each epoch; training stops after ``train.patience`` epochs
    without improvement and the best epoch's weights are restored (the warm start's, when no
    epoch beats it: the MHP is then the classical Hawkes with a zero correction).
    """
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
        report.classical = warm_start_from_hawkes(model, batches, classical)
    val_batches = (
        None
        if not val
        else [
            make_batch(list(val[i : i + 64]), cfg.n_types, cfg.time_unit_s, train.max_len)
            for i in range(0, len(val), 64)
        ]
    )
    device = next(model.parameters()).device
    batches = [b.to(device) for b in batches]
    best_state: dict | None = None
    if val_batches is not None:  # epoch 0: the warm start itself competes
        report.val_losses.append(_batches_nll(model, val_batches))
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        log.info("epoch 0 (warm start): validation %.4f", report.val_losses[0])
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
        report.epochs = epoch + 1
        if val_batches is None:
            log.info("epoch %d: nll/event %.4f", epoch + 1, report.final_loss)
            continue
        score = _batches_nll(model, val_batches)
        model.train()
        log.info("epoch %d: nll/event %.4f, validation %.4f", epoch + 1, report.final_loss, score)
        if not report.val_losses or score < min(report.val_losses):
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            report.best_epoch = epoch + 1
        report.val_losses.append(score)
        if train.patience is not None and epoch + 1 - report.best_epoch >= train.patience:
            log.info("early stop after epoch %d (best %d)", epoch + 1, report.best_epoch)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return report


@torch.no_grad()
def _batches_nll(model: torch.nn.Module, batches: Sequence[EventBatch]) -> float:
    """NLL per event over ``batches`` (8-point stratified compensator, fixed draws)."""
    model.eval()
    gen = torch.Generator(device=batches[0].times.device).manual_seed(1234)
    nll = events = 0.0
    for batch in batches:
        ll = model.loglik(batch, n_mc=8, generator=gen)
        nll -= float(ll.loglik.sum())
        events += float(ll.n_events.sum())
    return nll / max(events, 1.0)


def heldout_nll(
    model: torch.nn.Module,
    sequences: Sequence[EventSequence],
    time_unit_s: float,
    max_events: int = 512,
) -> float:
    """NLL per event of ``model`` (the MHP or a baseline module with ``loglik``) on held-out
    ``sequences``, windows cut at ``max_events`` as in training."""
    n_types, unit = int(model.n_types), float(time_unit_s)
    device = next(iter(model.parameters()), torch.empty(0)).device
    batches = [
        make_batch(list(sequences[i : i + 64]), n_types, unit, max_events, device=device)
        for i in range(0, len(sequences), 64)
    ]
    return _batches_nll(model, batches) if batches else float("nan")


WARM_START_ROWS = 2048  # sequences the classical warm start is fitted on
WARM_START_ITERS = 100


def warm_start_from_hawkes(
    model: MHP, batches: Sequence[EventBatch], classical: torch.nn.Module | None = None
) -> torch.nn.Module:
    """Copy mu, alpha, delta of a classical Hawkes into ``model``; fit one (L-BFGS, on at most
    WARM_START_ROWS sequences of ``batches``) unless ``classical`` is given. Returns it, so
    several models can start from one fit."""
    from m3tr.core.temporal.baselines import ClassicalHawkes

    if classical is None:
        cfg = model.config
        classical = ClassicalHawkes(cfg.n_types).to(batches[0].times.device)
        rows, picked = 0, []
        for b in batches:
            if rows >= WARM_START_ROWS:
                break
            picked.append(b)
            rows += b.batch_size
        classical.fit_batch(concat_batches(picked), max_iter=WARM_START_ITERS)
    src, dst = classical.hawkes, model.hawkes
    with torch.no_grad():
        dst.mu_raw.copy_(_inv_softplus(src.mu))
        dst.alpha_raw.copy_(src.alpha)
        dst.decay_raw.copy_(src.decay_raw)
    log.info("warm start from classical Hawkes: mu=%s", src.mu.detach().cpu().numpy().round(4))
    return classical


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
