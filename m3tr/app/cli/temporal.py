"""``m3tr temporal``: fit the Mamba-Hawkes Process on the event log in the database, forecast."""

from __future__ import annotations

import json
import shutil
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from m3tr.app.cli.common import console, fail, session_factory, settings
from m3tr.core.db import registry
from m3tr.core.db.models import Event, ModelVersion
from m3tr.core.db.session import transaction
from m3tr.core.temporal import (
    EventVocab,
    MHPModel,
    load_mhp,
    load_sequences,
    save_mhp,
)

app = typer.Typer(no_args_is_help=True)


def _vocab(types: str | None, found: list[str], declared: tuple[str, ...]) -> EventVocab:
    if types:
        return EventVocab(tuple(t.strip() for t in types.split(",") if t.strip()))
    ordered = [t for t in declared if t in found] + sorted(set(found) - set(declared))
    if not ordered:
        fail(
            "no events in the database: import some first (m3tr dataset import / m3tr events import)"
        )
    return EventVocab(tuple(ordered))


@app.command("fit")
def fit(
    name: str = typer.Option(..., "--name", help="model version name (unique)"),
    window_h: float | None = typer.Option(
        None, help="observation window: events in [0, window) hours (default M3TR_OBS_WINDOW_S)"
    ),
    types: str | None = typer.Option(
        None, help="event types, comma-separated (default: all found)"
    ),
    max_epochs: int = typer.Option(12, "--max-epochs", "--epochs", min=1, help="epoch cap"),
    patience: int = typer.Option(2, min=1, help="early stop after this many epochs without gain"),
    batch_size: int = typer.Option(32, min=1),
    lr: float = typer.Option(5e-3, min=0.0),
    max_events: int = typer.Option(
        512, "--max-events", "--max-len", min=1, help="events kept per window (cut ones counted)"
    ),
    sizes: str = typer.Option(
        "16-8-1,32-16-2", help="candidate sizes d_model-d_state-layers, chosen on validation"
    ),
    max_videos: int | None = typer.Option(None, min=1, help="train on at most this many videos"),
    seed: int = typer.Option(0),
    activate: bool = typer.Option(True, help="mark this version active for kind 'mhp'"),
) -> None:
    """Train the MHP on the events in the database by the shared recipe (early stopping and
    model size on a validation split) and register a model version (kind 'mhp')."""
    from m3tr.core.temporal.recipe import recipe_from_params, train_mhp

    s = settings()
    window_h = window_h if window_h is not None else s.obs_window_s / 3600.0
    factory = session_factory()
    with factory() as session:
        if session.scalar(select(ModelVersion.id).where(ModelVersion.name == name)) is not None:
            fail(f"model version {name!r} already exists: choose another --name")
        found = [r[0] for r in session.execute(select(Event.type).distinct()).all()]
        vocab = _vocab(types, found, tuple(s.event_types))
        seqs = load_sequences(session, vocab, window_s=window_h * 3600.0)
    if not seqs:
        fail(f"no events of types {list(vocab.types)} within {window_h} h of publication")
    if max_videos is not None:
        seqs = seqs[:max_videos]
    try:
        recipe = recipe_from_params(
            {"max_epochs": max_epochs, "patience": patience, "batch_size": batch_size,
             "lr": lr, "max_events": max_events, "sizes": sizes, "seed": seed}
        )  # fmt: skip
    except ValueError as exc:
        fail(str(exc))
    n_events = sum(len(q) for q in seqs)
    console.print(f"training on {len(seqs)} videos, {n_events} events, types {list(vocab.types)}")
    directory = s.model_dir / name
    if directory.exists():
        fail(f"{directory} already exists: remove it or choose another --name")
    with Progress(
        TextColumn("[bold]fit[/]"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), console=console,
    ) as bar:  # fmt: skip
        task = bar.add_task("fit", total=1.0)
        result = train_mhp(
            seqs, vocab, recipe, progress=lambda f: bar.update(task, completed=f),
            device=s.device, t_obs_s=window_h * 3600.0,
        )  # fmt: skip
    checkpoint = save_mhp(result.model, directory)
    metrics: dict[str, Any] = {
        "val_nll_per_event": result.val_nll_per_event,
        "epochs": result.epochs,
        "size": result.record()["size"],
        "truncated_windows": result.truncated,
        "n_videos": len(seqs),
        "n_events": n_events,
        "window_s": window_h * 3600.0,
    }
    try:
        with transaction(factory) as session:
            row = registry.register(
                session,
                name=name,
                kind="mhp",
                config={"mhp": result.model.config.to_dict(), "recipe": result.record()},
                metrics=metrics,
                checkpoint_path=str(checkpoint.parent),
            )
            if activate:  # with the newest bank built on it, if any (else the live bank stays)
                registry.activate(session, "mhp", row.id, registry.bank_for(session, row.id))
    except Exception:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    console.print(f"saved model version [bold]{name}[/] at {checkpoint.parent}")
    typer.echo(json.dumps({"name": name, "checkpoint": str(checkpoint.parent), **metrics}))


@app.command("forecast")
def forecast_cmd(
    video_id: int = typer.Argument(..., help="video id in the database"),
    model_name: str | None = typer.Option(
        None, "--model", help="model version (default: active mhp)"
    ),
    t_obs_h: float = typer.Option(1.0, help="observation window, hours"),
    horizon_h: float = typer.Option(168.0, help="horizon, hours"),
    n_paths: int = typer.Option(200, min=1),
    seed: int = typer.Option(0),
) -> None:
    """Forecast a video's counts at the horizon from its events in [0, t_obs]; prints JSON."""
    factory = session_factory()
    with factory() as session:
        stmt = select(ModelVersion).where(ModelVersion.kind == "mhp")
        stmt = (
            stmt.where(ModelVersion.name == model_name)
            if model_name
            else stmt.where(ModelVersion.is_active)
        )
        mv = session.scalars(stmt.order_by(ModelVersion.id.desc())).first()
        if mv is None or not mv.checkpoint_path:
            fail(f"no MHP model version {model_name or '(active)'}: run m3tr temporal fit first")
        mhp = load_mhp(mv.checkpoint_path)
        vocab = EventVocab(mhp.config.type_names)
        seqs = load_sequences(session, vocab, video_ids=[video_id], window_s=t_obs_h * 3600.0)
    from m3tr.core.temporal import EventSequence

    seq = seqs[0] if seqs else EventSequence([], [], t_obs_h * 3600.0, video_id)
    wrapper = MHPModel(mhp.config)
    wrapper.module = mhp
    fc = wrapper.forecast(seq, t_obs_h * 3600.0, horizon_h * 3600.0, n_paths=n_paths, seed=seed)
    out = {
        "video_id": video_id,
        "model": mv.name,
        "cold_start": fc.cold_start,
        "observed": dict(zip(fc.type_names, fc.observed_counts.tolist(), strict=True)),
        "final": {
            name: dict(
                zip(
                    [f"q{int(q * 100)}" for q in fc.quantile_levels],
                    fc.final_quantiles[:, k].tolist(),
                    strict=True,
                )
            )
            for k, name in enumerate(fc.type_names)
        },
    }
    typer.echo(json.dumps(out))
