"""Checkpoint round trip and the serving Predictor."""

import json

import numpy as np
import pytest
import torch

from m3tr.core.fusion.model import M3TRFusion
from m3tr.core.fusion.predictor import CheckpointError, load_predictor, save_predictor
from m3tr.core.task.intervals import ResidualInterval
from m3tr.core.task.spec import TaskSpec
from tests.unit.fusion.conftest import make_batch


def test_round_trip_gives_identical_forecasts(cfg, tmp_path):
    torch.manual_seed(0)
    model = M3TRFusion(cfg).eval()
    interval = ResidualInterval(np.array([-0.5, -0.4, -0.3]), np.array([0.6, 0.5, 0.4]), 0.8)
    spec = TaskSpec(3600.0, 604800.0, ("repost", "comment"))
    save_predictor(tmp_path / "m", model, spec, interval, {"note": "x"})
    pred = load_predictor(tmp_path / "m")
    batch = make_batch(cfg)
    out = pred.predict(batch)
    with torch.no_grad():
        expected = model(batch).pred.double().numpy()
    assert np.allclose(out.median, expected, atol=1e-6)
    assert (out.lo <= out.median + 1e-9).all() and (out.hi >= out.median - 1e-9).all()
    assert (out.lo >= batch.target.floor.numpy() - 1e-6).all()
    assert out.names == ("repost", "comment", "total")
    assert pred.extra == {"note": "x"}


def test_bad_checkpoints_are_named(cfg, tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        load_predictor(tmp_path)
    model = M3TRFusion(cfg)
    interval = ResidualInterval(np.zeros(3), np.zeros(3), 0.8)
    save_predictor(tmp_path / "m", model, TaskSpec(), interval)
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    meta["format"] = "other"
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="format"):
        load_predictor(tmp_path / "m")


def test_mhp_checkpoint_round_trip(cfg, tmp_path):
    from dataclasses import replace

    from m3tr.core.fusion.mhp_adapter import MHPTemporalEncoder
    from m3tr.core.temporal import MHP, MHPConfig

    torch.manual_seed(0)
    c = replace(cfg, temporal="mhp", event_keep="first")
    enc = MHPTemporalEncoder(
        MHP(MHPConfig(n_types=2, d_model=8, d_state=4, n_layers=1)), 16, 3600.0
    )
    model = M3TRFusion(c, enc).eval()
    interval = ResidualInterval(np.zeros(3), np.ones(3), 0.8)
    save_predictor(tmp_path / "m", model, TaskSpec(), interval)
    pred = load_predictor(tmp_path / "m")
    batch = make_batch(c)
    with torch.no_grad():
        expected = model(batch).pred.double().numpy()
    assert np.allclose(pred.predict(batch).median, expected, atol=1e-6)
