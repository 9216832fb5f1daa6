"""The ``m3tr`` entry point registers every command module, and fails loudly when one is missing."""

from __future__ import annotations

import sys

import pytest
import typer
from typer.testing import CliRunner

from m3tr.app.cli.main import register_commands


def _names(target: typer.Typer) -> set[str]:
    groups = {g.name for g in target.registered_groups}
    commands = {c.name or c.callback.__name__ for c in target.registered_commands}
    return groups | commands


def test_every_command_is_registered() -> None:
    target = typer.Typer()
    register_commands(target, ["m3tr"])
    assert {"db", "bank", "temporal", "model", "serve", "worker", "train", "demo"} <= _names(target)


def test_a_named_command_registers_only_its_module() -> None:
    target = typer.Typer()
    register_commands(target, ["m3tr", "bank", "stats"])
    assert _names(target) == {"bank"}


@pytest.mark.parametrize("argv", [["m3tr", "bank", "stats"], ["m3tr", "--help"]])
def test_a_command_module_that_cannot_be_imported_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    # None in sys.modules: importing it raises ModuleNotFoundError naming the module itself,
    # the case the entry point used to swallow (the command then vanished from the CLI)
    monkeypatch.setitem(sys.modules, "m3tr.app.cli.bank", None)
    with pytest.raises(ModuleNotFoundError, match="m3tr.app.cli.bank"):
        register_commands(typer.Typer(), argv)


def test_the_full_cli_lists_bank() -> None:
    from m3tr.app.cli.main import app

    assert "bank" in CliRunner().invoke(app, ["--help"]).output
