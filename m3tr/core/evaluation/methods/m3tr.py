"""The M3TR fusion model and its ablations as evaluation methods: a thin adapter over the
training recipe (:class:`~m3tr.core.training.fusion_recipe.FusionRecipe`, where the variants
are described), plus stacking.

Stacking (``stack_with``): every variant's forecast is combined with its companions' forecasts
on the validation split (``stacking.stack``: the model alone, the companions alone or a ridge
stack, whichever has the lowest leave-one-out error there), so each variant is judged on what it
adds beyond simple models of the inputs it sees (the strong early-event features, the sparse
text ridge; ``no_temporal`` only the text ridge).

Reproducibility: each run seeds torch, numpy and ``random`` with its seed before every random
step (``training.shared_mhp.seed_everything``), so a method's numbers do not depend on which
methods ran before it in the process.
"""

from __future__ import annotations

import torch

from m3tr.core.evaluation.methods.base import MethodOutput, observed_floor
from m3tr.core.evaluation.methods.stacking import Companion, stack
from m3tr.core.fusion.config import FusionConfig
from m3tr.core.training.data import DataSplit, TaskData
from m3tr.core.training.fusion_recipe import FusionRecipe, M3TRVariant, TrajectoryVectors
from m3tr.core.training.neighbours import NeighbourIndex
from m3tr.core.training.shared_mhp import TemporalFactory, mhp_encoder
from m3tr.core.training.trainer import FusionTrainConfig


class M3TRMethod:
    """One variant of the fusion model, trained per seed by the recipe, optionally stacked."""

    seeded = True

    def __init__(
        self,
        variant: M3TRVariant,
        base: FusionConfig,
        train_cfg: FusionTrainConfig,
        temporal_factory: TemporalFactory | None = mhp_encoder,
        trajectory_vectors: TrajectoryVectors | None = None,
        stack_with: tuple[Companion, ...] = (),
        device: torch.device | str = "cpu",
    ) -> None:
        self.variant = variant
        self.name = variant.name
        self.recipe = FusionRecipe(
            variant, base, train_cfg, temporal_factory, trajectory_vectors, device
        )
        self.stack_with = stack_with

    @property
    def temporal_factory(self) -> TemporalFactory | None:
        """The point-process encoder factory of the recipe (None: pad-and-mask instead)."""
        return self.recipe.temporal_factory

    def config(self, train: TaskData) -> FusionConfig:
        return self.recipe.config(train)

    def neighbours(
        self, split: DataSplit, cfg: FusionConfig
    ) -> tuple[NeighbourIndex | None, NeighbourIndex | None, NeighbourIndex | None]:
        """Neighbour indices for train (self excluded), val and test (training bank only)."""
        return self.recipe.neighbours(split, cfg)

    def run(self, split: DataSplit, seed: int) -> MethodOutput:
        fit = self.recipe.fit(split, seed)
        val_pred, test_pred = fit.val_pred, fit.test_pred
        stack_info: dict[str, object] = {}
        if self.stack_with:
            pairs = [p for c in self.stack_with for p in c.fit(split).pairs()]
            val_pred, test_pred, stack_info = stack(
                split.val.y_log(),
                (val_pred, test_pred),
                pairs,
                observed_floor(split.val),
                observed_floor(split.test),
            )
        return MethodOutput(val_pred, test_pred, info={**fit.record, **stack_info})
