"""Entry point of the ``m3tr`` command: registers every command group."""

from __future__ import annotations

import importlib
import logging

import typer

app = typer.Typer(
    name="m3tr",
    help="Forecast engagement growth of short videos (M3TR) and show why.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# (module under app.cli, group name, help). Each module defines ``app = typer.Typer()``;
# modules with ``COMMANDS = True`` register their functions at top level instead.
_GROUPS: list[tuple[str, str, str]] = [
    ("db", "db", "Database migrations."),
    ("events", "events", "Import and inspect event logs."),
    ("dataset", "dataset", "Import public datasets (ced-weibo, microlens)."),
    ("temporal", "temporal", "Mamba-Hawkes point process: fit, signatures, forecasts."),
    ("content", "content", "Decode videos and compute content vectors."),
    ("bank", "bank", "Memory bank: build, query, stats."),
    ("bench", "bench", "Benchmarks (JSON output)."),
]
_TOP_LEVEL: list[str] = ["modeling", "service", "demo"]


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _register() -> None:
    for module, name, help_text in _GROUPS:
        try:
            mod = importlib.import_module(f"app.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"app.cli.{module}":
                raise
            continue
        app.add_typer(mod.app, name=name, help=help_text)
    for module in _TOP_LEVEL:
        try:
            mod = importlib.import_module(f"app.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"app.cli.{module}":
                raise
            continue
        mod.register(app)


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
