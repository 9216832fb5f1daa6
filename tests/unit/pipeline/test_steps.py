"""The whole ingestion plan, run step by step in-process (lite profile, NumPy vector store)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from m3tr.core.content import ContentPipeline, FeatureStore
from m3tr.core.db.models import BankVersion, Event, Job, Prediction, Video, VideoStatus
from m3tr.core.db.session import transaction
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.jobs import JobView
from m3tr.core.pipeline.plan import plan_steps, run_step
from m3tr.core.pipeline.predict import neighbour_forecast, weighted_quantiles
from m3tr.core.pipeline.submit import register_ingest
from m3tr.core.retrieval.bank import live_bank
from m3tr.core.retrieval.similarity import SEMANTIC, TEMPORAL, Neighbour
from tests.unit.pipeline.conftest import HORIZON_S, OBS_S, make_clip, make_context, make_log


def _ingest(ctx: PipelineContext, clip: Path, log: Path | None, force: bool = False) -> int:
    with transaction(ctx.session_factory) as s:
        reg = register_ingest(s, clip, events_path=log, force=force)
        job = s.get(Job, reg.job_id)
        view = JobView.of(job)
    for step in plan_steps(view.kind, view.params):
        run_step(ctx, view, step)
    return reg.video_id


def _counts(ctx: PipelineContext) -> tuple[int, int, int]:
    with ctx.session_factory() as s:
        return (
            s.scalar(select(func.count()).select_from(Video)),
            s.scalar(select(func.count()).select_from(Event)),
            s.scalar(select(func.count()).select_from(Prediction)),
        )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, lite_pipeline: ContentPipeline):  # noqa: ANN201
    tmp_path = tmp_path_factory.mktemp("steps")
    ctx = make_context(tmp_path, lite_pipeline)
    ids = {}
    for i in range(3):  # matured neighbours: logs run past the horizon
        name = f"old{i}"
        ids[name] = _ingest(
            ctx, make_clip(tmp_path, name, style=i), make_log(tmp_path, name, seed=i)
        )
    target_log = make_log(tmp_path, "new", seed=10, horizon_s=OBS_S)  # only the early window
    ids["new"] = _ingest(ctx, make_clip(tmp_path, "new", style=1), target_log)
    yield ctx, ids, tmp_path
    ctx.close()


@pytest.fixture
def ctx(built) -> PipelineContext:  # noqa: ANN001
    return built[0]


@pytest.fixture
def corpus(built) -> dict[str, int]:  # noqa: ANN001
    return built[1]


@pytest.fixture
def tmp_path(built) -> Path:  # noqa: ANN001
    return built[2]


def test_pipeline_writes_rows_features_vectors_and_a_prediction(
    ctx: PipelineContext, corpus: dict[str, int]
) -> None:
    new = corpus["new"]
    bank = live_bank(ctx.session_factory)
    assert bank is not None and bank.encoder_profile == f"{ctx.profile().profile_version}+eventbins"
    store = ctx.store()
    assert store.count(bank.collection, SEMANTIC) >= 4
    _, has_t = store.get_vectors(bank.collection, list(corpus.values()), TEMPORAL)
    assert has_t.all()
    assert FeatureStore(ctx.feature_dir).has(str(new), ctx.profile().profile_version)
    with ctx.session_factory() as s:
        assert all(s.get(Video, v).status == VideoStatus.READY for v in corpus.values())
        pred = s.scalars(select(Prediction).where(Prediction.video_id == new)).one()
        assert pred.retrieval_mode == "temporal_aware"
        assert pred.encoder_profile == ctx.profile().profile_version
        neighbour_ids = {n["video_id"] for n in pred.neighbours}
        assert neighbour_ids == {
            corpus["old0"],
            corpus["old1"],
            corpus["old2"],
        }  # matured, not self
        assert all(
            0.0 <= n["content"] <= 1.0 and n["temporal"] is not None for n in pred.neighbours
        )
        assert pred.trajectory["method"] == "neighbours"
        assert pred.trajectory["t"][-1] == HORIZON_S
        for k, f in pred.forecast.items():
            assert f["lo"] <= f["median"] <= f["hi"], k


def test_rerunning_changes_nothing(
    ctx: PipelineContext, corpus: dict[str, int], tmp_path: Path
) -> None:
    before = _counts(ctx)
    bank = live_bank(ctx.session_factory)
    n_points = ctx.store().count(bank.collection)
    vec_before, _ = ctx.store().get_vectors(bank.collection, [corpus["new"]], SEMANTIC)
    with ctx.session_factory() as s:
        pred_id = s.scalars(select(Prediction.id).where(Prediction.video_id == corpus["new"])).one()
    # the same job again, every step (a redelivered chain)
    _ingest_again = _ingest(ctx, tmp_path / "new.mp4", tmp_path / "new.csv", force=True)
    assert _ingest_again == corpus["new"]
    assert _counts(ctx) == before
    vec_after, _ = ctx.store().get_vectors(bank.collection, [corpus["new"]], SEMANTIC)
    np.testing.assert_allclose(vec_after, vec_before, atol=1e-6)
    assert ctx.store().count(bank.collection) == n_points
    with ctx.session_factory() as s:
        assert (
            s.scalars(select(Prediction.id).where(Prediction.video_id == corpus["new"])).one()
            == pred_id
        )
        assert s.scalar(select(func.count()).select_from(BankVersion)) == 1
        # registering the unchanged, ready file queues nothing
        assert (
            register_ingest(s, tmp_path / "new.mp4", events_path=tmp_path / "new.csv").job_id
            is None
        )


def test_video_without_events_is_retrieved_by_content_only(
    ctx: PipelineContext, corpus: dict[str, int], tmp_path: Path
) -> None:
    vid = _ingest(ctx, make_clip(tmp_path, "silent_start", style=2), None)
    with ctx.session_factory() as s:
        pred = s.scalars(select(Prediction).where(Prediction.video_id == vid)).one()
    assert pred.retrieval_mode == "content_only"
    assert len(pred.neighbours) == 3 and all(n["temporal"] is None for n in pred.neighbours)
    bank = live_bank(ctx.session_factory)
    _, present = ctx.store().get_vectors(bank.collection, [vid], TEMPORAL)
    assert not present[0]


def test_weighted_quantiles_and_neighbour_forecast() -> None:
    vals = np.array([10.0, 20.0, 30.0])
    assert weighted_quantiles(vals, np.ones(3), [0.5]) == [20.0]
    lo, hi = weighted_quantiles(vals, np.array([0.0, 0.0, 1.0]), [0.1, 0.9])
    assert lo == hi == 30.0
    hits = [
        Neighbour(1, 1.2, 1.0, 0.5, 0.9, 0.4, {"labels": {"like": 100}}),
        Neighbour(2, 0.4, 0.3, 0.2, 0.5, 0.1, {"labels": {"like": 10}}),
    ]
    fc, method = neighbour_forecast(hits, {"like": 50, "share": 2}, ["like", "share"], 0.8)
    assert method == "neighbours"
    assert fc["like"]["lo"] >= 50 and fc["like"]["median"] > 50  # never below what is observed
    assert fc["share"] == {"median": 2.0, "lo": 2.0, "hi": 2.0}


def test_rebuild_bank_makes_a_new_live_bank_with_every_video(
    ctx: PipelineContext, corpus: dict[str, int]
) -> None:
    from m3tr.core.pipeline.rebuild import rebuild_bank

    old = live_bank(ctx.session_factory)
    info = rebuild_bank(ctx)
    assert info.is_live and info.id != old.id
    assert info.encoder_profile == old.encoder_profile
    store = ctx.store()
    assert store.count(info.collection) == store.count(old.collection)
    ids = list(corpus.values())
    a, _ = store.get_vectors(old.collection, ids, SEMANTIC)
    b, _ = store.get_vectors(info.collection, ids, SEMANTIC)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert not live_bank(ctx.session_factory).id == old.id


def test_train_job_registers_mhp_then_activates_it_with_a_new_bank(
    ctx: PipelineContext, corpus: dict[str, int]
) -> None:
    """Runs last: it leaves an active MHP behind."""
    from m3tr.core.db.models import ModelVersion
    from m3tr.core.pipeline.jobs import create_job
    from m3tr.core.pipeline.predict import predict

    old = live_bank(ctx.session_factory)
    with transaction(ctx.session_factory) as s:
        job = JobView.of(
            create_job(s, "train", params={"epochs": 1, "max_len": 64, "name": "mhp-t"})
        )
    assert plan_steps(job.kind, job.params) == ["train", "rebuild_bank"]
    run_step(ctx, job, "train")
    run_step(ctx, job, "train")  # redelivered: no second training, no second version
    with ctx.session_factory() as s:
        versions = s.scalars(select(ModelVersion)).all()
        assert [(v.name, v.is_active) for v in versions] == [("mhp-t", False)]
    run_step(ctx, job, "rebuild_bank")
    bank = live_bank(ctx.session_factory)
    with ctx.session_factory() as s:
        model = s.scalars(select(ModelVersion)).one()
        assert model.is_active and bank.model_version_id == model.id
    assert bank.id != old.id and bank.encoder_profile == ctx.profile().profile_version
    assert ctx.store().count(bank.collection) == ctx.store().count(old.collection)
    ctx.forecast_samples = 16
    predict(ctx, corpus["new"])
    with ctx.session_factory() as s:
        pred = s.scalars(
            select(Prediction).where(
                Prediction.video_id == corpus["new"], Prediction.model_version_id == model.id
            )
        ).one()
    assert pred.trajectory["method"] == "mhp" and pred.bank_version_id == bank.id
