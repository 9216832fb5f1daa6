"""``m3tr train`` on a small SQLite database: a checkpoint, one model_versions row, loadable."""

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import select

from m3tr.core.db.models import Base, ModelVersion, Video
from m3tr.core.db.repository import bulk_insert_events
from m3tr.core.db.session import make_engine, make_session_factory, transaction
from m3tr.core.fusion.predictor import load_predictor
from m3tr.core.training.service import ServiceTrainError, train_service_model


@pytest.fixture
def factory(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine)
    f = make_session_factory(engine)
    rng = np.random.default_rng(0)
    with transaction(f) as s:
        for i in range(30):
            v = Video(
                source="test",
                external_id=f"p{i}",
                title=f"post number {i}",
                description="a short text" if i % 2 else "another topic",
                matured=True,
                published_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                extra={"followers": float(i)},
            )
            s.add(v)
            s.flush()
            n = int(rng.integers(5, 40))
            t = np.sort(np.concatenate([rng.uniform(0, 3600, n), rng.uniform(3600, 86400, 2 * n)]))
            types = ["repost" if x else "comment" for x in rng.integers(0, 2, t.size)]
            bulk_insert_events(s, np.full(t.size, v.id), t, types, None)
    return f


def test_train_writes_a_loadable_version(factory, tmp_path):
    info = train_service_model(
        factory,
        model_dir=tmp_path / "models",
        name="m3tr-test",
        obs_window_s=3600.0,
        horizon_s=604800.0,
        event_types=("like", "repost", "comment"),
        top_s=3,
        feature_dir=tmp_path / "features",
        max_epochs=2,
    )
    with factory() as s:
        rows = s.scalars(select(ModelVersion)).all()
    assert len(rows) == 1 and rows[0].kind == "m3tr" and rows[0].is_active
    assert rows[0].config["task"]["event_types"] == ["repost", "comment"]  # "like" never occurs
    assert "nmse" in rows[0].metrics["val"]
    pred = load_predictor(info["checkpoint"])
    assert pred.spec.output_names == ("repost", "comment", "total")
    # what serving needs to build the same rows and to judge a bank: the side features'
    # videos.extra keys and the trajectory space of the training neighbours; nothing unread
    assert pred.extra["side_columns"] == ["followers", "friends", "verified", "pics"]
    assert 2 * len(pred.extra["side_columns"]) == pred.config.d_side
    assert pred.extra["trajectory_space"] == {
        "mhp": "the fused model's own",
        "transform": "signature (L=128)",
    }
    assert not {"trajectory_profile_mean", "trajectory_profile_std", "bank_video_ids"} & set(
        pred.extra
    )
    # no MHP version active: served neighbours by content only, and the summary says so
    assert info["trajectory_space"] == pred.extra["trajectory_space"]
    assert info["serving_neighbours"].startswith("content only")
    with pytest.raises(ServiceTrainError, match="exists"):
        train_service_model(
            factory,
            model_dir=tmp_path / "models",
            name="m3tr-test",
            obs_window_s=3600.0,
            horizon_s=604800.0,
            event_types=("repost", "comment"),
            top_s=3,
            feature_dir=tmp_path / "features",
        )


def test_too_little_data_is_refused(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    Base.metadata.create_all(engine)
    with pytest.raises(ServiceTrainError, match="need at least 20"):
        train_service_model(
            make_session_factory(engine),
            model_dir=tmp_path / "models",
            name="x",
            obs_window_s=3600.0,
            horizon_s=604800.0,
            event_types=("repost",),
            top_s=3,
            feature_dir=tmp_path / "features",
        )


def test_rows_from_db_keep_the_order_and_the_served_video_without_events(factory):
    """The one builder of model rows: ids in the given order, missing ids and (but for the
    served video) videos without an event log left out, the same rows as load_from_db."""
    from m3tr.core.task.spec import TaskSpec
    from m3tr.core.training.data import VIDEO_SIDE_COLUMNS, load_from_db, rows_from_db

    spec = TaskSpec(3600.0, 604800.0, ("repost", "comment"))
    with transaction(factory) as s:
        bare = Video(source="test", external_id="bare", matured=False, extra={"friends": 3})
        s.add(bare)
        s.flush()
        bare_id = bare.id
    with factory() as s:
        everything = load_from_db(s, spec)
        ids = [int(v) for v in everything.video_ids[[4, 1, 2]]]
        rows = rows_from_db(s, spec, [ids[0], 10_000, bare_id, *ids[1:]], VIDEO_SIDE_COLUMNS)
        served = rows_from_db(
            s, spec, [bare_id, *ids], VIDEO_SIDE_COLUMNS, without_events=[bare_id]
        )
    assert rows.video_ids.tolist() == ids
    np.testing.assert_array_equal(rows.targets, everything.targets[[4, 1, 2]])
    np.testing.assert_array_equal(rows.side, everything.side[[4, 1, 2]])
    for a, b in zip(rows.event_t, [everything.event_t[i] for i in (4, 1, 2)], strict=True):
        np.testing.assert_array_equal(a, b)
    assert served.video_ids.tolist() == [bare_id, *ids]
    assert len(served.event_t[0]) == 0 and served.targets[0].tolist() == [0, 0]
    assert served.side_names[2:4] == ["log1p_friends", "friends_missing"]
    assert served.side[0, 2] == pytest.approx(np.log1p(3.0)) and served.side[0, 3] == 0.0


def test_an_active_mhp_that_does_not_load_is_refused(factory, tmp_path):
    """The training neighbours would be in the active MHP's space: a broken one stops training
    with a clear error (no silent fallback to the fused model's own MHP)."""
    from m3tr.core.db import registry

    with transaction(factory) as s:
        row = registry.register(s, name="mhp", kind="mhp", checkpoint_path=str(tmp_path / "nope"))
        registry.activate(s, "mhp", row.id)
    with pytest.raises(ServiceTrainError, match="active MHP version .* does not load"):
        train_service_model(
            factory,
            model_dir=tmp_path / "models",
            name="m3tr-test",
            obs_window_s=3600.0,
            horizon_s=604800.0,
            event_types=("repost", "comment"),
            top_s=3,
            feature_dir=tmp_path / "features",
            max_epochs=1,
        )
    with factory() as s:
        assert s.scalars(select(ModelVersion).where(ModelVersion.kind == "m3tr")).first() is None
