"""Held-out likelihood of the MHP beside its classical and neural baselines on the same windows.

``heldout_comparison`` scores, on the held-out windows, NLL per event (lower is better):
``mhp`` (given, trained by the recipe), ``neural_hawkes`` (the same recipe with a GRU context
instead of the Mamba, one size), ``classical_hawkes`` (maximum likelihood, L-BFGS, on the
training windows) and ``poisson`` (homogeneous, per type). Every window is cut at the recipe's
``max_events`` exactly as in training.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace

import torch

from m3tr.core.temporal.baselines import ClassicalHawkes, HomogeneousPoisson
from m3tr.core.temporal.batch import EventSequence, EventVocab, make_batch
from m3tr.core.temporal.mhp import MHP
from m3tr.core.temporal.recipe import MHPRecipe, ModelSize, train_mhp
from m3tr.core.temporal.training import heldout_nll

log = logging.getLogger(__name__)


def heldout_comparison(
    mhp: MHP,
    train: Sequence[EventSequence],
    val: Sequence[EventSequence],
    test: Sequence[EventSequence],
    recipe: MHPRecipe | None = None,
    neural: bool = True,
) -> dict[str, float]:
    """NLL per event on ``test`` for mhp / neural_hawkes / classical_hawkes / poisson, plus
    the seconds it took (``seconds``)."""
    t0 = time.perf_counter()
    recipe = recipe or MHPRecipe()
    cfg = mhp.config
    unit, k, cap = cfg.time_unit_s, cfg.n_types, recipe.max_events
    fit_rows = make_batch(list(train), k, unit, cap)
    out = {"mhp": heldout_nll(mhp, test, unit, cap)}
    classical = ClassicalHawkes(k)
    classical.fit_batch(fit_rows)
    out["classical_hawkes"] = heldout_nll(classical, test, unit, cap)
    poisson = HomogeneousPoisson(k)
    poisson.fit_batch(fit_rows)
    out["poisson"] = heldout_nll(poisson, test, unit, cap)
    if neural:
        vocab = EventVocab(tuple(cfg.type_names) or tuple(str(i) for i in range(k)))
        gru = replace(recipe, sizes=(ModelSize(cfg.d_model, cfg.d_state, 1),), context="gru")
        device = next(mhp.parameters()).device  # trained beside the MHP
        with torch.random.fork_rng():
            result = train_mhp(train, vocab, gru, val=val, device=device, fit_transform=False)
        out["neural_hawkes"] = heldout_nll(result.model, test, unit, cap)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    log.info("held-out nll/event: %s", {n: round(v, 4) for n, v in out.items()})
    return out
