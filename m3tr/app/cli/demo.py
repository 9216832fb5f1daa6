"""``m3tr demo``: build a demo workspace from nothing, train a small model, serve the app.

Stages (each with a progress bar; a finished workspace is reused on the next run):

1. corpus: a few hundred procedurally generated clips with titles and Hawkes event logs from
   four popularity archetypes (``m3tr.core.demo_corpus``);
2. import: videos, events and final labels into the workspace database (80% train, 20% test);
3. content: lite encoder profile, features into the feature store;
4. temporal model: the Mamba-Hawkes process trained on the train split (when the temporal
   core is installed; otherwise event-bin stand-in trajectory vectors, said plainly);
5. bank: every video's vectors into a live memory bank;
6. fused model: M3TR trained and evaluated against baselines (when the training code is there);
7. serve: the web app with an embedded worker, ``/healthz`` for checks.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from m3tr.app.cli.common import console, fail, use_threads

log = logging.getLogger(__name__)

MARKER = "demo.json"
DEFAULT_HOME = Path("m3tr-data") / "demo"
TEST_SHARE = 0.2
TEMPORAL_EPOCHS = 8
TEMPORAL_MAX_LEN = 512  # the recipe's cap (cut windows are counted in the model's record)
FUSED_EPOCHS = (
    40  # early stopping ends it sooner; at 5 epochs val nMSE was 1.36 (worse than the mean)
)


# wall seconds of each stage of this process's build, by title (into demo.json's summary)
STAGE_SECONDS: dict[str, float] = {}


@contextmanager
def stage(title: str, total: int | None) -> Iterator[Callable[..., None]]:
    """A progress bar for one stage; yields ``advance_to(done, total=None)``."""
    start = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(title, total=total)

        def advance_to(done: int, new_total: int | None = None) -> None:
            if new_total is not None:
                bar.update(task, total=new_total)
            bar.update(task, completed=done)

        yield advance_to
        final = bar.tasks[0].total or 1
        bar.update(task, completed=final, total=final)
    STAGE_SECONDS[title] = round(time.perf_counter() - start, 2)
    log.info("demo stage %s took %.1f s", title, STAGE_SECONDS[title])


def _use_home(home: Path) -> None:
    """Point settings (``M3TR_HOME``) at the demo workspace for this process."""
    from m3tr.app.cli import common
    from m3tr.app.settings import get_settings

    os.environ["M3TR_HOME"] = str(home.resolve())
    get_settings.cache_clear()
    common.session_factory.cache_clear()


def build_workspace(n_videos: int, seed: int) -> dict[str, object]:
    """Stages 1-6 on the current workspace; returns a summary (also written to demo.json)."""
    from m3tr.app.cli.common import session_factory, settings
    from m3tr.workers.context import get_context

    s = settings()
    factory = session_factory()
    ctx = get_context()
    clips_dir = s.media_dir / "demo-clips"  # in the media folder: the UI may play them
    clips_dir.mkdir(parents=True, exist_ok=True)
    from m3tr.core.demo_corpus import make_corpus, write_clips

    corpus = make_corpus(n_videos, horizon_s=s.horizon_s, seed=seed)
    with stage("corpus (clips)", len(corpus)) as adv:
        paths = write_clips(corpus, clips_dir, progress=adv)
    with stage("import", len(corpus)) as adv:
        ids = import_corpus(factory, corpus, paths, seed, adv)
    with stage("content", len(ids)) as adv:
        content_report = embed_content(ctx, adv)
    temporal = train_temporal(ctx, ids)
    with stage("temporal + bank", len(ids)) as adv:
        fill_bank(ctx, ids, adv)
    fused = train_fused(ctx)
    summary = {
        "videos": len(ids),
        "seed": seed,
        "content_failed": content_report,
        "temporal_model": temporal,
        "fused_model": fused,
        "stage_seconds": dict(STAGE_SECONDS),
        "complete": True,
    }
    (s.home / MARKER).write_text(json.dumps(summary, indent=2))
    return summary


def import_corpus(factory, corpus, paths, seed: int, progress: Callable[[int], None]) -> list[int]:  # noqa: ANN001
    """Videos, full event logs and final labels, in one transaction (idempotent by name)."""
    from sqlalchemy import select

    from m3tr.core.db.models import Video, VideoStatus
    from m3tr.core.db.repository import bulk_insert_events, upsert_label
    from m3tr.core.db.session import transaction

    rng = np.random.default_rng(seed + 1)
    test = rng.uniform(size=len(corpus)) < TEST_SHARE
    ids: list[int] = []
    with transaction(factory) as session:
        existing = dict(
            session.execute(select(Video.external_id, Video.id).where(Video.source == "demo")).all()
        )
        for i, (item, path) in enumerate(zip(corpus, paths, strict=True)):
            if item.name in existing:
                ids.append(existing[item.name])
                progress(i + 1)
                continue
            video = Video(
                source="demo",
                external_id=item.name,
                title=item.title,
                description=item.description,
                media_path=str(path.resolve()),
                duration_s=item.seconds,
                split="test" if test[i] else "train",
                status=VideoStatus.INGESTED,
                matured=True,
                extra={"archetype": item.archetype},
            )
            session.add(video)
            session.flush()
            n = len(item.t)
            bulk_insert_events(
                session, np.full(n, video.id, dtype=np.int64), item.t, list(item.types), None
            )
            for typ, count in item.final_counts().items():
                upsert_label(session, video.id, typ, count)
            ids.append(video.id)
            progress(i + 1)
    return ids


def embed_content(ctx, progress: Callable[[int], None]) -> int:  # noqa: ANN001
    """Content features for every video without them; returns how many failed."""
    from m3tr.core.content.db_embed import embed_database
    from m3tr.core.pipeline.content import content_pipeline, feature_store

    report = embed_database(
        ctx.session_factory,
        feature_store(ctx),
        content_pipeline(ctx),
        media_only=True,
        decode_workers=2,
        progress=lambda done, total: progress(done),
    )
    for key, err in report.failed.items():
        console.print(f"[yellow]video {key}: content failed: {err}[/]")
    return len(report.failed)


def train_temporal(ctx, ids: list[int]) -> str | None:  # noqa: ANN001
    """Train the MHP on the train split's event logs and register it (kind ``mhp``).

    It is made active only when the pipeline can use it for signatures and forecasts
    (``m3tr.core.pipeline.mhp_bridge``); otherwise it is kept inactive (its alpha still shows
    in the Model tab) and trajectory vectors stay event-bin stand-ins, said in every result.
    Returns the model version's name.
    """
    from sqlalchemy import select

    from m3tr.core.db import registry
    from m3tr.core.db.models import ModelVersion, Video
    from m3tr.core.db.session import transaction
    from m3tr.core.demo_corpus import EVENT_TYPES
    from m3tr.core.temporal import EventVocab, load_sequences, save_mhp
    from m3tr.core.temporal.recipe import MHPRecipe, ModelSize, train_mhp

    name = "demo-mhp"
    with ctx.session_factory() as session:
        existing = session.scalars(select(ModelVersion).where(ModelVersion.name == name)).first()
        if existing is not None:
            return name
        train_ids = list(
            session.scalars(select(Video.id).where(Video.id.in_(ids), Video.split == "train"))
        )
        vocab = EventVocab(EVENT_TYPES)
        seqs = load_sequences(session, vocab, video_ids=train_ids, window_s=ctx.horizon_s)
    # the shared recipe (early stopping on validation), one small size to keep the demo quick
    recipe = MHPRecipe(
        max_events=TEMPORAL_MAX_LEN, max_epochs=TEMPORAL_EPOCHS, lr=1e-2,
        sizes=(ModelSize(16, 8, 1),),
    )  # fmt: skip
    with stage("temporal model", 100) as adv:
        result = train_mhp(
            seqs, vocab, recipe, progress=lambda f: adv(int(f * 100), 100),
            device=ctx.device, t_obs_s=ctx.obs_window_s,
        )  # fmt: skip
    directory = ctx.model_dir / name
    save_mhp(result.model, directory)
    metrics = {
        **result.record(),
        "n_videos": len(seqs),
        "n_events": int(sum(len(q) for q in seqs)),
        "alpha": result.model.hawkes.alpha.detach().cpu().numpy().round(4).tolist(),
        "event_types": list(vocab.types),
    }
    cfg = result.model.config
    with transaction(ctx.session_factory) as session:
        model_id = registry.register(
            session,
            name=name,
            kind="mhp",
            config={"mhp": cfg.to_dict(), "source": "m3tr demo"},
            metrics=metrics,
            checkpoint_path=str(directory),
        ).id
    if _pipeline_can_use(ctx, model_id, name, str(directory)):
        with transaction(ctx.session_factory) as session:
            registry.activate(session, "mhp", model_id)
        console.print(f"temporal model [bold]{name}[/] trained and active")
    else:
        console.print(
            f"[yellow]temporal model {name} trained (alpha in the Model tab) but not active:[/] "
            "this build's pipeline cannot use it yet, so trajectory vectors are event-bin "
            "stand-ins (said in every result)"
        )
    return name


def _pipeline_can_use(ctx, model_id: int, name: str, checkpoint: str) -> bool:  # noqa: ANN001
    """True when the pipeline's temporal bridge loads this model version."""
    from m3tr.core.db.registry import ActiveModel
    from m3tr.core.pipeline import mhp_bridge

    try:
        mhp_bridge.signature_dim(ctx, ActiveModel(model_id, name, "mhp", checkpoint))
    except mhp_bridge.TemporalModelUnavailable:
        return False
    return True


def fill_bank(ctx, ids: list[int], progress: Callable[[int], None]) -> None:  # noqa: ANN001
    """Temporal vectors and bank points for every video (pipeline steps, idempotent)."""
    from m3tr.core.db.models import Video, VideoStatus
    from m3tr.core.db.session import transaction
    from m3tr.core.pipeline.trajectory_step import embed_temporal
    from m3tr.core.pipeline.vectors import upsert_vectors

    for i, vid in enumerate(ids):
        embed_temporal(ctx, vid)
        upsert_vectors(ctx, vid)
        progress(i + 1)
    with transaction(ctx.session_factory) as session:
        for video in session.query(Video).filter(Video.id.in_(ids)):
            video.status = VideoStatus.READY


def train_fused(ctx) -> str | None:  # noqa: ANN001
    """Train the fused M3TR model (``m3tr train``'s library call) and compare it with cheap
    baselines on the same validation videos; the table goes into the model version's metrics.

    Made active only when the pipeline still runs with it active; otherwise kept inactive
    (forecasts then come from the MHP) and said so.
    """
    from sqlalchemy import select

    from m3tr.core.db.models import ModelVersion
    from m3tr.core.db.session import transaction
    from m3tr.core.demo_corpus import EVENT_TYPES
    from m3tr.core.training.service import ServiceTrainError, train_service_model

    name = "demo-m3tr"
    with ctx.session_factory() as session:
        if session.scalars(select(ModelVersion).where(ModelVersion.name == name)).first():
            return name
    with stage("fused model", None):
        try:
            info = train_service_model(
                ctx.session_factory,
                model_dir=ctx.model_dir,
                name=name,
                obs_window_s=ctx.obs_window_s,
                horizon_s=ctx.horizon_s,
                event_types=EVENT_TYPES,
                top_s=ctx.top_s,
                feature_dir=ctx.feature_dir,
                profile=ctx.encoder_profile,
                source="demo",
                seed=0,
                max_epochs=FUSED_EPOCHS,
                activate=False,
                progress=lambda msg: log.info("fused model: %s", msg),
            )
        except ServiceTrainError as exc:
            console.print(f"[yellow]fused model not trained:[/] {exc}")
            return None
    with stage("baselines", None):
        rows = baseline_rows(ctx, EVENT_TYPES)
    m3tr_row = {"method": "M3TR (fused, demo-m3tr)", **info["val"]}
    with transaction(ctx.session_factory) as session:
        row = session.scalars(select(ModelVersion).where(ModelVersion.name == name)).one()
        row.metrics = {
            **(row.metrics or {}),
            "evaluation": [m3tr_row, *rows],
            "evaluation_note": "validation videos of the demo corpus (10%), same for every method",
        }
        model_id = row.id
    if activate_if_usable(ctx, model_id):
        console.print(f"fused model [bold]{name}[/] trained and active")
    else:
        console.print(
            f"[yellow]fused model {name} trained (evaluation in the Model tab) but not active:[/] "
            "the pipeline could not serve it (see the log); forecasts come from the temporal model"
        )
    return name


def baseline_rows(ctx, event_types: tuple[str, ...]) -> list[dict[str, object]]:  # noqa: ANN001
    """Scores of cheap baselines on the validation videos ``m3tr train`` holds out (seed 0)."""
    from m3tr.core.evaluation.harness import run_methods, summarise
    from m3tr.core.evaluation.methods.gbdt import GBDT
    from m3tr.core.evaluation.methods.szabo_huberman import MeanBaseline, SzaboHuberman
    from m3tr.core.task.spec import TaskSpec
    from m3tr.core.task.splits import holdout_val
    from m3tr.core.training.data import DataSplit, load_from_db

    with ctx.session_factory() as session:
        data = load_from_db(
            session, TaskSpec(ctx.obs_window_s, ctx.horizon_s, tuple(event_types)), "demo"
        )
    fit, val = holdout_val(len(data), 0.1, seed=0)
    split = DataSplit(data.subset(fit), data.subset(val), data.subset(val))
    result = run_methods(split, [MeanBaseline(), SzaboHuberman(), GBDT(max_iter=200)], seeds=[0])
    return [{"method": name, **scores} for name, scores in summarise(result).items()]


def activate_if_usable(ctx, model_id: int) -> bool:  # noqa: ANN001
    """Make ``model_id`` the only active fused model; undo it unless the pipeline then serves it
    (its checkpoint loads and forecasts a matured demo video from its neighbours) and the
    temporal model still signs event logs."""
    from sqlalchemy import select

    from m3tr.core.db import registry
    from m3tr.core.db.models import ModelVersion, Video
    from m3tr.core.db.session import transaction
    from m3tr.core.pipeline import mhp_bridge
    from m3tr.core.pipeline.fused import FusedModelUnavailable, fused_forecast
    from m3tr.core.pipeline.trajectory_step import FUSED_MODEL_KINDS, active_model

    with transaction(ctx.session_factory) as session:
        previous = registry.active(session, FUSED_MODEL_KINDS)
        kind = session.get(ModelVersion, model_id).kind
        registry.activate(session, kind, model_id)
    with ctx.session_factory() as session:
        probe = list(
            session.scalars(
                select(Video.id)
                .where(Video.matured.is_(True))
                .order_by(Video.id)
                .limit(1 + ctx.top_s)
            )
        )
    try:
        fused = active_model(ctx, FUSED_MODEL_KINDS)
        if fused is None or fused.id != model_id:
            raise FusedModelUnavailable(f"model version {model_id} is not the active fused model")
        if probe:
            fused_forecast(ctx, fused, probe[0], probe[1:])
        current = active_model(ctx)
        if current is not None:
            mhp_bridge.signature_dim(ctx, current)
        return True
    except (FusedModelUnavailable, mhp_bridge.TemporalModelUnavailable) as exc:
        log.warning("fused model left inactive: %s", exc)
        with transaction(ctx.session_factory) as session:
            if previous is not None and previous.id != model_id:
                registry.activate(session, previous.kind, previous.id)
            else:
                registry.deactivate(session, model_id)
        return False


def serve_workspace(host: str, port: int) -> None:
    """``m3tr serve`` on the demo workspace: the web app and an embedded worker in this process,
    sharing one pipeline context (and vector store)."""
    from m3tr.app.cli.service import serve

    console.print(f"[bold green]m3tr demo[/] serving on http://{host}:{port}  (health: /healthz)")
    serve(host=host, port=port, with_worker=None, concurrency=1)


def demo(
    port: int = typer.Option(7860, "--port", "-p", help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", "--host"),
    videos: int = typer.Option(240, "--videos", "-n", min=8, help="Corpus size."),
    home: Path = typer.Option(DEFAULT_HOME, "--home", help="Demo workspace folder."),
    seed: int = typer.Option(0, "--seed"),
    rebuild: bool = typer.Option(False, "--rebuild", help="Start from an empty workspace."),
    build_only: bool = typer.Option(False, "--build-only", help="Build, then exit."),
) -> None:
    """Build a demo workspace (generated videos, event logs, a small model) and serve the app."""
    import shutil

    if rebuild and home.exists():
        if not (home / MARKER).exists() and any(home.iterdir()):
            fail(f"{home} is not a demo workspace (no {MARKER}); refusing to delete it")
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    _use_home(home)
    use_threads("demo")
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        # the progress bars say what happens; per-video pipeline lines would drown them
        for name in ("m3tr", "alembic", "httpx", "celery", "kombu"):
            logging.getLogger(name).setLevel(logging.WARNING)
    marker = home / MARKER
    summary = json.loads(marker.read_text()) if marker.is_file() else {}
    if summary.get("complete") and summary.get("videos") == videos and summary.get("seed") == seed:
        console.print(f"demo workspace {home} is ready ({videos} videos); serving it")
    else:
        start = time.perf_counter()
        summary = build_workspace(videos, seed)
        console.print(
            f"[bold]demo workspace built[/] in {time.perf_counter() - start:.0f} s: {summary}"
        )
    from m3tr.workers.context import close_context

    # the build's context owns the vector store (Qdrant Edge: one owner per folder); release
    # it, so that `serve` opens the one context the web app and its worker share
    close_context()
    if build_only:
        return
    serve_workspace(host, port)


def register(app: typer.Typer) -> None:
    """Add ``m3tr demo`` at top level."""
    app.command("demo")(demo)
