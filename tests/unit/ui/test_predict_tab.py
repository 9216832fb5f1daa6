"""Predict handlers end to end without a browser: submit, then render a stored prediction."""

from __future__ import annotations

from pathlib import Path

import pytest

from m3tr.app.ui.blocks import build_demo
from m3tr.app.ui.handlers.predict import render_prediction, result_for_video, submit_upload
from m3tr.app.views.prediction import load_prediction
from m3tr.app.views.uploads import UploadError
from tests.unit.ui.factories import (
    add_prediction,
    add_video,
    make_services,
    synthetic_clip,
)


@pytest.fixture
def services(tmp_path):
    return make_services(tmp_path / "home")[0]


def test_submit_requires_a_video(services):
    with pytest.raises(UploadError, match="choose a video file first"):
        submit_upload(services, None, "", "", None)


def test_submit_then_render(services, tmp_path):
    clip = synthetic_clip(tmp_path, "mine")
    events = tmp_path / "events.jsonl"
    events.write_text('{"t": 3, "type": "like"}\n{"t": 9, "type": "share"}\n')
    sub = submit_upload(services, str(clip), "A title", "", str(events))
    assert sub.n_events == 2
    assert result_for_video(services, sub.video_id) is None
    nb_media = synthetic_clip(tmp_path, "neighbour")
    nb = add_video(services, "a neighbour", [5, 50, 500], labels={"like": 77},
                   media_path=str(nb_media))  # fmt: skip
    add_prediction(services, sub.video_id,
                   [{"video_id": nb, "content": 0.8, "temporal": 0.6, "score": 1.0}])  # fmt: skip
    out = render_prediction(services, load_prediction(services, sub.video_id))
    assert out.forecast_table["event type"].tolist() == ["comment", "like"]
    assert len(out.gallery) == 1 and "like 77" in out.gallery[0][1]
    assert out.neighbour_table.loc[0, "video"] == nb
    assert len([ax for ax in out.neighbour_plot.axes if ax.axison]) == 1
    assert "temporal-aware" in out.provenance
    assert len(out.as_tuple()) == 12
    media = services.settings.media_dir.resolve()
    assert out.target_video is not None and Path(out.target_video).parent == media  # playable
    assert out.neighbour_choices == [(f"#1 a neighbour (video {nb})", nb)]
    names = set(out.neighbour_lines["video"])
    assert names == {"this video (A title)", f"#1 a neighbour (video {nb})"}
    assert len(out.history_table) == 1


def test_build_demo_has_the_four_tabs(services):
    demo = build_demo(services)
    labels = [b.label for b in demo.blocks.values() if b.__class__.__name__ == "Tab"]
    assert labels == ["Predict", "Lookalikes", "Ingestion", "Model"]
