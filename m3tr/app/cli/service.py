"""Top-level service commands: ``m3tr serve``, ``m3tr worker``, ``m3tr ingest``, ``m3tr jobs``.

Embedded default (no ``M3TR_BROKER_URL``): ``m3tr serve`` runs the web app AND a worker in one
process, sharing one vector store (Qdrant local mode lets a single process hold its folder).
Production: ``m3tr serve`` runs the web app only; ``m3tr worker --queues gpu`` on each GPU
machine and ``m3tr worker --queues cpu`` elsewhere, on Redis + PostgreSQL + a Qdrant server.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from m3tr.app.cli.common import (
    choices,
    console,
    fail,
    session_factory,
    settings,
    use_threads,
    value,
)

log = logging.getLogger(__name__)


def _local_store(s) -> bool:  # noqa: ANN001 - Settings
    """True when the vector store lives in files one process must own (not a Qdrant server)."""
    return s.store_backend != "qdrant" or not s.qdrant_url


PoolChoice = choices("PoolChoice", ["auto", "threads", "solo", "prefork"])


def _warm_forecast_kernel() -> None:
    """Compile (or load) the forecast's thinning kernel in a background thread, so that the
    first forecast of a fresh install does not wait 15-40 s for it."""
    from m3tr.core.temporal.thinning_cpu import warm_up

    def run() -> None:
        try:
            log.info("forecast kernel ready in %.1f s", warm_up())
        except Exception:  # the first forecast then compiles it; never stop the service
            log.exception("warming the forecast kernel failed")

    threading.Thread(target=run, name="m3tr-warm-kernel", daemon=True).start()


def worker(
    queues: str = typer.Option("cpu,gpu", "--queues", "-Q", help="Comma-separated queues."),
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, help="Tasks at once."),
    pool_choice: PoolChoice = typer.Option(
        "auto", "--pool", help="auto: prefork only with a Qdrant server, else threads."
    ),
    loglevel: str = typer.Option("INFO", "--loglevel", "-l"),
) -> None:
    """Run a Celery worker on QUEUES (migrates the database first)."""
    pool = str(value(pool_choice))
    from celery import signals

    from m3tr.app import bootstrap
    from m3tr.workers.context import close_context
    from m3tr.workers.runtime import get_app, is_embedded

    s = settings()
    sessions = session_factory()  # migrated to head before any task runs
    local = _local_store(s)
    if pool == "auto":
        pool = "threads" if local else "prefork"
    if pool != "prefork":  # one process: its tasks use this engine (forked children build theirs)
        bootstrap.pipeline_context(s, sessions)
    # prefork: `concurrency` processes share the cores; threads: one pool, ops run per caller
    use_threads("worker", processes=concurrency if pool == "prefork" else 1)
    if pool == "prefork" and local:
        fail(
            "--pool prefork needs a Qdrant server (M3TR_QDRANT_URL): a local vector store can "
            "be opened by one process only; use --pool threads"
        )
    app = get_app()
    if is_embedded(s):

        @signals.worker_init.connect(weak=False)  # before it consumes (see m3tr.workers.recovery)
        def _recover(**_: object) -> None:
            from m3tr.workers.runtime import broker_folders, resend_interrupted_jobs

            resend_interrupted_jobs(broker_folders(s)["queue"])

    @signals.worker_shutdown.connect(weak=False)
    def _close(**_: object) -> None:
        close_context()

    @signals.worker_process_shutdown.connect(weak=False)
    def _close_child(**_: object) -> None:
        close_context()

    qs = [q.strip() for q in queues.split(",") if q.strip()]
    w = app.Worker(
        queues=qs, concurrency=concurrency, pool=pool, loglevel=loglevel, redirect_stdouts=False
    )
    _warm_forecast_kernel()
    w.start()
    raise typer.Exit(w.exitcode or 0)


def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(7860, "--port", "-p"),
    with_worker: bool = typer.Option(
        None,
        "--worker/--no-worker",
        help="Run a worker in this process (default: yes with the embedded broker).",
    ),
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1),
) -> None:
    """Run the web app (and, embedded, a worker beside it in the same process)."""
    import uvicorn

    from m3tr.app import bootstrap
    from m3tr.workers.enqueue import enqueue_job
    from m3tr.workers.runtime import get_app, is_embedded

    s = settings()
    try:
        s.check_web_login()
    except ValueError as exc:
        fail(str(exc))
    use_threads("serve")  # the web app and its embedded worker share one set of pools
    # one engine and one vector store for the web app and its in-process worker
    ctx = bootstrap.pipeline_context(s, session_factory())
    run_worker = is_embedded(s) if with_worker is None else with_worker
    if _local_store(s) and not run_worker:
        log.warning(
            "the vector store is local and no worker runs in this process: workers elsewhere "
            "cannot open it; run `m3tr serve` with its worker, or use a Qdrant server"
        )
    services = bootstrap.services(s, enqueue_job, context=ctx)
    embedded = None
    if run_worker:
        from m3tr.workers.runtime import EmbeddedWorker, resend_interrupted_jobs

        if is_embedded(s):  # before the worker consumes: it sees the queue as the crash left it
            from m3tr.workers.runtime import broker_folders

            resend_interrupted_jobs(broker_folders(s)["queue"])
        embedded = EmbeddedWorker(get_app(), concurrency=concurrency)
        embedded.start()
        _warm_forecast_kernel()
    try:
        uvicorn.run(_web_app(services), host=host, port=port, log_level="info")
    finally:
        if embedded is not None:
            embedded.stop()
        ctx.close()


def _web_app(services):  # noqa: ANN001, ANN202
    """The web app (``m3tr.app.web:create_app``) over ``services``."""
    from m3tr.app.web import create_app

    return create_app(services)


def ingest(
    folder: Path | None = typer.Argument(
        None, help="Folder of videos (.mp4, .mov, .webm, ...); or use --manifest."
    ),
    manifest: Path | None = typer.Option(
        None,
        "--manifest",
        help="CSV or JSON lines, one video a row: media, title, description, published_at, "
        "author, events (paths relative to the manifest). A bad row is reported with its line "
        "and nothing of it is ingested; the other rows are.",
    ),
    events: Path | None = typer.Option(
        None,
        "--events",
        help="A folder of event logs named <video stem>.csv|.jsonl|.parquet, or ONE log file "
        "with a 'video' column naming the stems (default: logs beside the videos, same stem).",
    ),
    source: str = typer.Option("folder", "--source", help="Source name for the videos."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Show progress until all finish."),
    timeout: float = typer.Option(
        0, "--timeout", help="Stop waiting after this many s (0: never)."
    ),
    force: bool = typer.Option(False, "--force", help="Re-ingest videos even when unchanged."),
) -> None:
    """Enqueue every video of FOLDER (with its event log), or every row of a --manifest, and
    follow them to the end. Exit 0: all done; 1: a job failed or a manifest row was refused;
    3: jobs still unfinished when --timeout ran out."""
    from m3tr.core.db.session import transaction
    from m3tr.core.events.log import EventLogError
    from m3tr.core.pipeline.media import sha256_file
    from m3tr.core.pipeline.submit import (
        events_for,
        find_inputs,
        register_ingest,
        split_event_file,
    )
    from m3tr.workers.enqueue import enqueue_job

    s = settings()
    factory = session_factory()
    if (folder is None) == (manifest is None):
        fail("give a FOLDER of videos or --manifest FILE (one of them)")
    if manifest is not None:
        raise typer.Exit(_ingest_manifest(factory, manifest, source, wait, timeout, force))
    assert folder is not None
    if events is not None and events.is_file():
        try:  # one combined log: split per video into the workspace (content-addressed)
            events = split_event_file(events, s.home / "incoming" / "events" / sha256_file(events))
        except EventLogError as exc:
            fail(str(exc))
    try:
        videos = find_inputs(folder)
        pairs = [(v, events_for(v, events)) for v in videos]
    except FileNotFoundError as exc:
        fail(str(exc))
    if not videos:
        fail(f"{folder}: no video files")
    with transaction(factory) as session:
        regs = [
            register_ingest(session, v, events_path=e, source=source, force=force) for v, e in pairs
        ]
    job_ids = [r.job_id for r in regs if r.job_id is not None]
    for job_id in job_ids:  # sent only now that the rows are committed
        enqueue_job(job_id)
    skipped = len(regs) - len(job_ids)
    with_events = sum(e is not None for _, e in pairs)
    console.print(
        f"{len(videos)} videos ({with_events} with event logs): {len(job_ids)} queued, "
        f"{skipped} unchanged or already running"
    )
    if not wait or not job_ids:
        return
    raise typer.Exit(exit_code(follow_jobs(factory, job_ids, timeout)))


EXIT_FAILED = 1
EXIT_UNFINISHED = 3


def exit_code(outcome: tuple[int, int], refused: int = 0) -> int:
    """1 when a job failed (or a manifest row was refused), 3 when jobs are still unfinished."""
    failed, unfinished = outcome
    if failed or refused:
        return EXIT_FAILED
    return EXIT_UNFINISHED if unfinished else 0


def _ingest_manifest(
    factory,  # noqa: ANN001
    manifest: Path,
    source: str,
    wait: bool,
    timeout: float,
    force: bool,
) -> int:
    from m3tr.core.db.session import transaction
    from m3tr.core.events.log import EventLogRules
    from m3tr.core.pipeline.manifest import ManifestError, read_manifest
    from m3tr.core.pipeline.submit import register_ingest
    from m3tr.workers.enqueue import enqueue_job

    s = settings()
    rules = EventLogRules(vocabulary=s.event_types, max_events=s.max_events_per_log)
    try:
        rows, bad = read_manifest(manifest, rules)
    except ManifestError as exc:
        fail(str(exc))
    for b in bad:
        console.print(f"[red]{manifest.name}, {b}[/] (not ingested)")
    with transaction(factory) as session:
        regs = [
            register_ingest(
                session, r.media, events_path=r.events, source=source, external_id=r.external_id,
                title=r.title, description=r.description, published_at=r.published_at,
                author=r.author, force=force,
            )
            for r in rows
        ]  # fmt: skip
    job_ids = [r.job_id for r in regs if r.job_id is not None]
    for job_id in job_ids:
        enqueue_job(job_id)
    console.print(
        f"{manifest.name}: {len(rows)} rows accepted, {len(bad)} refused; {len(job_ids)} "
        f"queued, {len(rows) - len(job_ids)} unchanged or already running"
    )
    if not wait or not job_ids:
        return exit_code((0, 0), refused=len(bad))
    return exit_code(follow_jobs(factory, job_ids, timeout), refused=len(bad))


def follow_jobs(
    factory,  # noqa: ANN001
    job_ids: list[int],
    timeout: float,
    label: str = "ingest",
) -> tuple[int, int]:
    """Live progress (stderr) until every job is done or failed, or ``timeout`` s (0: never);
    prints a summary; returns (failed, unfinished)."""
    from m3tr.core.pipeline.jobs import jobs_by_id

    start = time.monotonic()
    columns = (
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[states]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("ingest", total=len(job_ids), states="")
        while True:
            with factory() as session:
                jobs = jobs_by_id(session, job_ids)
            states: dict[str, int] = {}
            for j in jobs:
                states[j.state] = states.get(j.state, 0) + 1
            finished = sum(j.finished for j in jobs)
            partial = sum(1.0 if j.finished else j.progress for j in jobs)
            progress.update(
                bar,
                completed=partial,
                states=" ".join(f"{k}:{v}" for k, v in sorted(states.items())),
            )
            if finished == len(job_ids):
                break
            if timeout and time.monotonic() - start > timeout:
                console.print(f"[yellow]stopped waiting after {timeout:.0f} s[/]")
                break
            time.sleep(0.5)
    elapsed = time.monotonic() - start
    done = [j for j in jobs if j.state == "done"]
    failed = [j for j in jobs if j.state == "failed"]
    console.print(
        f"done {len(done)}, failed {len(failed)}, unfinished "
        f"{len(jobs) - len(done) - len(failed)} in {elapsed:.1f} s"
        + (
            f" ({len(done) / elapsed if elapsed > 0 else 0:.2f} videos/s)"
            if label == "ingest"
            else ""
        )
    )
    for j in failed:
        console.print(f"[red]job {j.id} (video {j.video_id}) failed:[/] {j.error}")
    return len(failed), len(jobs) - len(done) - len(failed)


jobs_app = typer.Typer(help="Background jobs: list them (default), or submit one.")


JOB_STATES = ["queued", "running", "done", "failed"]
JOB_KINDS = ["ingest", "ingest_events", "reforecast", "predict", "rebuild_bank", "train"]
JobStateChoice = choices("JobStateChoice", JOB_STATES)
JobKindChoice = choices("JobKindChoice", JOB_KINDS)


@jobs_app.callback(invoke_without_command=True)
def jobs(
    ctx: typer.Context,
    limit: int = typer.Option(30, "--limit", "-n", min=1, max=500),
    state: JobStateChoice | None = typer.Option(None, "--state"),
    kind: JobKindChoice | None = typer.Option(None, "--kind"),
    video: int | None = typer.Option(None, "--video", help="Jobs of this video id."),
    as_json: bool = typer.Option(False, "--json", help="A JSON array on stdout."),
) -> None:
    """Recent jobs (newest first) with their state, step, progress and error, on stdout."""
    from m3tr.app.cli.common import print_records
    from m3tr.app.records import job_record
    from m3tr.core.db.listing import Filters, list_jobs

    if ctx.invoked_subcommand is not None:
        return
    settings()
    f = Filters(state=(value(state),) if state else (), kind=value(kind), video_id=video)
    with session_factory()() as session:
        rows = [job_record(j) for j in list_jobs(session, f, limit=limit).items]
    if not as_json:
        for r in rows:
            r["progress"] = f"{100 * r['progress']:.0f}%"
            r["error"] = (r["error"] or "")[:120] or None
    cols = ["id", "kind", "video_id", "state", "step", "progress", "attempts", "error"]
    print_records(rows, cols, f"{len(rows)} most recent jobs", as_json)


def _param(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        fail(f"--param {text!r}: expected KEY=VALUE")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


@jobs_app.command("submit")
def submit(
    kind: str = typer.Argument(..., help="train | rebuild_bank | predict"),
    video: int | None = typer.Option(None, "--video", help="video id (predict)"),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="KEY=VALUE (JSON values), repeatable"
    ),
    wait: bool = typer.Option(False, "--wait/--no-wait", help="Follow the job to its end."),
) -> None:
    """Create a job row, then send it to the workers (e.g. ``m3tr jobs submit train -p epochs=5``)."""
    from m3tr.core.db.session import transaction
    from m3tr.core.pipeline.jobs import create_job
    from m3tr.core.pipeline.plan import PlanError, plan_steps
    from m3tr.workers.enqueue import enqueue_job

    settings()
    factory = session_factory()
    kind = kind.replace("-", "_")
    params = dict(_param(p) for p in param)
    try:
        steps = plan_steps(kind, params)
    except PlanError as exc:
        fail(str(exc))
    if "predict" in steps and kind == "predict" and video is None:
        fail("a predict job needs --video")
    with transaction(factory) as session:
        job_id = create_job(session, kind, video_id=video, params=params).id
    enqueue_job(job_id)
    console.print(f"job {job_id} ({kind}: {' -> '.join(steps)}) sent")
    if wait:
        raise typer.Exit(exit_code(follow_jobs(factory, [job_id], 0, label=kind)))


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``worker``, ``ingest`` and the ``jobs`` group at top level."""
    app.command("serve")(serve)
    app.command("worker")(worker)
    app.command("ingest")(ingest)
    app.add_typer(jobs_app, name="jobs")
