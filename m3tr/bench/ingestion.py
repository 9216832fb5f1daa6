"""``m3tr bench ingestion``: throughput of the real ingestion pipeline on generated clips.

N small generated videos (64x64, 1-2 s, sine tone; lite profile) with Hawkes event logs go
through ``m3tr ingest`` and real ``m3tr worker`` subprocesses. Reported: videos per second from
the first job's creation to the last job's end (SQL timestamps), and the checks of a correct
run: every video ready, one prediction per video, no duplicate events, one vector per video.

Embedded by default (SQLite, filesystem broker, Qdrant local mode in a temporary workspace);
``--database-url`` and ``--broker-url`` point it at PostgreSQL and Redis instead.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import typer

REPO = Path(__file__).resolve().parents[2]
M3TR = [sys.executable, "-m", "m3tr.app.cli.main"]
VOCAB = ("like", "comment", "share")
OBS_S = 1800.0
HORIZON_S = 7200.0


@dataclass
class LoadResult:
    n_videos: int
    concurrency: int
    backend: str
    seconds: float
    videos_per_s: float
    ready: int
    jobs_done: int
    jobs_failed: int
    predictions: int
    duplicate_predictions: int
    events: int
    events_expected: int
    vectors: int


def make_corpus(folder: Path, n: int, seed: int = 0) -> int:
    """Write n clips with logs (two in three matured); returns the number of events written."""
    from m3tr.core.events.log import EventLogRules, read_event_log
    from m3tr.core.synthetic.events import default_params, simulate_hawkes, write_event_csv
    from m3tr.core.synthetic.videos import random_specs, write_corpus

    specs = random_specs(n, seed=seed, prefix="load")
    write_corpus(specs, folder)
    rng = np.random.default_rng(seed)
    rules = EventLogRules(vocabulary=VOCAB)
    total = 0
    for i, spec in enumerate(specs):
        span = HORIZON_S * 1.2 if i % 3 else OBS_S
        t, types = simulate_hawkes(default_params(0.2, VOCAB), span, rng)
        while len(t) == 0:  # an empty log is invalid input; this corpus is meant to succeed
            t, types = simulate_hawkes(default_params(0.2, VOCAB), span, rng)
        path = write_event_csv(folder / f"{spec.name}.csv", t, types)
        total += len(read_event_log(path, rules))
    return total


def load_env(home: Path, database_url: str | None, broker_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("M3TR_")}
    env.update(
        M3TR_HOME=str(home),
        M3TR_OBS_WINDOW_S=str(OBS_S),
        M3TR_HORIZON_S=str(HORIZON_S),
        M3TR_EVENT_TYPES=",".join(VOCAB),
        M3TR_ENCODER_PROFILE="lite",
        M3TR_VECTOR_BACKEND="qdrant",
        PYTHONUNBUFFERED="1",
    )
    if database_url:
        env["M3TR_DATABASE_URL"] = database_url
    if broker_url:
        env["M3TR_BROKER_URL"] = broker_url
        env["M3TR_BROKER_KEY_PREFIX"] = f"m3tr-bench-{os.getpid()}-{time.time_ns()}:"
        env["M3TR_VISIBILITY_TIMEOUT_S"] = "600"
    return env


def run_load(
    n: int, workdir: Path, env: dict[str, str], concurrency: int = 2, seed: int = 0
) -> LoadResult:
    """Ingest n generated videos through a real worker; returns timings and correctness counts."""
    from sqlalchemy import func, select

    from m3tr.core.db.models import Event, Job, Prediction, Video
    from m3tr.core.db.session import make_engine, make_session_factory
    from m3tr.core.retrieval.qdrant_store import QdrantConfig, QdrantStore

    home = Path(env["M3TR_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    inbox = workdir / "inbox"
    expected_events = make_corpus(inbox, n, seed)
    log_path = home / "bench-worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [*M3TR, "worker", "-Q", "cpu,gpu", "-c", str(concurrency), "--pool", "threads"],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "ready." not in log_path.read_text():
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        out = subprocess.run(
            [*M3TR, "ingest", str(inbox), "--timeout", str(30 * n + 120)],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if "done" not in out.stderr:
            raise RuntimeError(f"m3tr ingest failed:\n{out.stderr[-3000:]}")
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=120)
        except subprocess.TimeoutExpired:
            worker.kill()
    url = env.get("M3TR_DATABASE_URL") or f"sqlite:///{(home / 'm3tr.db').resolve()}"
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as s:
        first = s.scalar(select(func.min(Job.created_at)))
        last = s.scalar(select(func.max(Job.finished_at)))
        seconds = (last - first).total_seconds() if first and last else float("nan")
        count = lambda q: int(s.scalar(q) or 0)  # noqa: E731
        dup = s.execute(
            select(Prediction.video_id).group_by(Prediction.video_id).having(func.count() > 1)
        ).all()
        result = LoadResult(
            n_videos=n,
            concurrency=concurrency,
            backend=("postgresql" if "postgresql" in url else "sqlite")
            + ("+redis" if env.get("M3TR_BROKER_URL") else "+filesystem"),
            seconds=round(seconds, 2),
            videos_per_s=round(n / seconds, 3) if seconds > 0 else float("nan"),
            ready=count(select(func.count()).select_from(Video).where(Video.status == "ready")),
            jobs_done=count(select(func.count()).select_from(Job).where(Job.state == "done")),
            jobs_failed=count(select(func.count()).select_from(Job).where(Job.state == "failed")),
            predictions=count(select(func.count()).select_from(Prediction)),
            duplicate_predictions=len(dup),
            events=count(select(func.count()).select_from(Event)),
            events_expected=expected_events,
            vectors=0,
        )
    engine.dispose()
    store = QdrantStore(QdrantConfig(path=home / "qdrant"))
    try:
        result.vectors = sum(store.count(c) for c in store.list_collections())
    finally:
        store.close()
    return result


def register(app: typer.Typer) -> None:
    @app.command("ingestion")
    def ingestion(
        n: int = typer.Option(200, "--n", min=1, help="Generated videos."),
        concurrency: int = typer.Option(2, "--concurrency", "-c", min=1),
        database_url: str | None = typer.Option(None, help="PostgreSQL URL (default: SQLite)."),
        broker_url: str | None = typer.Option(None, help="Redis URL (default: embedded)."),
        seed: int = typer.Option(0),
    ) -> None:
        """Ingestion throughput on N generated videos with event logs (JSON on stdout)."""
        with tempfile.TemporaryDirectory(prefix="m3tr-bench-") as tmp:
            work = Path(tmp)
            env = load_env(work / "home", database_url, broker_url)
            result = run_load(n, work, env, concurrency=concurrency, seed=seed)
        print(json.dumps(asdict(result), indent=2))
