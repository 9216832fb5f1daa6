"""``m3tr content``: probe media files, fit the text encoder on the database's texts, embed the
database's videos, show stored features."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from m3tr.app.cli.common import console, fail, session_factory, settings
from m3tr.app.settings import ENCODER_ROLES
from m3tr.core.content.config import get_profile
from m3tr.core.content.decode import decode_clip, probe_media
from m3tr.core.content.errors import ContentError
from m3tr.core.content.fitting import resolve_profile
from m3tr.core.content.store import FeatureStore

app = typer.Typer(no_args_is_help=True)


def _profile(name: str | None, models: list[str]):
    s = settings()
    try:
        profile = get_profile(name or s.encoder_profile)
    except ValueError as exc:
        fail(str(exc))
    overrides = s.encoder_overrides()  # M3TR_ENCODER_MODELS, then --model on top
    for spec in models:
        role, _, model = spec.partition("=")
        if role not in ENCODER_ROLES or not model:
            fail(
                f"--model {spec!r}: expected ROLE=ID_OR_PATH with ROLE one of "
                f"{', '.join(ENCODER_ROLES)}"
            )
        overrides[ENCODER_ROLES[role]] = model
    profile = profile.with_overrides(**overrides) if overrides else profile
    return resolve_profile(profile, FeatureStore(s.feature_dir))  # the text fit in use


@app.command()
def probe(
    file: Path = typer.Argument(..., help="A video or audio file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    frames: int = typer.Option(10, "--frames", "-k", min=1, help="Key frames to sample."),
) -> None:
    """Decode a file as the pipeline would and report what was found."""
    cfg = replace(get_profile("lite").decode, num_frames=frames)
    try:
        info = probe_media(file)
        clip = decode_clip(file, cfg)
    except ContentError as exc:
        fail(str(exc))
    out = {
        "path": str(file),
        "has_video": clip.has_video,
        "has_audio": clip.has_audio,
        "duration_s": round(clip.duration_s, 4),
        "video_codec": info.video_codec,
        "audio_codec": info.audio_codec,
        "width": info.width,
        "height": info.height,
        "rotation": info.rotation,
        "fps": info.fps,
        "frames_sampled": int(clip.frames.shape[0]) if clip.frames is not None else 0,
        "frame_times": [round(float(t), 4) for t in clip.frame_times],
        "frame_pts": [round(float(t), 4) for t in clip.frame_pts] if clip.has_video else [],
        "frame_size": list(clip.frames.shape[1:3]) if clip.frames is not None else None,
        "audio_seconds": round(clip.audio_seconds, 4),
        "sample_rate": clip.sample_rate,
        "source_sample_rate": info.audio_sample_rate,
        "audio_segment_samples": int(clip.audio.shape[1]),
    }
    if as_json:
        typer.echo(json.dumps(out))
    else:
        for key, value in out.items():
            console.print(f"[bold]{key}[/]: {value}")


def _fit_text(prof, store: FeatureStore):  # noqa: ANN001, ANN202
    from m3tr.core.content.db_embed import fit_database_text

    try:
        fitted = fit_database_text(session_factory(), store, prof)
    except ValueError as exc:
        fail(str(exc))
    console.print(f"text encoder fitted on the database's texts: [bold]{fitted.profile_version}[/]")
    return fitted


@app.command("fit-text")
def fit_text(
    profile: str = typer.Option(None, "--profile", help="lite or paper (default: settings)."),
) -> None:
    """Fit the profile's text encoder (lite: character n-grams + SVD) on every video's title and
    description, and use it from now on. A new fit is a new profile version: run
    ``m3tr content embed`` and ``m3tr bank rebuild`` afterwards."""
    s = settings()
    prof = _profile(profile, [])
    if prof.text_encoder != "ngram":
        fail(f"profile {prof.name!r} has no fitted text encoder (its text model is pretrained)")
    _fit_text(prof.unfitted(), FeatureStore(s.feature_dir))


@app.command()
def embed(
    profile: str = typer.Option(None, "--profile", help="lite or paper (default: settings)."),
    model: list[str] = typer.Option([], "--model", help="Override a model: ROLE=ID_OR_PATH."),
    limit: int = typer.Option(None, "--limit", min=1, help="At most this many videos."),
    media_only: bool = typer.Option(False, "--media-only", help="Skip videos without media."),
    workers: int = typer.Option(2, "--workers", min=1, help="Parallel decoding threads."),
) -> None:
    """Compute content features of the database's videos (resumable: stored ones are skipped)."""
    from m3tr.core.content.db_embed import embed_database
    from m3tr.core.content.pipeline import load_profile

    s = settings()
    prof = _profile(profile, model)
    store = FeatureStore(s.feature_dir)
    if prof.needs_text_fit:  # first embedding: fit the text encoder on the database's texts
        prof = _fit_text(prof, store)
    try:
        pipe = load_profile(prof, s.device)
    except ContentError as exc:
        fail(str(exc))
    console.print(f"profile [bold]{prof.profile_version}[/] on {s.device}; store {store.root}")
    with Progress(
        TextColumn("embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("embed", total=None)
        report = embed_database(
            session_factory(),
            store,
            pipe,
            media_only=media_only,
            limit=limit,
            decode_workers=workers,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"{report.embedded} embedded ({report.text_only} text only), {report.skipped} already "
        f"stored, {len(report.failed)} failed"
    )
    for key, reason in list(report.failed.items())[:20]:
        console.print(f"  [red]video {key}[/]: {reason}")


@app.command()
def show(
    video_id: int = typer.Argument(..., help="Video id in the database."),
    profile: str = typer.Option(None, "--profile", help="lite or paper (default: settings)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """Show the stored features of one video."""
    s = settings()
    prof = _profile(profile, [])
    try:
        f = FeatureStore(s.feature_dir).get(str(video_id), prof.profile_version)
    except (KeyError, ValueError) as exc:
        fail(str(exc).strip("'\""))
    out = {
        "video_id": video_id,
        "profile": f.profile,
        "profile_version": f.profile_version,
        "has_video": f.has_video,
        "has_audio": f.has_audio,
        "E_v": list(f.E_v.shape),
        "E_a": list(f.E_a.shape),
        "E_t": list(f.E_t.shape),
        "R": list(f.R.shape),
        "captions": f.captions,
    }
    if as_json:
        typer.echo(json.dumps(out))
    else:
        for key, value in out.items():
            console.print(f"[bold]{key}[/]: {value}")
