"""With an active MHP model version: signatures X^s, MHP forecasts, cold starts flagged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import select

from m3tr.core.db.models import Job, ModelVersion, Prediction
from m3tr.core.db.session import transaction
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.jobs import JobView
from m3tr.core.pipeline.mhp_bridge import SIGNATURE_LENGTH
from m3tr.core.pipeline.plan import plan_steps, run_step
from m3tr.core.pipeline.predict import predict
from m3tr.core.pipeline.signatures import load_temporal
from m3tr.core.pipeline.submit import register_ingest
from m3tr.core.retrieval.bank import live_bank
from m3tr.core.temporal import MHP, MHPConfig, save_mhp
from tests.unit.pipeline.conftest import OBS_S, VOCAB, make_clip, make_log


def _ingest(ctx: PipelineContext, clip: Path, log: Path | None) -> int:
    with transaction(ctx.session_factory) as s:
        reg = register_ingest(s, clip, events_path=log)
        view = JobView.of(s.get(Job, reg.job_id))
    for step in plan_steps(view.kind, view.params):
        run_step(ctx, view, step)
    return reg.video_id


@pytest.fixture
def mhp_ctx(ctx: PipelineContext, tmp_path: Path) -> PipelineContext:
    torch.manual_seed(0)
    cfg = MHPConfig(n_types=3, type_names=VOCAB, d_model=16, d_state=4, n_layers=1, dt_rank=4)
    folder = tmp_path / "models" / "mhp-test"
    save_mhp(MHP(cfg), folder)
    with transaction(ctx.session_factory) as s:
        s.add(
            ModelVersion(name="mhp-test", kind="mhp", checkpoint_path=str(folder), is_active=True)
        )
    ctx.forecast_samples = 16
    return ctx


def test_active_mhp_signs_forecasts_and_flags_cold_starts(
    mhp_ctx: PipelineContext, tmp_path: Path
) -> None:
    ctx = mhp_ctx
    old = [
        _ingest(ctx, make_clip(tmp_path, f"old{i}", style=i), make_log(tmp_path, f"old{i}", seed=i))
        for i in range(2)
    ]
    new = _ingest(
        ctx, make_clip(tmp_path, "new", style=1), make_log(tmp_path, "new", seed=5, horizon_s=OBS_S)
    )
    cold = _ingest(ctx, make_clip(tmp_path, "cold", style=3), None)

    bank = live_bank(ctx.session_factory)
    assert (
        bank.encoder_profile == ctx.profile().profile_version and bank.model_version_id is not None
    )  # no stand-in
    tv = load_temporal(ctx.feature_dir, f"mhp-{bank.model_version_id}", new)
    assert tv.source == "mhp" and not tv.cold_start
    assert tv.signature.shape == (SIGNATURE_LENGTH, 16)
    # the retrieval vector: whitened by the model version's transform, unit length
    assert abs(float(np.linalg.norm(tv.vector)) - 1.0) < 1e-4
    tv_cold = load_temporal(ctx.feature_dir, f"mhp-{bank.model_version_id}", cold)
    assert tv_cold.cold_start and tv_cold.for_retrieval is None

    with ctx.session_factory() as s:
        preds = {p.video_id: p for p in s.scalars(select(Prediction))}
    p_new = preds[new]
    assert p_new.model_version_id == bank.model_version_id
    assert p_new.trajectory["method"] == "mhp"
    assert p_new.retrieval_mode == "temporal_aware"
    assert {n["video_id"] for n in p_new.neighbours} == set(old)
    for k in VOCAB:
        f = p_new.forecast[k]
        assert f["lo"] <= f["median"] <= f["hi"]
    intensity = p_new.trajectory["intensity"]
    assert np.asarray(intensity["total"]).shape == (len(intensity["t"]), 3)
    np.testing.assert_allclose(
        np.asarray(intensity["hawkes"]) + np.asarray(intensity["correction"]),
        np.asarray(intensity["total"]),
        rtol=1e-5,
        atol=1e-6,
    )
    # one story: the plotted intensity integrates to the plotted median curve's increase
    from m3tr.core.pipeline.predict import intensity_integral

    t_obs = p_new.trajectory["observed_until"]
    med = np.interp([t_obs, intensity["t"][-1]], p_new.trajectory["t"], p_new.trajectory["median"])
    assert abs(intensity_integral(intensity, t_obs) - (med[1] - med[0])) <= 1e-6 + 1e-6 * med[1]
    assert preds[cold].retrieval_mode == "content_only"
    assert "cold start" in preds[cold].trajectory["retrieval_reason"]

    # seeded simulation: predicting again gives the same row and the same numbers
    before = (p_new.id, p_new.forecast, p_new.trajectory["median"])
    assert predict(ctx, new) == p_new.id
    with ctx.session_factory() as s:
        again = s.get(Prediction, p_new.id)
        assert (again.id, again.forecast, again.trajectory["median"]) == before
