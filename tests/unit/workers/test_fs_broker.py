"""The embedded broker's transport writes whole messages: a consumer never sees a half-written
file (kombu's own filesystem transport creates the file, then writes it)."""

from __future__ import annotations

import uuid
from pathlib import Path

from kombu import Connection

from m3tr.workers.fs_broker import Transport


def _connection(tmp_path: Path) -> tuple[Connection, Path]:
    """A connection whose queue and control folders are this test's own (no state shared
    with other tests or the working directory); returns it and the queue folder."""
    folder, control = tmp_path / "queue", tmp_path / "control"
    folder.mkdir()
    conn = Connection(
        transport=Transport,
        transport_options={"data_folder_in": str(folder), "data_folder_out": str(folder),
                           "control_folder": str(control), "store_processed": False},
    )  # fmt: skip
    return conn, folder


def test_messages_arrive_whole_and_no_temp_file_stays(tmp_path: Path) -> None:
    conn, folder = _connection(tmp_path)
    with conn:
        name = f"cpu{uuid.uuid4().hex}"  # kombu keeps declared exchanges per process: a fresh one
        queue = conn.SimpleQueue(name)
        queue.put({"job": 7, "step": "embed_content"})
        files = sorted(p.name for p in folder.iterdir())
        assert len(files) == 1 and files[0].endswith(f".{name}.msg") and not files[0].startswith(".")
        assert queue.get(timeout=2).payload == {"job": 7, "step": "embed_content"}
        queue.close()
    assert not any(p.name.endswith(".tmp") for p in folder.iterdir())


def test_a_message_still_being_written_is_not_taken(tmp_path: Path) -> None:
    """A writer's hidden temp file (here: empty, as mid-write) is skipped, not parsed."""
    conn, folder = _connection(tmp_path)
    with conn:
        name = f"cpu{uuid.uuid4().hex}"
        queue = conn.SimpleQueue(name)
        (folder / f".1_deadbeef.{name}.msg.tmp").write_bytes(b"")
        queue.put({"job": 8})
        assert queue.get(timeout=2).payload == {"job": 8}
        assert (folder / f".1_deadbeef.{name}.msg.tmp").exists()
        queue.close()
