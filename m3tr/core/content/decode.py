"""Decode K key frames by timestamp and the audio segments aligned with them (PyAV).

Frames are sampled at the centres of K equal time slices of the video. Instead of decoding every
frame, the decoder seeks to the key frame (GOP start) before each sample time, and only when that
GOP lies ahead of where it already is; so variable frame rates are handled by timestamps, not by
frame counts. Frames are downscaled inside the decoder's converter, and display rotation
(the stream's display matrix) is applied.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from m3tr.core.content.audio import cut_segments, decode_audio_stream, segment_bounds
from m3tr.core.content.config import DecodeConfig
from m3tr.core.content.errors import DecodeError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaProbe:
    """What a media file's header says (no decoding)."""

    path: str
    has_video: bool
    has_audio: bool
    duration_s: float
    width: int  # display width, rotation applied
    height: int
    rotation: int  # degrees counter-clockwise, from the display matrix
    fps: float | None
    video_codec: str | None
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: int | None


@dataclass
class DecodedClip:
    """K key frames and the audio aligned with them.

    Attributes:
        frames: (K, H, W, 3) uint8 RGB, rotation applied; ``None`` for an audio-only file.
        next_frames: (K, H, W, 3) uint8, the frame right after each key frame (motion), or ``None``.
        frame_times: (K,) float64, the sample times requested (seconds).
        frame_pts: (K,) float64, presentation times of the frames returned.
        audio: (K, S) float32 mono at ``sample_rate``, segment k centred on ``frame_times[k]``;
            zeros when ``has_audio`` is False.
        segment_bounds: (K, 2) float64 [start, end) seconds of each audio segment.
    """

    path: str
    frames: np.ndarray | None
    next_frames: np.ndarray | None
    frame_times: np.ndarray
    frame_pts: np.ndarray
    audio: np.ndarray
    segment_bounds: np.ndarray
    sample_rate: int
    has_video: bool
    has_audio: bool
    audio_seconds: float
    duration_s: float
    rotation: int
    source_size: tuple[int, int]  # (width, height) as coded, before rotation and resizing


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise DecodeError(path, "no such file")
    if not path.is_file():
        raise DecodeError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise DecodeError(path, "empty file (0 bytes)")
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise DecodeError(path, f"not a readable media file ({exc.strerror or exc})") from exc


def _media_duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    """Seconds covered by the file (all streams: a still image over a soundtrack lasts as long
    as the soundtrack), else the main stream's own duration, else 0."""
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return 0.0


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first video stream that is real video, not cover art (an attached picture)."""
    for vs in container.streams.video:
        if not vs.disposition & av.stream.Disposition.attached_pic:
            return vs
    return None


def probe_media(path: str | Path) -> MediaProbe:
    """Read a media file's header: streams, duration, size, codec names.

    Raises:
        DecodeError: missing, empty or non-media file, or no audio and no video stream.
    """
    path = Path(path)
    with _open(path) as container:
        vs = _video_stream(container)
        aus = container.streams.audio[0] if container.streams.audio else None
        if vs is None and aus is None:
            raise DecodeError(path, "no video or audio stream")
        rotation = 0
        width = height = 0
        if vs is not None:
            width, height = vs.codec_context.width, vs.codec_context.height
            rotation = _first_frame_rotation(container, vs)
            if rotation % 180 != 0:
                width, height = height, width
        duration = _media_duration(container, vs if vs is not None else aus)
        return MediaProbe(
            path=str(path),
            has_video=vs is not None,
            has_audio=aus is not None,
            duration_s=duration,
            width=width,
            height=height,
            rotation=rotation,
            fps=float(vs.average_rate) if vs is not None and vs.average_rate else None,
            video_codec=vs.codec_context.name if vs is not None else None,
            audio_codec=aus.codec_context.name if aus is not None else None,
            audio_sample_rate=aus.codec_context.sample_rate if aus is not None else None,
            audio_channels=aus.codec_context.channels if aus is not None else None,
        )


def check_complete(path: str | Path) -> None:
    """Decode the first video frame and check the index against the bytes present.

    A file cut short after its index (``moov`` at the front) probes fine; this finds it: the
    first frame must decode, and the index's packets must all be in the file (every packet the
    index lists is demuxed, none reaching past the end). Reads the file once, decodes one frame.

    Raises:
        DecodeError: no video stream, first frame undecodable, or the file is truncated.
    """
    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    with _open(path) as container:
        vs = _video_stream(container)
        if vs is None:
            raise DecodeError(path, "no video stream")
        try:
            next(iter(container.decode(vs)))
        except (av.FFmpegError, StopIteration) as exc:
            raise DecodeError(path, f"its first frame cannot be decoded ({exc})") from None
    with _open(path) as container:
        vs = _video_stream(container)
        listed, found, end = int(vs.frames or 0), 0, 0
        try:
            for packet in container.demux(vs):
                if packet.size:
                    found += 1
                    if packet.pos is not None and packet.pos >= 0:
                        end = max(end, packet.pos + packet.size)
        except av.FFmpegError as exc:
            raise DecodeError(path, f"truncated or corrupt after {found} frames ({exc})") from None
    if end > size or (listed and found < listed):
        raise DecodeError(
            path, f"truncated: its index lists {listed} video frames, only {found} are in the file"
        )


def _first_frame_rotation(
    container: av.container.InputContainer, vs: av.video.stream.VideoStream
) -> int:
    try:
        for frame in container.decode(vs):
            return int(round(frame.rotation or 0))
    except av.FFmpegError:
        return 0
    return 0


def _target_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Size (w, h) with the longer side at most ``max_side``, aspect kept, never upscaled."""
    scale = min(1.0, max_side / max(width, height, 1))
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


def _to_rgb(frame: av.VideoFrame, size: tuple[int, int]) -> tuple[np.ndarray, int]:
    """Downscale then rotate one frame. Returns ((H, W, 3) uint8, rotation degrees CCW)."""
    img = frame.to_ndarray(format="rgb24", width=size[0], height=size[1], interpolation="AREA")
    rotation = int(round(frame.rotation or 0))
    quarter_turns = int(round(rotation / 90.0)) % 4
    if quarter_turns:
        img = np.ascontiguousarray(np.rot90(img, k=quarter_turns))  # (H, W, 3) after turn
    return img, rotation


def _keyframe_times(vs: av.video.stream.VideoStream, keyframes_only: bool = True) -> list[float]:
    """Sorted (decode) times of the indexed key frames (or of all indexed frames); [] if no index."""
    try:
        entries = vs.index_entries
    except (AttributeError, av.FFmpegError):
        return []
    tb = float(vs.time_base)
    return sorted(e.timestamp * tb for e in entries if e.is_keyframe or not keyframes_only)


def _sample_frames(
    path: Path,
    container: av.container.InputContainer,
    vs: av.video.stream.VideoStream,
    times: np.ndarray,
    cfg: DecodeConfig,
) -> tuple[list[np.ndarray], list[np.ndarray | None], np.ndarray, int, tuple[int, int]]:
    """Frame shown at each time in ``times`` (ascending), seeking GOP by GOP."""
    vs.thread_type = "AUTO"
    vs.codec_context.thread_count = cfg.decode_threads
    ctx = vs.codec_context
    if cfg.fast_decode:
        ctx.options = {"skip_loop_filter": "all"}
    src = (vs.codec_context.width, vs.codec_context.height)
    size = _target_size(*src, cfg.max_side)
    keyframes = _keyframe_times(vs)
    tb = float(vs.time_base)

    frames: list[np.ndarray] = []
    nexts: list[np.ndarray | None] = []
    pts: list[float] = []
    rotation = 0
    decoder = None
    last: tuple[float, av.VideoFrame] | None = None  # latest decoded frame at or before target
    pending: tuple[float, av.VideoFrame] | None = None  # decoded frame after the target
    position = -np.inf  # time of the latest frame the decoder produced

    def frame_time(f: av.VideoFrame) -> float:
        return float(f.pts * tb) if f.pts is not None else position + 1e-6

    for t in times:
        g = bisect.bisect_right(keyframes, t) - 1
        gop_start = keyframes[g] if g >= 0 else None
        if decoder is None or (gop_start is not None and gop_start > position + 1e-9):
            if gop_start is not None and decoder is not None:
                # Seek to the target itself: index timestamps are decode times, and seeking
                # backward from the target lands on the key frame at or before it.
                container.seek(int(t / tb), stream=vs, backward=True)
            decoder = container.decode(vs)
            last, pending = None, None
        while pending is None or pending[0] <= t + 1e-6:
            if pending is not None:
                last = pending
                pending = None
            # Far from the target, skip frames no other frame references (B-frames): they
            # cannot be the one shown at the target, and decoding them is most of the cost.
            far = t - position > cfg.skip_window_s
            ctx.skip_frame = "NONREF" if far else "DEFAULT"
            try:
                f = next(decoder)
            except StopIteration:
                break
            except av.FFmpegError as exc:
                raise DecodeError(
                    path, f"corrupt or truncated video data near {t:.2f} s ({exc.strerror or exc})"
                ) from exc
            position = frame_time(f)
            pending = (position, f)
        chosen = last if last is not None else pending
        if chosen is None:
            raise DecodeError(path, "no video frame could be decoded")
        img, rotation = _to_rgb(chosen[1], size)
        frames.append(img)
        pts.append(chosen[0])
        if cfg.motion_pair:
            nxt = pending if (pending is not None and pending is not chosen) else None
            nexts.append(_to_rgb(nxt[1], size)[0] if nxt is not None else img)
        else:
            nexts.append(None)
    return frames, nexts, np.asarray(pts, dtype=np.float64), rotation, src


def decode_clip(path: str | Path, cfg: DecodeConfig) -> DecodedClip:
    """Decode K key frames (by timestamp) and the K audio segments centred on them.

    A file without audio gives zero segments and ``has_audio=False``; an audio-only file gives
    ``frames=None`` and ``has_video=False``. A file whose video data stops well before its
    declared duration is refused as truncated.

    Raises:
        DecodeError: missing/empty/non-media file, no streams, corrupt or truncated data,
            longer than ``cfg.max_duration_s``.
    """
    path = Path(path)
    with _open(path) as container:
        vs = _video_stream(container)
        has_audio_stream = bool(container.streams.audio)
        if vs is None and not has_audio_stream:
            raise DecodeError(path, "no video or audio stream")
        main = vs if vs is not None else container.streams.audio[0]
        duration = _media_duration(container, main)
        if duration > cfg.max_duration_s:
            raise DecodeError(
                path, f"duration {duration:.0f} s exceeds the limit of {cfg.max_duration_s:.0f} s"
            )
        start = float(main.start_time * main.time_base) if main.start_time is not None else 0.0
        k = cfg.num_frames
        times = start + (np.arange(k) + 0.5) * max(duration, 0.0) / k  # (K,)

        frames_arr = next_arr = None
        pts = times.copy()
        rotation, src = 0, (0, 0)
        if vs is not None:
            frames, nexts, pts, rotation, src = _sample_frames(path, container, vs, times, cfg)
            # Truncated: the index lists frames well after the last one that decoded. (A still
            # image held over a long soundtrack has no such frames, and is fine.)
            tolerance = max(1.0, 0.1 * duration)
            indexed = _keyframe_times(vs, keyframes_only=False)
            last_indexed = indexed[-1] if indexed else pts[-1]
            if times[-1] - pts[-1] > tolerance and last_indexed - pts[-1] > tolerance:
                raise DecodeError(
                    path,
                    f"truncated: video data ends at {pts[-1]:.2f} s of a declared {duration:.2f} s",
                )
            frames_arr = np.stack(frames)  # (K, H, W, 3)
            if cfg.motion_pair:
                next_arr = np.stack(nexts)  # (K, H, W, 3)

    samples, a_start = np.zeros(0, dtype=np.float32), 0.0
    if has_audio_stream:
        try:
            with _open(path) as container:
                samples, a_start = decode_audio_stream(container, cfg.sample_rate)
        except av.FFmpegError as exc:
            if vs is None:
                raise DecodeError(path, f"corrupt audio data ({exc.strerror or exc})") from exc
            logger.warning("%s: audio could not be decoded (%s); treating as silent", path, exc)
            samples = np.zeros(0, dtype=np.float32)
    has_audio = samples.size > 0
    if vs is None and not has_audio:
        raise DecodeError(path, "audio-only file whose audio could not be decoded")
    bounds = segment_bounds(times, duration, cfg.max_segment_s)  # (K, 2)
    audio = cut_segments(samples, a_start, bounds, cfg.sample_rate)  # (K, S)
    return DecodedClip(
        path=str(path),
        frames=frames_arr,
        next_frames=next_arr,
        frame_times=times,
        frame_pts=pts,
        audio=audio,
        segment_bounds=bounds,
        sample_rate=cfg.sample_rate,
        has_video=vs is not None,
        has_audio=has_audio,
        audio_seconds=samples.size / cfg.sample_rate,
        duration_s=duration,
        rotation=rotation,
        source_size=src,
    )
