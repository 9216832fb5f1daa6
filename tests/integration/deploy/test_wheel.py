"""The built wheel, installed (not editable) in its own virtualenv, works from any folder:
``m3tr --help``, ``m3tr db upgrade`` with the packaged migrations, one ingest (a real worker on
the embedded broker) and a forecast on SQLite."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from m3tr.core.synthetic.videos import ClipSpec, write_clip
from tests.integration.deploy.conftest import WheelVenv
from tests.integration.workers.conftest import HORIZON_S, OBS_S, VOCAB, write_log

pytestmark = pytest.mark.integration


def test_wheel_ships_the_migrations_and_no_tests(wheel_venv: WheelVenv) -> None:
    names = zipfile.ZipFile(wheel_venv.wheel).namelist()
    assert "m3tr/app/migrations/env.py" in names and "m3tr/app/migrations/script.py.mako" in names
    assert any(n.startswith("m3tr/app/migrations/versions/0001_") for n in names)
    assert not any(n.startswith("tests/") for n in names)
    # one importable namespace: nothing but m3tr/ and the dist-info at the top of the wheel
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"m3tr"}, tops


def _m3tr(wv: WheelVenv, cwd: Path, env: dict, *args: str, timeout: float = 300):  # noqa: ANN202
    return subprocess.run(
        [str(wv.bin / "m3tr"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_installed_cli_migrates_ingests_and_forecasts(wheel_venv: WheelVenv, tmp_path: Path) -> None:
    wv = wheel_venv
    home = tmp_path / "home"
    env = wv.env(
        M3TR_HOME=str(home),
        M3TR_OBS_WINDOW_S=str(OBS_S),
        M3TR_HORIZON_S=str(HORIZON_S),
        M3TR_EVENT_TYPES=",".join(VOCAB),
    )
    # the code runs from the virtualenv, not from the checkout
    where = subprocess.run(
        [str(wv.bin / "python"), "-c", "import m3tr.app, m3tr.core; print(m3tr.app.__file__, m3tr.core.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert all(str(wv.venv) in p for p in where.stdout.split()), where.stdout

    out = _m3tr(wv, tmp_path, env, "--help")
    assert out.returncode == 0 and "ingest" in out.stdout and "db" in out.stdout, out.stderr

    out = _m3tr(wv, tmp_path, env, "db", "upgrade")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "database at revision" in out.stderr
    assert (home / "m3tr.db").is_file()

    inbox = tmp_path / "inbox"
    for i in range(3):
        write_clip(ClipSpec(name=f"v{i}", style=i), inbox / f"v{i}.mp4")
        write_log(inbox / f"v{i}.csv", seed=i, matured=True)

    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [str(wv.bin / "m3tr"), "worker", "-Q", "cpu,gpu", "--pool", "threads"],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while "ready." not in log_path.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.5)
        out = _m3tr(wv, tmp_path, env, "ingest", str(inbox), "--timeout", "400", timeout=480)
        assert out.returncode == 0 and "done 3, failed 0" in out.stderr, (
            out.stderr[-3000:] + log_path.read_text()[-3000:]
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    out = _m3tr(
        wv, tmp_path, env,
        "temporal", "fit", "--name", "mhp-wheel", "--window-h", "2", "--epochs", "1",
        "--max-len", "128",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    out = _m3tr(
        wv, tmp_path, env,
        "temporal", "forecast", "1", "--t-obs-h", "0.5", "--horizon-h", "2", "--n-paths", "20",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    forecast = json.loads(out.stdout[out.stdout.index("{") :])
    assert "NaN" not in out.stdout and "Infinity" not in out.stdout
    assert forecast["model"] == "mhp-wheel" and set(forecast["final"]) == set(VOCAB)
    for name in VOCAB:  # counts only grow: every quantile of the final count >= what was seen
        assert min(forecast["final"][name].values()) >= forecast["observed"][name]
