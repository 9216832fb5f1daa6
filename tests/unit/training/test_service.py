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
