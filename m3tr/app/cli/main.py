"""Entry point of the ``m3tr`` command: registers every command group."""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType

import typer

from m3tr.app import threads

# before any command module loads torch or NumPy: their OpenMP/BLAS runtimes read these once
threads.prepare_environment()

app = typer.Typer(
    name="m3tr",
    help="Forecast engagement growth of short videos (M3TR) and show why.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# Command groups: (module under m3tr.app.cli, group name, help); each module defines ``app = typer.Typer()``.
_GROUPS: list[tuple[str, str, str]] = [
    ("db", "db", "Database migrations."),
    ("events", "events", "Import and inspect event logs."),
    ("dataset", "dataset", "Import public datasets (ced-weibo, microlens)."),
    ("temporal", "temporal", "Mamba-Hawkes point process: fit, signatures, forecasts."),
    ("content", "content", "Decode videos and compute content vectors."),
    ("bank", "bank", "Memory bank: build, query, stats."),
    ("bench", "bench", "Benchmarks (JSON output)."),
    ("models", "models", "Encoder weights: pull the paper profile's models for offline use."),
    ("versions", "model", "Model versions: list, activate, roll back, register."),
    ("predictions", "predictions", "Forecasts: a video's history, export to CSV or Parquet."),
    ("videos", "videos", "Videos: list them (filters, --json)."),
]


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:  # our own progress at INFO; libraries (faiss, alembic, httpx) only warn
        for name in ("m3tr", "celery"):
            logging.getLogger(name).setLevel(logging.INFO)


# Modules that register top-level commands (``register(app)``), by command, so that ``m3tr CMD``
# imports only CMD's module.
_COMMAND_MODULE: dict[str, str] = {
    "train": "modeling",
    "evaluate": "modeling",
    "serve": "service",
    "worker": "service",
    "ingest": "service",
    "jobs": "service",
    "demo": "demo",
}


def _module(name: str) -> ModuleType:
    """The command module ``m3tr.app.cli.NAME``; a module that is missing or fails to import
    raises (a command must never vanish from the CLI without a word)."""
    return importlib.import_module(f"m3tr.app.cli.{name}")


def _requested_command(argv: list[str]) -> str | None:
    """The command named on the command line (first non-option argument), if any."""
    for arg in argv[1:]:
        if not arg.startswith("-"):
            return arg
    return None


def register_commands(target: typer.Typer, argv: list[str]) -> None:
    """Register command groups on ``target``. When ``argv`` names one known command, only its
    module is imported (the content and temporal modules pull in torch and transformers, seconds
    of start-up); otherwise (help, tests) every module is."""
    wanted = _requested_command(argv)
    groups = {g[1]: g for g in _GROUPS}
    if wanted in groups:
        module, name, help_text = groups[wanted]
        target.add_typer(_module(module).app, name=name, help=help_text)
        return
    if wanted in _COMMAND_MODULE:
        _module(_COMMAND_MODULE[wanted]).register(target)
        return
    for module, name, help_text in _GROUPS:
        target.add_typer(_module(module).app, name=name, help=help_text)
    for module in dict.fromkeys(_COMMAND_MODULE.values()):
        _module(module).register(target)


register_commands(app, sys.argv)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
