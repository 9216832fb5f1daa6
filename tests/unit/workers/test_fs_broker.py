"""The embedded broker's transport writes whole messages: a consumer never sees a half-written
file (kombu's own filesystem transport creates the file, then writes it)."""

from __future__ import annotations

from pathlib import Path

from kombu import Connection

from m3tr.workers.fs_broker import Transport


def _connection(folder: Path) -> Connection:
    return Connection(
        transport=Transport,
        transport_options={"data_folder_in": str(folder), "data_folder_out": str(folder),
                           "control_folder": str(folder.parent / "control"),
                           "store_processed": False},
    )  # fmt: skip


def test_messages_arrive_whole_and_no_temp_file_stays(tmp_path: Path) -> None:
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("cpu")
        queue.put({"job": 7, "step": "embed_content"})
        files = sorted(p.name for p in tmp_path.iterdir())
        assert len(files) == 1 and files[0].endswith(".cpu.msg") and not files[0].startswith(".")
        assert queue.get(timeout=2).payload == {"job": 7, "step": "embed_content"}
        queue.close()
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_a_message_still_being_written_is_not_taken(tmp_path: Path) -> None:
    """A writer's hidden temp file (here: empty, as mid-write) is skipped, not parsed."""
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("cpu")
        (tmp_path / ".1_deadbeef.cpu.msg.tmp").write_bytes(b"")
        queue.put({"job": 8})
        assert queue.get(timeout=2).payload == {"job": 8}
        assert (tmp_path / ".1_deadbeef.cpu.msg.tmp").exists()
        queue.close()
