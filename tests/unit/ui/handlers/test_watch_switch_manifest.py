"""Watching (media only from the workspace), forecast history, model switches, manifests, export."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from m3tr.app.ui.handlers.batch import ingest_batch, is_manifest
from m3tr.app.ui.handlers.exports import export_csv
from m3tr.app.ui.handlers.switch import switch_version, version_choices, versions_side_by_side
from m3tr.app.ui.handlers.watch import playable_path
from m3tr.core.db.models import Video
from m3tr.core.db.session import transaction
from tests.unit.ui.factories import (
    add_model,
    add_prediction,
    add_video,
    make_services,
    synthetic_clip,
)


def test_only_media_inside_the_workspace_media_folder_plays(tmp_path):
    services, _ = make_services(tmp_path / "home")
    inside = services.settings.media_dir / "clip.mp4"
    inside.parent.mkdir(parents=True, exist_ok=True)
    synthetic_clip(tmp_path, "clip").replace(inside)
    outside = synthetic_clip(tmp_path, "elsewhere")
    escape = services.settings.media_dir / "link.mp4"
    escape.symlink_to(outside)
    ok = add_video(services, "inside", media_path=str(inside))
    out = add_video(services, "outside", media_path=str(outside))
    sneaky = add_video(services, "symlink out", media_path=str(escape))
    traversal = add_video(services, "dots", media_path=str(services.settings.media_dir / ".." /
                                                        ".." / "elsewhere.mp4"))  # fmt: skip
    assert playable_path(services, ok) == str(inside.resolve())
    assert playable_path(services, out) is None and playable_path(services, sneaky) is None
    assert playable_path(services, traversal) is None
    assert playable_path(services, add_video(services, "no media")) is None


def test_switch_versions_and_side_by_side_evaluation(tmp_path):
    services, _ = make_services(tmp_path / "home")
    a = add_model(services, "fused-a", metrics={"val": {"nmse": 0.5, "src": 0.7}})
    add_model(services, "fused-b", metrics={"val": {"nmse": 0.4, "src": 0.8}})
    table = versions_side_by_side(services)
    assert table["name"].tolist() == ["fused-b", "fused-a"]
    assert table["active"].tolist() == ["yes", ""] and table["nMSE"].tolist() == [0.4, 0.5]
    assert ("fused-b (m3tr, active)", a + 1) in version_choices(services)
    assert "fused-a** is now the active m3tr model" in switch_version(services, a)
    assert versions_side_by_side(services)["active"].tolist() == ["", "yes"]
    assert "fused-b" in switch_version(services, None, "m3tr")  # roll back


def test_manifest_in_the_batch_upload_names_bad_lines(tmp_path):
    services, recorder = make_services(tmp_path / "home")
    good = synthetic_clip(tmp_path, "good")
    (tmp_path / "good-events.csv").write_text("t,type\n1,like\n5,share\n")
    (tmp_path / "bad-events.csv").write_text("t,type\n1,like\n2,retweet\n")
    other = synthetic_clip(tmp_path, "other")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "media,title,description,published_at,author,events\n"
        "good.mp4,A good clip,fine,2026-11-30T10:00:00Z,ann,good-events.csv\n"
        "other.mp4,Bad log,,,,bad-events.csv\n"
        "/etc/passwd.mp4,Server path,,,,\n"
        "other.mp4,Bad time,,yesterday,,\n"
    )
    assert is_manifest(manifest) and not is_manifest(tmp_path / "good-events.csv")
    files = [manifest, good, other, tmp_path / "good-events.csv", tmp_path / "bad-events.csv"]
    report = ingest_batch(services, files)
    rows = {r["file"]: r["result"] for r in report.to_dict("records")}
    assert rows["manifest.csv, line 2"] == "queued"
    assert "line 3" in rows["manifest.csv, line 3"] or "retweet" in rows["manifest.csv, line 3"]
    assert "was not uploaded with the manifest" in rows["manifest.csv, line 4"]
    assert "not an ISO 8601 time" in rows["manifest.csv, line 5"]
    assert len(recorder.sent) == 1
    with services.sessions() as s:
        videos = s.scalars(select(Video)).all()
    assert [(v.title, v.description, (v.extra or {}).get("author")) for v in videos] == [
        ("A good clip", "fine", "ann")
    ]
    assert videos[0].published_at is not None


def test_export_csv_round_trips(tmp_path):
    services, _ = make_services(tmp_path / "home")
    vid = add_video(services, "exported")
    add_prediction(services, vid, [], add_model(services, "m"))
    with transaction(services.sessions) as s:
        s.get(Video, vid).title = 'quotes " and, commas'
    df = pd.read_csv(export_csv(services))
    assert df["title"].tolist() == ['quotes " and, commas'] and df["like_median"].tolist() == [
        120.0
    ]
