"""The one MHP training recipe: whole observation windows, early stopping on validation NLL,
model size chosen on validation. ``m3tr temporal fit``, the pipeline's ``train`` job, the demo
and ``m3tr evaluate`` all train their MHP here, and record :meth:`RecipeResult.record` with
the model version.

- Windows: every event in ``[0, T_obs]`` up to ``max_events`` (>= 512); a longer window is cut
  at its ``max_events``-th event (its window then ends at the first dropped event) and counted
  in ``truncated``.
- Validation: a seeded ``val_fraction`` of the sequences (or the ``val`` given), scored by the
  NLL per event with a fixed 8-point stratified compensator (same draws every epoch).
- Correction bound: ``f_max`` starts at the data's typical rate (:func:`correction_bound`).
- Model size: each of ``sizes`` is trained with early stopping (``patience`` epochs without a
  better validation NLL; the best epoch's weights are kept); the size with the lowest
  validation NLL wins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from m3tr.core.temporal.batch import EventSequence, EventVocab
from m3tr.core.temporal.config import MHPConfig, TrainConfig
from m3tr.core.temporal.mhp import MHP
from m3tr.core.temporal.training import fit_mhp
from m3tr.core.temporal.trajectory import fit_trajectory_transform

log = logging.getLogger(__name__)

Progress = Callable[[float], None]  # fraction of the recipe done, 0..1


@dataclass(frozen=True)
class ModelSize:
    """The MHP's size: width, SSM state and layers."""

    d_model: int
    d_state: int
    n_layers: int


DEFAULT_SIZES: tuple[ModelSize, ...] = (ModelSize(16, 8, 1), ModelSize(32, 16, 2))


@dataclass
class MHPRecipe:
    """How the MHP is trained everywhere (see the module docstring).

    Attributes:
        max_events: events kept per window (>= 512 by default; the cap is counted).
        max_epochs / patience: early stopping on the validation NLL per event.
        sizes: candidate model sizes, chosen on validation.
        val_fraction: share of sequences held out for validation when no ``val`` is given.
    """

    max_events: int = 512
    max_epochs: int = 12
    patience: int = 2
    batch_size: int = 32
    lr: float = 5e-3
    n_mc: int = 2
    sizes: tuple[ModelSize, ...] = DEFAULT_SIZES
    val_fraction: float = 0.15
    seed: int = 0
    time_unit_s: float = 3600.0
    context: str = "mamba"  # "gru": the neural-Hawkes baseline by the same recipe
    f_max_from_data: bool = True

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sizes"] = [asdict(s) for s in self.sizes]
        return d


def parse_sizes(text: str) -> tuple[ModelSize, ...]:
    """``"16-8-1,32-16-2"`` (d_model-d_state-layers, comma-separated) -> sizes."""
    try:
        sizes = tuple(ModelSize(*(int(x) for x in part.split("-"))) for part in text.split(","))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"model sizes {text!r}: expected d_model-d_state-layers[,...], e.g. 16-8-1,32-16-2"
        ) from exc
    if not sizes or any(min(s.d_model, s.d_state, s.n_layers) < 1 for s in sizes):
        raise ValueError(f"model sizes {text!r}: every number must be >= 1")
    return sizes


def recipe_from_params(params: dict) -> MHPRecipe:
    """An :class:`MHPRecipe` from job or CLI parameters: ``max_epochs`` (or ``epochs``),
    ``patience``, ``batch_size``, ``lr``, ``max_events`` (or ``max_len``), ``seed``,
    ``sizes`` ("16-8-1,32-16-2") or one size by ``d_model``/``d_state``/``n_layers``."""
    base = MHPRecipe()
    p = dict(params)
    if "sizes" in p and p["sizes"]:
        sizes = parse_sizes(str(p["sizes"]))
    elif any(k in p for k in ("d_model", "d_state", "n_layers")):
        sizes = (
            ModelSize(
                int(p.get("d_model", 16)), int(p.get("d_state", 8)), int(p.get("n_layers", 1))
            ),
        )
    else:
        sizes = base.sizes
    return MHPRecipe(
        max_events=int(p.get("max_events", p.get("max_len", base.max_events))),
        max_epochs=int(p.get("max_epochs", p.get("epochs", base.max_epochs))),
        patience=int(p.get("patience", base.patience)),
        batch_size=int(p.get("batch_size", base.batch_size)),
        lr=float(p.get("lr", base.lr)),
        sizes=sizes,
        seed=int(p.get("seed", base.seed)),
    )


@dataclass
class RecipeResult:
    """The chosen MHP and what the recipe saw."""

    model: MHP
    size: ModelSize
    val_nll_per_event: float
    epochs: int
    n_train: int
    n_val: int
    truncated: int
    trials: list[dict] = field(default_factory=list)
    recipe: MHPRecipe = field(default_factory=MHPRecipe)

    def record(self) -> dict:
        """What a model version stores (config/metrics JSON)."""
        return {
            "recipe": self.recipe.to_dict(),
            "size": asdict(self.size),
            "val_nll_per_event": self.val_nll_per_event,
            "epochs": self.epochs,
            "n_train": self.n_train,
            "n_val": self.n_val,
            "truncated_windows": self.truncated,
            "trials": self.trials,
        }


def split_validation(
    sequences: Sequence[EventSequence], fraction: float, seed: int
) -> tuple[list[EventSequence], list[EventSequence]]:
    """A seeded (train, val) split; val gets ``fraction`` of the sequences (at least 1 when
    there are 2 or more)."""
    n = len(sequences)
    n_val = min(n - 1, max(1, round(n * fraction))) if n >= 2 else 0
    order = np.random.default_rng(seed).permutation(n)
    val = {int(i) for i in order[:n_val]}
    return (
        [s for i, s in enumerate(sequences) if i not in val],
        [s for i, s in enumerate(sequences) if i in val],
    )


def correction_bound(sequences: Sequence[EventSequence], recipe: MHPRecipe) -> float:
    """Initial bound of the correction ``|f_k|`` on the scale of the data: the median event
    rate per type (events per time unit), at least 2. With the softplus link, intensities of
    hundreds per unit are in its linear range, where a correction bounded by 2 could only
    move them by 2; started at the typical rate it can raise or halve a busy video's rate."""
    unit = recipe.time_unit_s
    rates = [
        len(s) / max(float(s.t_end_s or 0.0) / unit, 1e-9) for s in sequences if s.t_end_s
    ]
    return float(max(2.0, np.median(rates) / 2.0)) if rates else 2.0


def train_mhp(
    sequences: Sequence[EventSequence],
    vocab: EventVocab,
    recipe: MHPRecipe | None = None,
    val: Sequence[EventSequence] | None = None,
    progress: Progress | None = None,
    device: torch.device | str = "cpu",
    t_obs_s: float | None = None,
    fit_transform: bool = True,
) -> RecipeResult:
    """Train the MHP by :class:`MHPRecipe` on ``sequences`` (windows already cut to T_obs),
    then fit its trajectory transform on the training windows (``t_obs_s``: the window end,
    default the longest ``t_end_s`` of the sequences)."""
    recipe = recipe or MHPRecipe()
    if not sequences:
        raise ValueError("train_mhp: no sequences to train on")
    if val is None:
        train_seqs, val_seqs = split_validation(sequences, recipe.val_fraction, recipe.seed)
    else:
        train_seqs, val_seqs = list(sequences), list(val)
    truncated = sum(len(s) > recipe.max_events for s in [*train_seqs, *val_seqs])
    if truncated:
        log.info("%d window(s) longer than %d events were cut", truncated, recipe.max_events)
    train_cfg = TrainConfig(
        epochs=recipe.max_epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        max_len=recipe.max_events,
        n_mc=recipe.n_mc,
        seed=recipe.seed,
        patience=recipe.patience,
    )
    best: tuple[float, ModelSize, MHP, int] | None = None
    warm: torch.nn.Module | None = None
    f_max = correction_bound(train_seqs, recipe) if recipe.f_max_from_data else 2.0
    trials: list[dict] = []
    n_sizes = len(recipe.sizes)
    for i, size in enumerate(recipe.sizes):
        torch.manual_seed(recipe.seed)
        cfg = MHPConfig(
            n_types=vocab.n_types,
            type_names=vocab.types,
            time_unit_s=recipe.time_unit_s,
            d_model=size.d_model,
            d_state=size.d_state,
            n_layers=size.n_layers,
            dt_rank=max(1, size.d_model // 4),
            context=recipe.context,
            f_max_init=f_max,
        )
        model = MHP(cfg).to(device)

        def step(done: int, total: int, _loss: float, i: int = i) -> None:
            if progress is not None:
                progress((i + done / max(total, 1)) / n_sizes)

        report = fit_mhp(model, train_seqs, train_cfg, step, val=val_seqs or None, classical=warm)
        warm = report.classical  # one classical fit warm-starts every size
        score = report.best_val if val_seqs else report.final_loss
        trials.append(
            {**asdict(size), "val_nll_per_event": score, "epochs": report.epochs,
             "best_epoch": report.best_epoch, "val_by_epoch": report.val_losses}
        )  # fmt: skip
        log.info("MHP %s: val nll/event %.4f after %d epoch(s)", asdict(size), score, report.epochs)
        if best is None or score < best[0]:
            best = (score, size, model, report.epochs)
    assert best is not None
    score, size, model, epochs = best
    t_obs = t_obs_s if t_obs_s is not None else max(float(q.t_end_s or 0.0) for q in sequences)
    if fit_transform and t_obs > 0 and len(train_seqs) >= 2:
        fit_trajectory_transform(model, train_seqs, t_obs)
    return RecipeResult(
        model.eval(), size, score, epochs, len(train_seqs), len(val_seqs), truncated, trials,
        recipe,
    )  # fmt: skip
