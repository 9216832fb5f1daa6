"""``m3tr temporal fit`` / ``forecast`` end to end through the CLI, on a SQLite workspace whose
event logs are simulated from a known Hawkes process and imported with ``m3tr events import``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from m3tr.app.cli.main import app
from m3tr.core.db.models import ModelVersion
from m3tr.core.synthetic.events import default_params, simulate_hawkes, write_event_csv

runner = CliRunner()


def test_fit_registers_a_version_and_forecasts(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("M3TR_EVENT_TYPES", "like,comment,share")
    rng = np.random.default_rng(0)
    for i in range(12):
        t, k = simulate_hawkes(default_params(scale=0.2 + i / 40), 6 * 3600.0, rng, max_events=5000)
        log = write_event_csv(tmp_path / f"v{i}.csv", t, k)
        res = runner.invoke(app, ["events", "import", str(log), "--video", f"v{i}", "--create"])
        assert res.exit_code == 0, res.output

    res = runner.invoke(
        app,
        [
            "temporal",
            "fit",
            "--name",
            "mhp-test",
            "--window-h",
            "6",
            "--epochs",
            "2",
            "--max-len",
            "128",
            "--sizes",
            "8-4-1",
        ],
    )
    assert res.exit_code == 0, res.output
    from m3tr.app.cli.common import session_factory

    with session_factory()() as s:
        mv = s.scalars(select(ModelVersion).where(ModelVersion.name == "mhp-test")).one()
        assert mv.kind == "mhp" and mv.is_active
        ckpt = Path(mv.checkpoint_path)
        assert mv.config["recipe"]["size"] == {"d_model": 8, "d_state": 4, "n_layers": 1}
        assert mv.metrics["val_nll_per_event"] == mv.config["recipe"]["val_nll_per_event"]
    assert ckpt.is_dir() and (ckpt / "trajectory.safetensors").is_file()

    again = runner.invoke(app, ["temporal", "fit", "--name", "mhp-test", "--epochs", "1"])
    assert again.exit_code != 0 and "mhp-test" in again.output

    res = runner.invoke(
        app,
        ["temporal", "forecast", "1", "--t-obs-h", "1", "--horizon-h", "6", "--n-paths", "20"],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout[res.stdout.index("{") :])
    text = json.dumps(out)
    assert "NaN" not in text and "Infinity" not in text
