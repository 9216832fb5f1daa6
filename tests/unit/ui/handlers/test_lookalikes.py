"""Lookalikes: three lists from the live bank, the weight slider, the content-only fallback."""

from __future__ import annotations

import numpy as np
import pytest

from m3tr.app.ui.handlers.lookalikes import lookalikes, search_videos
from tests.unit.ui.factories import add_video, live_bank_of, make_services


@pytest.fixture
def world(tmp_path):
    """A query video, one content twin, one trajectory twin, two others."""
    services, _ = make_services(tmp_path / "home")
    ids = {
        name: add_video(services, name, [1.0, 2.0, 3.0], labels={"like": 10 * (i + 1)})
        for i, name in enumerate(["query", "content twin", "trajectory twin", "other a", "other b"])
    }
    e = np.eye(4)
    sem = {
        ids["query"]: e[0],
        ids["content twin"]: e[0] + 0.05 * e[1],
        ids["trajectory twin"]: e[2],
        ids["other a"]: 0.6 * e[0] + 0.8 * e[3],
        ids["other b"]: e[3],
    }
    tem = {
        ids["query"]: e[1],
        ids["content twin"]: e[3],
        ids["trajectory twin"]: e[1] + 0.05 * e[0],
        ids["other a"]: 0.7 * e[1] + 0.7 * e[2],
        ids["other b"]: None,
    }
    live_bank_of(services, sem, tem)
    return services, ids


def test_three_lists_rank_by_their_own_similarity(world):
    services, ids = world
    view = lookalikes(services, ids["query"], weight=0.5, top_s=3)
    names = {v: k for k, v in ids.items()}
    content = [names[n.video_id] for n in view.lists["content only"]]
    trajectory = [names[n.video_id] for n in view.lists["trajectory only"]]
    assert content[0] == "content twin" and content[1] == "other a"
    assert trajectory[0] == "trajectory twin" and trajectory[1] == "other a"
    assert ids["query"] not in {n.video_id for lst in view.lists.values() for n in lst}
    combined = view.lists["combined"]
    assert len(combined) == 3 and combined[0].combined >= combined[-1].combined
    assert combined[0].labels and combined[0].curve is not None
    assert view.notes == [] and view.collection.startswith("bank_v")


def test_weight_moves_the_combined_list(world):
    services, ids = world
    by_content = lookalikes(services, ids["query"], weight=1.0, top_s=1).lists["combined"]
    by_traj = lookalikes(services, ids["query"], weight=0.0, top_s=1).lists["combined"]
    assert by_content[0].video_id == ids["content twin"]
    assert by_traj[0].video_id == ids["trajectory twin"]
    with pytest.raises(ValueError, match="weight"):
        lookalikes(services, ids["query"], weight=1.5)


def test_video_without_trajectory_falls_back_to_content(world):
    services, ids = world
    view = lookalikes(services, ids["other b"], top_s=2)
    assert view.lists["trajectory only"] == []
    assert view.lists["combined"] and view.lists["combined"][0].temporal is None
    assert any("content-only fallback" in n for n in view.notes)


def test_missing_bank_or_video(tmp_path):
    services, _ = make_services(tmp_path / "home")
    vid = add_video(services, "alone")
    with pytest.raises(LookupError, match="no live memory bank"):
        lookalikes(services, vid)
    with pytest.raises(LookupError, match="no video with id 42"):
        lookalikes(services, 42)


def test_search_by_title_id_and_external_id(world):
    services, ids = world
    assert [v for _, v in search_videos(services, "twin")] == [
        ids["content twin"],
        ids["trajectory twin"],
    ]
    assert search_videos(services, str(ids["other a"]))[0][1] == ids["other a"]
    assert search_videos(services, "nothing like this") == []
    assert len(search_videos(services, "")) == 5


def test_render_lookalikes_tables_and_figure(world):
    from m3tr.app.ui.lookalikes_tab import render_lookalikes

    services, ids = world
    view = lookalikes(services, ids["query"], weight=0.3, top_s=2)
    header, content, trajectory, combined, fig = render_lookalikes(
        view, services.settings.horizon_s
    )
    assert "content 0.30 and trajectory 0.70" in header
    assert (
        content.loc[0, "title"] == "content twin"
        and trajectory.loc[0, "title"] == "trajectory twin"
    )
    assert len(combined) == 2 and [ax.get_title() for ax in fig.axes] == [
        "content only",
        "trajectory only",
        "combined",
    ]
