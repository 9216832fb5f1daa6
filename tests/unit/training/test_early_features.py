"""Early features from a real-format CED folder: only [0, T_obs], aligned per-event columns."""

import gzip

import numpy as np
import pandas as pd
import pytest

from m3tr.core.task.spec import CED_EVENT_TYPES, TaskSpec
from m3tr.core.training.data import load_ced_weibo
from m3tr.core.training.early_features import early_feature_names, early_features

SPEC = TaskSpec(obs_window_s=3600.0, horizon_s=86400.0, event_types=CED_EVENT_TYPES)


def write_ced(path, events: list[tuple[str, float, str, str, int]]) -> None:
    posts = pd.DataFrame(
        {
            "post_id": ["a", "b"],
            "text": ["短文", "一条更长的微博文本"],
            # 2014-01-01 00:00 UTC = 08:00 China time; b at 16:00 UTC = 00:00 China time
            "published_at": [1388534400, 1388592000],
            "followers": [100, None],
            "friends": [10, None],
            "verified": [1, None],
            "pics": [0, 2],
            "final_reposts": [0, 0],
            "final_comments": [0, 0],
            "final_likes": [0, 0],
        }
    )
    path.mkdir()
    posts.to_csv(path / "posts.csv", index=False)
    ev = pd.DataFrame(events, columns=["post_id", "t", "type", "user", "parent_is_root"])
    with gzip.open(path / "events.csv.gz", "wt") as fh:
        ev.to_csv(fh, index=False)


@pytest.fixture
def data(tmp_path):
    write_ced(
        tmp_path / "ced",
        [
            ("a", 30.0, "repost", "u1", 1),
            ("a", 100.0, "comment", "u2", 1),
            ("a", 3100.0, "repost", "u1", 0),  # in the last 10 min, a repost of a repost
            ("a", 3500.0, "comment", "u3", 0),
            ("a", 5000.0, "repost", "u9", 1),  # after T_obs: must not count anywhere
            ("b", 7200.0, "repost", "u4", 1),  # b has nothing observed
        ],
    )
    return load_ced_weibo(tmp_path / "ced", SPEC)


def col(data, x, name):
    return x[:, early_feature_names(data).index(name)]


def test_columns_are_named_and_finite(data):
    x = early_features(data)
    assert x.shape == (2, len(early_feature_names(data)))
    assert np.isfinite(x).all()


def test_event_columns_use_only_the_observed_window(data):
    x = early_features(data)
    assert data.event_user is not None and [len(u) for u in data.event_user] == [4, 0]
    assert col(data, x, "log1p_total_at_3600s")[0] == pytest.approx(np.log1p(4))
    assert col(data, x, "log1p_total_at_60s")[0] == pytest.approx(np.log1p(1))
    assert col(data, x, "log1p_last_10min")[0] == pytest.approx(np.log1p(2))
    assert col(data, x, "log1p_last_20min")[0] == pytest.approx(np.log1p(2))
    assert col(data, x, "log1p_since_last_s")[0] == pytest.approx(np.log1p(100.0))
    assert col(data, x, "log1p_first_delay_s")[0] == pytest.approx(np.log1p(30.0))
    assert col(data, x, "log1p_distinct_users")[0] == pytest.approx(np.log1p(3))
    assert col(data, x, "non_root_share")[0] == pytest.approx(0.5)
    assert col(data, x, "comment_share")[0] == pytest.approx(0.5)
    # gaps from publication: 30, 70, 3000, 400
    assert col(data, x, "log1p_median_gap_s")[0] == pytest.approx(np.log1p(235.0))
    # a post with nothing observed: zero counts, the whole window since "the last event"
    assert col(data, x, "log1p_total_at_3600s")[1] == 0
    assert col(data, x, "log1p_since_last_s")[1] == pytest.approx(np.log1p(3600.0))


def test_post_columns_hour_text_and_missing_author(data):
    x = early_features(data)
    assert col(data, x, "hour_sin")[0] == pytest.approx(np.sin(2 * np.pi * 8 / 24))
    assert col(data, x, "hour_cos")[1] == pytest.approx(1.0)  # midnight in China
    assert col(data, x, "log1p_text_chars")[1] == pytest.approx(np.log1p(9))
    assert col(data, x, "followers_missing")[1] == 1.0
    assert col(data, x, "log1p_followers")[0] == pytest.approx(np.log1p(100), rel=1e-6)


def test_subset_keeps_the_per_event_columns_aligned(data):
    sub = data.subset(np.array([1, 0]))
    assert [len(u) for u in sub.event_user] == [0, 4]
    assert sub.published_at.tolist() == [1388592000.0, 1388534400.0]
    np.testing.assert_array_equal(early_features(sub), early_features(data)[[1, 0]])


def test_sources_without_users_or_parents_get_missing_flags(data):
    from dataclasses import replace

    bare = replace(data, event_user=None, event_root=None, published_at=None)
    x = early_features(bare)
    assert (col(bare, x, "users_missing") == 1).all()
    assert (col(bare, x, "root_missing") == 1).all()
    assert (col(bare, x, "hour_missing") == 1).all()
