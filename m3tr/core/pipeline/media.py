"""Step ``store_media``: copy an upload into the content-addressed media folder, hash it, probe it.

The copy is streamed to a temporary file next to its destination while hashing, probed there
(a file that is not media never enters the store), then renamed to ``<sha256>.<ext>``: a reader
sees the whole file or nothing, and the same bytes uploaded twice are stored once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import tempfile
from pathlib import Path

from m3tr.core.content.decode import MediaProbe, probe_media
from m3tr.core.content.errors import DecodeError
from m3tr.core.db.models import Video
from m3tr.core.db.session import transaction
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.errors import BadInputError

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_hashing(src: Path, dst_dir: Path) -> tuple[Path, str]:
    """Copy ``src`` to a temporary file in ``dst_dir`` while hashing it; returns (tmp, sha256)."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".upload.", suffix=src.suffix.lower(), dir=dst_dir)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, src.open("rb") as fh:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(block)
                out.write(block)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return Path(tmp_name), digest.hexdigest()


def store_media(ctx: PipelineContext, video_id: int, upload_path: str | Path) -> MediaProbe:
    """Store, hash and probe the upload of ``video_id``; record it on the video row.

    Idempotent: the same bytes land at the same path and the row gets the same values.

    Raises:
        BadInputError: the upload is missing. DecodeError: it is not usable media.
    """
    src = Path(upload_path)
    if not src.is_file():
        raise BadInputError(f"{src}: upload not found (video {video_id})")
    tmp, sha = _copy_hashing(src, ctx.media_dir)
    target = ctx.media_dir / f"{sha}{src.suffix.lower() or '.bin'}"
    try:
        try:
            probe = probe_media(tmp)
        except DecodeError as exc:  # name the upload, not the temporary copy
            raise DecodeError(src, exc.reason) from None
        if not probe.has_video and not probe.has_audio:
            raise BadInputError(f"{src}: neither a video nor an audio stream")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    info = dataclasses.asdict(probe)
    info["path"] = str(target)
    info["upload_name"] = src.name
    with transaction(ctx.session_factory) as session:
        video = session.get(Video, video_id)
        if video is None:
            raise BadInputError(f"video {video_id} does not exist")
        video.media_path = str(target)
        video.media_sha256 = sha
        video.duration_s = float(probe.duration_s)
        video.extra = {**(video.extra or {}), "probe": info}
    log.info(
        "video %d: stored %s as %s (%.1f s)", video_id, src.name, target.name, probe.duration_s
    )
    return probe
