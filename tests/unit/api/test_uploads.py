"""Uploads: validated completely before anything is written; server-chosen names only."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import func, select

from m3tr.app.views.uploads import UploadError, display_name, ingest_upload
from m3tr.core.db.models import Event, Job, JobState, Video
from tests.unit.ui.factories import make_services, synthetic_clip


def _counts(services) -> tuple[int, int, int]:
    with services.sessions() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Video, Event, Job))  # type: ignore[return-value]


def _media_files(services) -> list[Path]:
    return [p for p in services.settings.media_dir.rglob("*") if p.is_file()]


@pytest.fixture
def svc(tmp_path):
    services, recorder = make_services(tmp_path / "home")
    return services, recorder


@pytest.fixture
def clip(tmp_path) -> Path:
    return synthetic_clip(tmp_path / "in", "upload")


def test_good_upload_creates_video_events_and_job_then_enqueues(svc, clip, tmp_path):
    services, recorder = svc
    events = tmp_path / "log.csv"
    events.write_text("t,type,user\n5,like,a\n2,comment,b\n9,like,c\n")
    sub = ingest_upload(services, clip, "../../evil/name.mp4", events, "log.csv", "My title")
    assert _counts(services) == (1, 3, 1)
    assert recorder.sent == [sub.job_id] and recorder.committed == [True]
    with services.sessions() as s:
        video = s.get(Video, sub.video_id)
        job = s.get(Job, sub.job_id)
        assert video.title == "My title" and video.status == "ingested"
        assert job.state == JobState.QUEUED and job.video_id == video.id
        stored = Path(video.media_path)
    # stored under a server-chosen name inside the media folder, never the client's name
    assert stored.parent == services.settings.media_dir.resolve()
    assert stored.name.startswith("upload-") and "evil" not in str(stored)
    assert stored.read_bytes() == clip.read_bytes()
    assert sub.n_events == 3 and sub.duration_s > 0.5
    assert not list((services.settings.media_dir / ".incoming").iterdir())


def test_upload_from_stream(svc, clip):
    services, recorder = svc
    with clip.open("rb") as fh:
        sub = ingest_upload(services, fh, "clip.MOV", io.BytesIO(b'{"t": 1, "type": "share"}\n'),
                            "e.jsonl")  # fmt: skip
    assert sub.n_events == 1 and recorder.sent == [sub.job_id]


def test_not_a_video_is_refused_and_nothing_written(svc, tmp_path):
    services, recorder = svc
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"this is text, not a video" * 100)
    with pytest.raises(UploadError, match="fake.mp4 is not a readable video"):
        ingest_upload(services, fake, "fake.mp4")
    assert _counts(services) == (0, 0, 0)
    assert _media_files(services) == [] and recorder.sent == []


def test_wrong_extension_is_refused(svc, clip):
    services, _ = svc
    with pytest.raises(UploadError, match=r"notes.txt is not a video file we accept"):
        ingest_upload(services, clip, "notes.txt")
    assert _counts(services) == (0, 0, 0)


def test_too_large_is_refused_and_nothing_written(tmp_path, clip):
    services, recorder = make_services(tmp_path / "home", max_upload_mb=1)
    big = tmp_path / "big.mp4"
    big.write_bytes(clip.read_bytes() + b"\0" * (1 << 20))
    with pytest.raises(UploadError, match="too large"):
        ingest_upload(services, big, "big.mp4")
    with big.open("rb") as fh, pytest.raises(UploadError, match="too large"):
        ingest_upload(services, fh, "big.mp4")
    assert _counts(services) == (0, 0, 0) and _media_files(services) == []


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("t,type\n1,like\n2,retweet\n", "log.csv", r"log.csv, line 3, column 'type': unknown"),
        ("t,type\n-4,like\n", "log.csv", "negative time"),
        ("time,kind\n1,like\n", "log.csv", "missing column 't'"),
        ('{"t": 1, "type": "like"}\nnot json\n', "log.jsonl", "line 2: not valid JSON"),
        ("t,type\n1,like\n", "log.xlsx", "unsupported event-log type"),
    ],
)
def test_bad_event_log_is_refused_and_nothing_written(svc, clip, tmp_path, content, name, message):
    services, recorder = svc
    events = tmp_path / "upload-events"
    events.write_text(content)
    with pytest.raises(UploadError, match=message):
        ingest_upload(services, clip, "clip.mp4", events, name)
    assert _counts(services) == (0, 0, 0)
    assert _media_files(services) == [] and recorder.sent == []


def test_failed_enqueue_marks_the_job_failed(tmp_path, clip):
    services, _ = make_services(tmp_path / "home")

    def broken(job_id: int) -> None:
        raise ConnectionError("broker down")

    services.enqueue = broken
    sub = ingest_upload(services, clip, "clip.mp4")
    with services.sessions() as s:
        job = s.get(Job, sub.job_id)
    assert job.state == JobState.FAILED and "broker down" in job.error


def test_display_name_keeps_only_the_last_component():
    assert display_name("../../etc/passwd.mp4", "x") == "passwd.mp4"
    assert display_name("C:\\Users\\me\\clip.webm", "x") == "clip.webm"
    assert display_name(None, "the video") == "the video"
    assert display_name("a\x00b.mp4", "x") == "ab.mp4"


def faststart_copy(src: Path, dest: Path) -> Path:
    """A real clip remuxed with its index (moov) at the front, as phones and encoders write it."""
    import av

    with (
        av.open(str(src)) as inp,
        av.open(str(dest), "w", options={"movflags": "faststart"}) as out,
    ):
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams.video}
        for packet in inp.demux(*inp.streams.video):
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return dest


@pytest.mark.parametrize("keep", [20_000, 0.6])
def test_truncated_mp4_with_its_index_in_front_is_refused_and_nothing_written(
    svc, data_dir, tmp_path, keep
):
    services, recorder = svc
    whole = faststart_copy(data_dir / "media" / "archery.mp4", tmp_path / "fast.mp4")
    data = whole.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # the index comes first
    n = keep if isinstance(keep, int) else int(len(data) * keep)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[:n])  # what `head -c` leaves
    with pytest.raises(UploadError, match="cut.mp4 is not a complete video"):
        ingest_upload(services, cut, "cut.mp4")
    assert _counts(services) == (0, 0, 0) and _media_files(services) == []
    assert recorder.sent == []
    ingest_upload(services, whole, "fast.mp4")  # the whole file is fine
    assert _counts(services)[0] == 1


def test_long_file_names_keep_their_suffix():
    name = display_name("v" * 300 + ".mp4", "the video")
    assert len(name) <= 120 and name.endswith(".mp4")
