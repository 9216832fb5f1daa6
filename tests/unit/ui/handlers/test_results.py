"""Stored predictions gathered for display: forecast table, neighbours, curves, provenance."""

from __future__ import annotations

import numpy as np
import pytest

from m3tr.app.views.curves import cumulative, time_grid
from m3tr.app.views.prediction import load_prediction, thumbnail_path
from tests.unit.ui.factories import (
    add_model,
    add_prediction,
    add_video,
    make_services,
    synthetic_clip,
)


@pytest.fixture
def services(tmp_path):
    return make_services(tmp_path / "home")[0]


def test_cumulative_counts_events_up_to_each_time():
    grid = np.array([0.0, 1.0, 2.5, 10.0])
    curve = cumulative(np.array([2.0, 1.0, 1.0, 9.0]), grid)
    assert curve.y.tolist() == [0.0, 2.0, 3.0, 4.0]
    g = time_grid(3600.0, n=50)
    assert g[0] == 0.0 and g[-1] == pytest.approx(3600.0) and np.all(np.diff(g) > 0)


def test_load_prediction_gathers_everything(services):
    target = add_video(services, "target", [1, 2, 50], ["like", "comment", "like"])
    n1 = add_video(
        services, "first neighbour", [5, 60, 600, 7000], labels={"like": 900, "comment": 40}
    )
    n2 = add_video(services, "no events", labels={"like": 10})
    mid = add_model(services, "m3tr-2026")
    add_prediction(services, target, [
        {"video_id": n1, "content": 1.0, "temporal": 0.7, "score": 1.22},
        {"video_id": n2, "content": 0.2, "temporal": None, "score": 0.2},
    ], mid)  # fmt: skip
    view = load_prediction(services, target)
    assert view is not None
    table = view.forecast.set_index("event type")
    assert (
        table.loc["like", "observed so far"] == 2 and table.loc["comment", "observed so far"] == 1
    )
    assert table.loc["like", "median at horizon"] == 120.0 and table.loc["like", "p90"] == 200.0
    assert view.observed_t.tolist() == [1.0, 2.0, 50.0]
    assert [n.video_id for n in view.neighbours] == [n1, n2]
    first, second = view.neighbours
    assert first.title == "first neighbour" and first.labels == {"like": 900, "comment": 40}
    assert first.curve is not None and first.curve.y[-1] == 4.0
    assert second.curve is None and second.temporal is None
    nt = view.neighbour_table()
    assert nt["combined"].tolist() == [1.22, 0.2]
    assert "like 900" in nt.loc[0, "final label"]
    md = view.provenance_markdown()
    assert "temporal-aware" in md and "m3tr-2026" in md and "lite-v1" in md


def test_content_only_fallback_is_said_plainly(services):
    target = add_video(services, "cold start")
    add_prediction(services, target, [], retrieval_mode="content_only")
    md = load_prediction(services, target).provenance_markdown()
    assert "content only (fallback" in md


def test_no_prediction_yet_and_unknown_video(services):
    vid = add_video(services, "fresh")
    assert load_prediction(services, vid) is None
    with pytest.raises(LookupError, match="no video with id 999"):
        load_prediction(services, 999)


def test_thumbnail_is_made_once_and_cached(services, tmp_path):
    clip = synthetic_clip(tmp_path, "thumb")
    first = thumbnail_path(services, 7, str(clip))
    assert first is not None and first.read_bytes()[:2] == b"\xff\xd8"  # JPEG
    mtime = first.stat().st_mtime_ns
    assert thumbnail_path(services, 7, str(clip)).stat().st_mtime_ns == mtime
    assert thumbnail_path(services, 8, None) is None
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"nope")
    assert thumbnail_path(services, 9, str(bad)) is None


def test_extract_intensity_from_either_layout():
    from m3tr.app.views.prediction import extract_intensity

    block = {"intensity": {"grid_s": [0, 10, 20], "hawkes": [[1, 2, 3], [4, 5, 6]],
                           "total": [[2, 2, 3], [4, 6, 6]]}}  # fmt: skip
    out = extract_intensity(block)
    assert out["t"] == [0, 10, 20]
    assert np.asarray(out["hawkes"]).shape == (3, 2)  # (K, G) transposed to (G, K)
    assert np.asarray(out["correction"]).tolist() == [[1, 0], [0, 1], [0, 0]]
    flat = {"t": [0, 5], "median": [0, 1], "intensity_hawkes": [0.5, 0.4],
            "intensity_correction": [0.1, -0.1]}  # fmt: skip
    assert extract_intensity(flat) == {"t": [0, 5], "hawkes": [0.5, 0.4], "correction": [0.1, -0.1]}
    assert extract_intensity({"t": [0, 1], "median": [0, 1]}) is None


def test_prediction_with_intensity_is_drawn(services):
    target = add_video(services, "with intensity", [1, 2])
    traj = {"t": [0.0, 3600.0], "median": [0, 2], "lo": [0, 2], "hi": [0, 2],
            "intensity": {"t": [0, 100, 200], "hawkes": [1, 0.5, 0.2],
                          "correction": [0.1, 0.3, -0.1]}}  # fmt: skip
    add_prediction(services, target, [], trajectory=traj)
    view = load_prediction(services, target)
    assert view.intensity["correction"] == [0.1, 0.3, -0.1]
    assert "intensity" not in view.trajectory or isinstance(view.trajectory["intensity"], dict)
