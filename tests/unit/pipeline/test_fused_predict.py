"""With an active fused model (kind ``m3tr``): ``predict`` serves its final counts.

A tiny workspace: text-only matured videos with Hawkes logs, a fused model trained through the
real ``train_service_model`` (two epochs), a random MHP for the curve, a live bank.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import func, select

from m3tr.core.db.models import ModelVersion, Prediction, Video
from m3tr.core.db.repository import bulk_insert_events, upsert_label
from m3tr.core.db.session import transaction
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.fused import load_fused
from m3tr.core.pipeline.predict import predict
from m3tr.core.pipeline.rebuild import rebuild_bank
from m3tr.core.pipeline.trajectory_step import FUSED_MODEL_KINDS, active_model, embed_temporal
from m3tr.core.synthetic.events import default_params, simulate_hawkes
from m3tr.core.temporal import MHP, MHPConfig, save_mhp
from m3tr.core.training.content import embed_texts
from m3tr.core.training.service import train_service_model
from tests.unit.pipeline.conftest import HORIZON_S, OBS_S, VOCAB

N_MATURED = 22
TOPICS = ("cooking pasta", "street football", "cat videos", "guitar lesson", "city travel")


def _add_video(ctx: PipelineContext, i: int, horizon_s: float, matured: bool) -> int:
    """A text-only video with a Hawkes log on [0, horizon_s]; final labels when matured.

    Its content features are left to :func:`_embed` (one encoder load for many videos)."""
    rng = np.random.default_rng(i)
    t, types = simulate_hawkes(default_params(0.05 + 0.02 * (i % 7), VOCAB), horizon_s, rng)
    with transaction(ctx.session_factory) as s:
        video = Video(
            source="test",
            external_id=f"v{i}",
            title=f"{TOPICS[i % len(TOPICS)]} number {i}",
            status="ready",
            matured=matured,
            extra={"followers": 10 * i},
        )
        s.add(video)
        s.flush()
        bulk_insert_events(s, np.full(len(t), video.id), t, list(types), None)
        if matured:
            for k in VOCAB:
                upsert_label(s, video.id, k, int((types[t <= HORIZON_S] == k).sum()))
        return int(video.id)


def _embed(ctx: PipelineContext, video_ids: list[int]) -> None:
    """Content features of text-only videos (the same computation as the content pipeline)."""
    with ctx.session_factory() as s:
        titles = [s.get(Video, v).title or "" for v in video_ids]
    embed_texts([str(v) for v in video_ids], titles, ctx.feature_dir, "lite")


@pytest.fixture
def fused_ctx(ctx: PipelineContext, tmp_path: Path) -> PipelineContext:
    torch.manual_seed(0)
    _embed(ctx, [_add_video(ctx, i, HORIZON_S * 1.1, matured=True) for i in range(N_MATURED)])
    cfg = MHPConfig(n_types=3, type_names=VOCAB, d_model=16, d_state=4, n_layers=1, dt_rank=4)
    folder = tmp_path / "models" / "mhp-test"
    save_mhp(MHP(cfg), folder)
    info = train_service_model(
        ctx.session_factory,
        model_dir=ctx.model_dir,
        name="fused-test",
        obs_window_s=OBS_S,
        horizon_s=HORIZON_S,
        event_types=VOCAB,
        top_s=ctx.top_s,
        feature_dir=ctx.feature_dir,
        profile="lite",
        max_epochs=2,
        activate=True,
    )
    with transaction(ctx.session_factory) as s:
        s.add(
            ModelVersion(name="mhp-test", kind="mhp", checkpoint_path=str(folder), is_active=True)
        )
    ctx.forecast_samples = 8
    rebuild_bank(ctx)  # live bank signed by the MHP (not the fused model)
    ctx.fused_id = info["model_version_id"]  # type: ignore[attr-defined]
    return ctx


def test_active_fused_model_serves_final_counts(fused_ctx: PipelineContext) -> None:
    ctx = fused_ctx
    temporal = active_model(ctx)
    fused = active_model(ctx, FUSED_MODEL_KINDS)
    assert temporal is not None and temporal.kind == "mhp"  # an active m3tr is no MHP
    assert fused is not None and fused.id == ctx.fused_id  # type: ignore[attr-defined]
    assert load_fused(ctx, fused) is load_fused(ctx, fused)  # cached per model version

    new = _add_video(ctx, 100, OBS_S, matured=False)
    _embed(ctx, [new])
    tv = embed_temporal(ctx, new)
    assert tv is not None and tv.source == "mhp"
    predict(ctx, new)
    predict(ctx, new)  # re-run: the same row

    with ctx.session_factory() as s:
        rows = list(s.scalars(select(Prediction).where(Prediction.video_id == new)))
        n_rows = s.scalar(select(func.count()).select_from(Prediction))
        t = np.array([e.t for e in s.get(Video, new).events])
        types = np.array([e.type for e in s.get(Video, new).events])
    assert len(rows) == 1 and n_rows == 1
    row = rows[0]
    assert row.model_version_id == fused.id
    traj = row.trajectory
    assert traj["method"] == "fused" and traj["curve_method"] == "mhp"
    assert traj["fused"]["model_version_id"] == fused.id
    assert traj["fused"]["n_neighbours"] == ctx.top_s
    # the live bank was signed by the MHP version, the model trained on its own MHP's vectors:
    # its neighbours are retrieved by content only, and the row says why
    assert traj["fused"]["neighbours"].startswith("content_only: the live bank's trajectory")
    assert "model version" in traj["fused"]["neighbours"]
    assert "intensity" in traj and len(traj["median"]) == len(traj["t"])  # MHP curve kept
    # one story: the plotted intensity integrates to the plotted (fused-level) curve's increase
    from m3tr.core.pipeline.predict import intensity_integral

    t_obs, t_end = traj["observed_until"], traj["intensity"]["t"][-1]
    med = np.interp([t_obs, t_end], traj["t"], traj["median"])
    assert abs(intensity_integral(traj["intensity"], t_obs) - (med[1] - med[0])) <= 1e-6 * (
        1 + med[1]
    )
    assert {n["video_id"] for n in row.neighbours}.isdisjoint({new})
    observed = {k: int((types[t <= OBS_S] == k).sum()) for k in VOCAB}
    assert sum(observed.values()) > 0
    for k in VOCAB:
        f = row.forecast[k]
        vals = [f["lo"], f["median"], f["hi"]]
        assert np.isfinite(vals).all()
        assert observed[k] <= f["lo"] <= f["median"] <= f["hi"]
    total = traj["fused"]["total"]
    assert sum(observed.values()) <= total["lo"] <= total["median"] <= total["hi"]

    from m3tr.app.cli.demo import activate_if_usable  # the demo's activation check passes

    assert activate_if_usable(ctx, fused.id)
    assert active_model(ctx, FUSED_MODEL_KINDS) == fused


def test_broken_fused_checkpoint_falls_back(ctx: PipelineContext, tmp_path: Path) -> None:
    """An active fused model that cannot load never breaks an upload: the MHP forecast stays."""
    _embed(ctx, [_add_video(ctx, i, HORIZON_S * 1.1, matured=True) for i in range(3)])
    cfg = MHPConfig(n_types=3, type_names=VOCAB, d_model=16, d_state=4, n_layers=1, dt_rank=4)
    save_mhp(MHP(cfg), tmp_path / "models" / "mhp")
    with transaction(ctx.session_factory) as s:
        s.add(ModelVersion(name="mhp", kind="mhp", checkpoint_path=str(tmp_path / "models" / "mhp"),
                           is_active=True))  # fmt: skip
        s.add(ModelVersion(name="m3tr", kind="m3tr", checkpoint_path=str(tmp_path / "nope"),
                           is_active=True))  # fmt: skip
    ctx.forecast_samples = 4
    rebuild_bank(ctx)
    new = _add_video(ctx, 50, OBS_S, matured=False)
    _embed(ctx, [new])
    embed_temporal(ctx, new)
    predict(ctx, new)
    with ctx.session_factory() as s:
        row = s.scalars(select(Prediction).where(Prediction.video_id == new)).one()
        mhp_id = active_model(ctx).id
    assert row.trajectory["method"] == "mhp" and row.model_version_id == mhp_id

    from m3tr.app.cli.demo import activate_if_usable  # the demo's check refuses it

    broken = active_model(ctx, FUSED_MODEL_KINDS)
    assert broken is not None and not activate_if_usable(ctx, broken.id)
    assert active_model(ctx, FUSED_MODEL_KINDS) is None


def test_serving_rows_match_training_rows(fused_ctx: PipelineContext) -> None:
    """The target tensors built for serving equal the ones ``m3tr train`` built for training."""
    from dataclasses import fields

    from m3tr.core.pipeline.fused import build_batch
    from m3tr.core.training.data import load_from_db
    from m3tr.core.training.service import attach_content
    from m3tr.core.training.tensors import video_tensors

    ctx = fused_ctx
    predictor = load_fused(ctx, active_model(ctx, FUSED_MODEL_KINDS))
    cfg = predictor.config
    with ctx.session_factory() as s:
        data = load_from_db(s, predictor.spec)
    data = attach_content(data, ctx.session_factory, ctx.feature_dir, "lite")
    train = video_tensors(data, cfg.max_events, keep=cfg.event_keep)
    row = 5
    vid = int(data.video_ids[row])
    candidates = [vid, *(int(v) for v in data.video_ids[:3])]  # the video itself is dropped
    batch, _ = build_batch(ctx, predictor, active_model(ctx, FUSED_MODEL_KINDS), vid, candidates)
    for f in fields(batch.target):
        served, trained = getattr(batch.target, f.name)[0], getattr(train, f.name)[row]
        torch.testing.assert_close(served, trained, msg=f.name)
    assert batch.nb_mask is not None and batch.nb_mask.all() and cfg.top_s == 3
    y = torch.from_numpy(data.y_log()).float()
    torch.testing.assert_close(batch.nb_labels[0], y[:3])  # final labels, as in training
    torch.testing.assert_close(batch.neighbours.floor, train.floor[:3])


def test_fused_model_takes_the_banks_neighbours_in_its_own_trajectory_space(
    fused_ctx: PipelineContext,
) -> None:
    """A checkpoint whose trajectory space is the live bank's gets the Eq. 3 neighbours."""
    from m3tr.core.retrieval.bank import live_bank
    from m3tr.core.task.trajectory_space import TrajectorySpace

    ctx = fused_ctx
    bank = live_bank(ctx.session_factory)
    assert bank is not None and bank.model_version_id == active_model(ctx).id
    predictor = load_fused(ctx, active_model(ctx, FUSED_MODEL_KINDS))
    predictor.extra["trajectory_space"] = TrajectorySpace.of_bank(bank.model_version_id).to_dict()
    new = _add_video(ctx, 100, OBS_S, matured=False)
    _embed(ctx, [new])
    embed_temporal(ctx, new)
    predict(ctx, new)
    with ctx.session_factory() as s:
        row = s.scalars(select(Prediction).where(Prediction.video_id == new)).one()
    assert row.retrieval_mode == "temporal_aware"
    assert row.trajectory["fused"]["neighbours"] == "temporal_aware"


def test_a_checkpoint_without_side_columns_is_not_served(fused_ctx: PipelineContext) -> None:
    from m3tr.core.pipeline.fused import FusedModelUnavailable, build_batch

    ctx = fused_ctx
    model = active_model(ctx, FUSED_MODEL_KINDS)
    predictor = load_fused(ctx, model)
    with ctx.session_factory() as s:
        vid = int(s.scalars(select(Video.id).order_by(Video.id)).first())
    predictor.extra.pop("side_columns")
    with pytest.raises(FusedModelUnavailable, match="side_columns"):
        build_batch(ctx, predictor, model, vid, [])


@pytest.fixture
def demo_order_ctx(ctx: PipelineContext, tmp_path: Path) -> PipelineContext:
    """The demo's order: an MHP (with its trajectory transform) trained and active, the live
    bank filled with its vectors, then the fused model trained through ``train_service_model``."""
    from m3tr.core.db import registry
    from m3tr.core.temporal import EventVocab, load_sequences
    from m3tr.core.temporal.trajectory import fit_trajectory_transform

    torch.manual_seed(0)
    _embed(ctx, [_add_video(ctx, i, HORIZON_S * 1.1, matured=True) for i in range(N_MATURED)])
    cfg = MHPConfig(n_types=3, type_names=VOCAB, d_model=16, d_state=4, n_layers=1, dt_rank=4)
    mhp = MHP(cfg)
    with ctx.session_factory() as s:
        seqs = load_sequences(s, EventVocab(VOCAB), window_s=OBS_S)
    fit_trajectory_transform(mhp, seqs, OBS_S, dim=8)
    folder = tmp_path / "models" / "mhp-demo"
    save_mhp(mhp, folder)
    with transaction(ctx.session_factory) as s:
        mhp_id = registry.register(s, name="mhp-demo", kind="mhp", checkpoint_path=str(folder)).id
        registry.activate(s, "mhp", mhp_id)
    ctx.forecast_samples = 8
    rebuild_bank(ctx)  # the live bank in the active MHP's space
    info = train_service_model(
        ctx.session_factory,
        model_dir=ctx.model_dir,
        name="fused-demo",
        obs_window_s=OBS_S,
        horizon_s=HORIZON_S,
        event_types=VOCAB,
        top_s=ctx.top_s,
        feature_dir=ctx.feature_dir,
        profile="lite",
        max_epochs=2,
        activate=True,
    )
    ctx.train_info = info  # type: ignore[attr-defined]
    return ctx


def test_fused_model_trained_after_the_mhp_serves_eq3_neighbours(
    demo_order_ctx: PipelineContext,
) -> None:
    """Trained in the active MHP's space, the fused model takes the live bank's Eq. 3
    neighbours (content and trajectory scores), not the content-only fallback."""
    from m3tr.core.pipeline.signatures import load_temporal
    from m3tr.core.retrieval.bank import live_bank
    from m3tr.core.task.trajectory_space import TrajectorySpace
    from m3tr.core.training.bank_space import BankSpaceVectors
    from m3tr.core.training.data import load_from_db

    ctx = demo_order_ctx
    mhp = active_model(ctx)
    fused = active_model(ctx, FUSED_MODEL_KINDS)
    bank = live_bank(ctx.session_factory)
    assert mhp is not None and fused is not None and bank is not None
    assert bank.model_version_id == mhp.id
    info = ctx.train_info  # type: ignore[attr-defined]
    space = TrajectorySpace.of_bank(mhp.id).to_dict()
    assert info["trajectory_space"] == space
    assert info["serving_neighbours"].startswith("Eq. 3 on the live bank")
    predictor = load_fused(ctx, fused)
    assert predictor.extra["trajectory_space"] == space

    # the training rows' trajectory vectors are the live bank's vectors of the same videos
    with ctx.session_factory() as s:
        data = load_from_db(s, predictor.spec)
    vectors = BankSpaceVectors.load(mhp.checkpoint_path, mhp.id)(data, data)
    for i in (0, 7, 15):
        stored = load_temporal(ctx.feature_dir, f"mhp-{mhp.id}", int(data.video_ids[i]))
        assert stored is not None
        np.testing.assert_allclose(vectors[i], stored.vector, atol=1e-5)

    new = _add_video(ctx, 100, OBS_S, matured=False)
    _embed(ctx, [new])
    tv = embed_temporal(ctx, new)
    assert tv is not None and tv.for_retrieval is not None  # it has events: no cold start
    predict(ctx, new)
    with ctx.session_factory() as s:
        row = s.scalars(select(Prediction).where(Prediction.video_id == new)).one()
    traj = row.trajectory
    assert traj["method"] == "fused" and row.model_version_id == fused.id
    assert row.retrieval_mode == "temporal_aware"
    assert traj["fused"]["neighbours"] == "temporal_aware"  # not "content_only: ..."
    assert traj["fused"]["n_neighbours"] == ctx.top_s
    assert len(row.neighbours) == ctx.top_s
    assert all(n["temporal"] is not None for n in row.neighbours)
