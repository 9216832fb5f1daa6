"""The fusion model's training path makes every tensor on the model's device (``M3TR_DEVICE=cuda``
in ``m3tr train`` and ``m3tr evaluate``), checked on this CPU machine two ways:

- forward and backward of the fusion model with the MHP encoder (training mode, so L_mhp too),
  the model and the batch on ``meta``: any tensor made on the CPU by mistake meets a meta
  tensor and raises;
- the whole recipe (MHP pre-training, trajectory vectors, neighbours, training, scoring) on a
  tiny synthetic split under a mode that fails on any tensor made without an explicit device
  (``.item()`` and numpy, which ``meta`` cannot give, are needed there).
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest
import torch

from m3tr.core.fusion.batch import FusionBatch, VideoTensors
from m3tr.core.fusion.config import FusionConfig
from m3tr.core.fusion.mhp_adapter import MHPTemporalEncoder
from m3tr.core.fusion.model import M3TRFusion
from m3tr.core.temporal import MHP, MHPConfig
from m3tr.core.training.data import DataSplit
from m3tr.core.training.features import count_profile
from m3tr.core.training.fusion_recipe import VARIANTS, FusionRecipe
from m3tr.core.training.shared_mhp import SharedMHP
from m3tr.core.training.trainer import FusionTrainConfig
from tests.unit.device_check import FactoriesNeedADevice
from tests.unit.fusion.conftest import make_batch


def _on(batch: FusionBatch, device: str) -> FusionBatch:
    def move(x):
        return x.to(device) if isinstance(x, torch.Tensor | VideoTensors) else x

    return FusionBatch(**{f.name: move(getattr(batch, f.name)) for f in fields(batch)})


@pytest.mark.parametrize("temporal", ["mhp", "padmask", "none"])
def test_fusion_forward_and_backward_stay_on_the_model_device(temporal):
    cfg = FusionConfig(
        num_types=2, d_model=16, d_text=12, d_av=6, d_side=4, d_profile=9, top_s=3,
        max_events=7, temporal=temporal, event_keep="first" if temporal == "mhp" else "last",
    )  # fmt: skip
    encoder = None
    if temporal == "mhp":
        mhp = MHP(MHPConfig(n_types=2, d_model=8, d_state=4, n_layers=2, dt_rank=2))
        encoder = MHPTemporalEncoder(mhp, cfg.d_model, cfg.obs_window_s)
    torch.manual_seed(0)
    model = M3TRFusion(cfg, encoder).to("meta").train()
    out = model(_on(make_batch(cfg, b=4), "meta"))
    assert out.pred.device.type == "meta" and out.pred.shape == (4, cfg.num_outputs)
    assert (out.nll is not None) == (temporal == "mhp")
    loss = out.pred.mean() + (out.nll.mean() if out.nll is not None else 0.0)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(g.device.type == "meta" for g in grads)


def test_the_fusion_recipe_makes_no_tensor_without_a_device():
    from tests.unit.training.conftest import synthetic_task

    task = synthetic_task(n=48)
    split = DataSplit(
        task.subset(np.arange(0, 32)),
        task.subset(np.arange(32, 40)),
        task.subset(np.arange(40, 48)),
    )
    assert task.content is not None
    base = FusionConfig(
        num_types=2, d_model=8, d_text=task.content.text.shape[2], d_av=task.content.av.shape[2],
        d_side=task.side.shape[1], d_profile=count_profile([], [], 2, 3600.0).shape[1], top_s=3,
        max_events=16,
    )  # fmt: skip
    variant = replace(VARIANTS["m3tr"], signature_length=8)
    recipe = FusionRecipe(
        variant,
        base,
        FusionTrainConfig(max_epochs=2, batch_size=16),
        SharedMHP(0, "8-4-2", device="cpu"),
        device="cpu",
    )
    with FactoriesNeedADevice():
        fit = recipe.fit(split, seed=0)
    assert fit.record["temporal"] == "mhp" and fit.record["retrieval_mode"] == "temporal_aware"
    assert fit.test_pred.shape == (8, 3) and np.isfinite(fit.test_pred).all()
    assert all(p.device.type == "cpu" for p in fit.model.parameters())
