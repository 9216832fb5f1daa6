"""``m3tr bench AREA``: each ``m3tr/bench/<area>.py`` registers its own command here."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(no_args_is_help=True)

for _area in ("temporal", "content", "retrieval", "ingestion", "memory", "contention"):
    try:
        _mod = importlib.import_module(f"m3tr.bench.{_area}")
    except ModuleNotFoundError as exc:
        if exc.name != f"m3tr.bench.{_area}":
            raise
        continue
    _mod.register(app)
