"""``m3tr model``: list model versions, activate one, roll back, register a checkpoint.

Every switch goes through ``m3tr.core.db.registry`` (one active version per kind; a temporal
model comes with the newest bank built on its trajectory vectors). The next forecasts use the
version made active; forecasts already made keep the version that made them.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from m3tr.app.cli.common import (
    choices,
    console,
    fail,
    print_records,
    session_factory,
    settings,
    value,
)
from m3tr.core.db import registry
from m3tr.core.db.session import transaction

app = typer.Typer(no_args_is_help=True)
KINDS = ["m3tr", "mhp"]
KindChoice = choices("KindChoice", KINDS)


def _scores(metrics: dict) -> str:
    """A short view of a version's evaluation (validation scores or training loss)."""
    val = metrics.get("val") or {}
    if val:
        keys = [k for k in ("nMSE", "SRC", "PLCC", "MAE") if k in val] or list(val)[:4]
        return ", ".join(f"{k} {float(val[k]):.3f}" for k in keys)
    if "train_nll_per_event" in metrics:
        return f"nll/event {float(metrics['train_nll_per_event']):.3f}"
    return ""


@app.command("list")
def list_(
    kind: KindChoice | None = typer.Option(None, "--kind"),
    as_json: bool = typer.Option(False, "--json", help="A JSON array on stdout."),
) -> None:
    """Model versions, newest first: which is active, when, and their evaluation."""
    settings()
    with session_factory()() as session:
        versions = registry.list_versions(session, value(kind))
    records = [v.to_dict() for v in versions]
    if not as_json:
        for r, v in zip(records, versions, strict=True):
            r["active"] = "yes" if v.is_active else ""
            r["evaluation"] = _scores(v.metrics)
    cols = ["id", "name", "kind", "active", "created_at", "activated_at", "evaluation"]
    print_records(records, cols, f"{len(records)} model versions", as_json)


def _switch(ref: str | None, kind: str | None, as_json: bool) -> None:
    settings()
    try:
        with transaction(session_factory()) as session:
            now = registry.switch(session, ref, kind)
            bank = registry.bank_for(session, now.id) if now.kind == "mhp" else None
    except registry.RegistryError as exc:
        fail(str(exc))
    console.print(
        f"model version [bold]{now.name}[/] (id {now.id}) is the active {now.kind} model"
        + (f" with its bank {bank}" if bank is not None else "")
        + "; the next forecasts use it"
    )
    if as_json:
        typer.echo(json.dumps({"id": now.id, "name": now.name, "kind": now.kind}))


@app.command("activate")
def activate(
    version: str = typer.Argument(..., help="Model version id or name."),
    as_json: bool = typer.Option(False, "--json", help="The version now active, JSON on stdout."),
) -> None:
    """Make VERSION the active model of its kind."""
    _switch(version, None, as_json)


@app.command("rollback")
def rollback(
    kind: KindChoice = typer.Option("m3tr", "--kind"),
    as_json: bool = typer.Option(False, "--json", help="The version now active, JSON on stdout."),
) -> None:
    """Re-activate the version of KIND that was active before the current one."""
    _switch(None, value(kind), as_json)


@app.command("register")
def register(
    checkpoint: Path = typer.Argument(..., help="A checkpoint folder trained elsewhere."),
    name: str = typer.Option(..., "--name", help="Model version name (unique)."),
    kind: KindChoice = typer.Option("m3tr", "--kind"),
    activate_it: bool = typer.Option(False, "--activate", help="Make it active at once."),
    as_json: bool = typer.Option(False, "--json", help="The new version, JSON on stdout."),
) -> None:
    """Register a checkpoint folder as a model version (inactive unless --activate)."""
    if not checkpoint.is_dir():
        fail(f"{checkpoint}: not a checkpoint folder")
    settings()
    kind_s = str(value(kind))
    try:
        with transaction(session_factory()) as session:
            row = registry.register(
                session, name=name, kind=kind_s, checkpoint_path=str(checkpoint.resolve()),
                config={"source": "m3tr model register"},
            )  # fmt: skip
            if activate_it:
                registry.switch(session, row.id)
    except registry.RegistryError as exc:
        fail(str(exc))
    console.print(f"registered {kind_s} model version [bold]{name}[/] (id {row.id})")
    if as_json:
        typer.echo(json.dumps({"id": row.id, "name": name, "kind": kind_s}))
