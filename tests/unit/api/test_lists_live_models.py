"""REST lists (filters, cursor pages), exports, event appends, model switches, error shape."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from m3tr.app.records import EXPORT_COLUMNS
from m3tr.app.web import create_app
from m3tr.core.db.models import Event, Job, Video, VideoStatus
from m3tr.core.db.session import transaction
from tests.unit.ui.factories import add_model, add_prediction, add_video, make_services


@pytest.fixture
def api(tmp_path):
    services, recorder = make_services(tmp_path / "home")
    with TestClient(create_app(services)) as client:
        yield client, services, recorder


def _ready(services, video_id: int) -> None:
    with transaction(services.sessions) as s:
        s.get(Video, video_id).status = VideoStatus.READY


def _counts(services, video_id: int) -> tuple[int, int]:
    with services.sessions() as s:
        n_ev = s.scalar(select(func.count()).where(Event.video_id == video_id))
        n_jobs = s.scalar(select(func.count()).select_from(Job))
    return int(n_ev or 0), int(n_jobs or 0)


def _shape(body: dict) -> None:
    assert isinstance(body["detail"], str) and isinstance(body["errors"], list)


def test_append_is_all_or_nothing_and_enqueues_a_reforecast(api):
    client, services, recorder = api
    vid = add_video(services, "live clip", [1, 2, 3])
    _ready(services, vid)
    bad = client.post(f"/api/videos/{vid}/events",
                      json={"events": [{"t": 5, "type": "like"}, {"t": 6, "type": "retweet"}]})  # fmt: skip
    assert bad.status_code == 422, bad.text
    _shape(bad.json())
    assert "line 2" in bad.json()["detail"] and "retweet" in bad.json()["detail"]
    assert _counts(services, vid) == (3, 0) and recorder.sent == []

    ok = client.post(f"/api/videos/{vid}/events",
                     json={"events": [{"t": 5, "type": "like"}, {"t": 9, "type": "comment"}],
                           "observed_until_s": 600})  # fmt: skip
    assert ok.status_code == 202, ok.text
    body = ok.json()
    assert body["appended"] == 2 and body["n_events"] == 5 and body["observed_until_s"] == 600
    assert ok.headers["location"].endswith(f"/api/jobs/{body['job_id']}")
    assert recorder.sent == [body["job_id"]]
    job = client.get(f"/api/jobs/{body['job_id']}").json()
    assert job["kind"] == "reforecast" and job["video_id"] == vid

    again = client.post(f"/api/videos/{vid}/events",
                        json={"events": [{"t": 5, "type": "like"}]}).json()  # fmt: skip
    assert again["appended"] == 0 and again["duplicates_skipped"] == 1 and again["n_events"] == 5

    early = client.post(f"/api/videos/{vid}/events",
                        json={"events": [{"t": 700, "type": "like"}], "observed_until_s": 650})  # fmt: skip
    assert early.status_code == 409 and "before the batch's latest event" in early.json()["detail"]
    missing = client.post("/api/videos/999/events", json={"events": [{"t": 1, "type": "like"}]})
    assert missing.status_code == 404
    _shape(missing.json())


def test_history_lists_every_forecast_oldest_first(api):
    client, services, _ = api
    vid = add_video(services, "history clip", [1, 2])
    m = add_model(services, "m-hist")
    first = add_prediction(services, vid, [], m)
    with transaction(services.sessions) as s:  # the next forecast saw more events
        from m3tr.core.db.models import Prediction

        s.get(Prediction, first).n_events = 2
    second = add_prediction(services, vid, [], m)
    items = client.get(f"/api/videos/{vid}/predictions").json()["items"]
    assert [i["prediction_id"] for i in items] == [first, second]
    assert items[0]["model_version"] == "m-hist" and items[0]["total"]["median"] == 132.0


def test_pagination_visits_each_video_once_while_rows_are_added(api):
    client, services, _ = api
    ids = {add_video(services, f"v{i}") for i in range(23)}
    seen: list[int] = []
    cursor = None
    while True:
        r = client.get("/api/videos", params={"limit": 5, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        seen += [v["id"] for v in r.json()["items"]]
        add_video(services, f"added during the walk {len(seen)}")
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) and ids <= set(seen)
    assert seen == sorted(seen, reverse=True)
    r = client.get("/api/videos", params={"q": "V1", "limit": 50}).json()["items"]
    assert {v["title"] for v in r} == {"v1", *(f"v{i}" for i in range(10, 20))}
    assert client.get("/api/videos", params={"cursor": "garbage"}).status_code == 422
    assert client.get("/api/videos", params={"state": "ready"}).json()["items"] == []


def test_jobs_list_filters_and_created_201_has_location(api, tmp_path):
    client, services, _ = api
    from tests.unit.ui.factories import synthetic_clip

    clip = synthetic_clip(tmp_path, "loc")
    with clip.open("rb") as fh:
        r = client.post("/api/videos", files={"media": ("loc.mp4", fh, "video/mp4")})
    assert r.status_code == 201
    assert r.headers["location"].endswith(f"/api/videos/{r.json()['video_id']}")
    assert client.get(r.headers["location"]).json()["status"] == "ingested"
    page = client.get("/api/jobs", params={"state": "queued", "kind": "ingest"}).json()
    assert [j["id"] for j in page["items"]] == [r.json()["job_id"]]
    assert client.get("/api/jobs", params={"state": "done"}).json()["items"] == []


def test_csv_and_parquet_exports_have_the_documented_columns(api):
    client, services, _ = api
    vid = add_video(services, "exported, with a comma")
    add_prediction(services, vid, [], add_model(services, "m-exp"))
    r = client.get("/api/predictions.csv")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    df = pd.read_csv(io.StringIO(r.text))
    types = list(services.settings.event_types)
    assert list(df.columns) == [*EXPORT_COLUMNS, *(f"{k}_{q}" for k in types
                                                   for q in ("median", "lo", "hi"))]  # fmt: skip
    row = df.iloc[0]
    assert row["title"] == "exported, with a comma" and row["like_median"] == 120.0
    assert row["model_version"] == "m-exp" and row["total_hi"] == 230.0
    pq = pd.read_parquet(io.BytesIO(client.get("/api/predictions.parquet").content))
    assert list(pq.columns) == list(df.columns) and pq["video_id"].tolist() == [vid]
    empty = pd.read_csv(io.StringIO(client.get("/api/predictions.csv?video_id=12345").text))
    assert len(empty) == 0 and list(empty.columns) == list(df.columns)


def test_models_list_activate_rollback(api):
    client, services, _ = api
    a = add_model(services, "fused-a")
    b = add_model(services, "fused-b")
    items = client.get("/api/models").json()["items"]
    assert [(m["name"], m["is_active"]) for m in items] == [("fused-b", True), ("fused-a", False)]
    assert "checkpoint_path" not in items[0]
    assert client.post(f"/api/models/{a}/activate").json()["is_active"] is True
    assert client.post("/api/models/rollback", params={"kind": "m3tr"}).json()["id"] == b
    r = client.post("/api/models/rollback", params={"kind": "mhp"})
    assert r.status_code == 409
    _shape(r.json())
    assert client.post("/api/models/999/activate").status_code == 404


def test_every_4xx_has_one_shape(api):
    client, _, _ = api
    for r in (
        client.get("/api/videos/123"),
        client.get("/api/videos", params={"limit": 0}),
        client.delete("/api/videos"),
        client.get("/api/nothing"),
        client.post("/api/videos"),
        client.post("/api/videos/1/events", content=b"not json",
                    headers={"content-type": "application/json"}),  # fmt: skip
    ):
        assert 400 <= r.status_code < 500, r.text
        _shape(r.json())


def test_openapi_lists_every_route_with_the_error_body(api):
    client, _, _ = api
    spec = client.get("/openapi.json").json()
    want = {"/api/videos", "/api/videos/{video_id}", "/api/videos/{video_id}/events",
            "/api/videos/{video_id}/predictions", "/api/jobs", "/api/predictions.csv",
            "/api/predictions.parquet", "/api/models", "/api/models/{model_id}/activate",
            "/api/models/rollback"}  # fmt: skip
    assert want <= set(spec["paths"])
    events = spec["paths"]["/api/videos/{video_id}/events"]["post"]
    assert "4XX" in events["responses"] and "ErrorBody" in str(events["responses"]["4XX"])
