"""``m3tr bank build | query | stats | live | delete``: the memory bank from the command line.

Vectors come from the other modules' stores: R from the content feature store
(``m3tr content embed`` fills it), the trajectory vector from the pipeline's temporal store
(mean-pooled MHP signature of the active model, or the ``eventbins`` stand-in, computed here
when missing). Qdrant local mode is single-process: stop ``m3tr serve`` / workers first, or
point ``M3TR_QDRANT_URL`` at a server.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from m3tr.app.cli.common import choices, console, fail, session_factory, settings, stdout, value
from m3tr.core.db.models import Video
from m3tr.core.retrieval.bank import (
    BankError,
    BankInfo,
    build_bank,
    delete_bank,
    get_bank,
    list_banks,
    live_bank,
    set_live,
)
from m3tr.core.retrieval.leakage import filter_for
from m3tr.core.retrieval.similarity import DEFAULT_PREFETCH_N, SEMANTIC, TEMPORAL, retrieve
from m3tr.core.retrieval.sources import SourceReport, iter_bank_items
from m3tr.core.retrieval.store import StoreError, VectorStore

app = typer.Typer(no_args_is_help=True)


def _context():  # noqa: ANN202 - PipelineContext, imported lazily (loads the pipeline modules)
    from m3tr.workers.context import build_context

    session_factory()  # migrate first
    return build_context(settings())


def _open_store(ctx) -> VectorStore:  # noqa: ANN001
    try:
        return ctx.store()
    except StoreError as exc:
        fail(str(exc))


def _vector_sources(ctx, compute_temporal: bool):  # noqa: ANN001, ANN202
    """(semantic fn, temporal fn, bank profile, model version id, temporal tag)."""
    from m3tr.core.content.store import FeatureStore
    from m3tr.core.pipeline.signatures import load_temporal
    from m3tr.core.pipeline.trajectory_step import (
        active_model,
        bank_profile,
        embed_temporal,
        temporal_tag,
    )

    pv = ctx.profile().profile_version  # with the text fit in use
    features = FeatureStore(ctx.feature_dir)
    tag = temporal_tag(ctx)
    model = active_model(ctx)

    def semantic(videos: Sequence[Video]) -> list[np.ndarray | None]:
        return [
            features.get(str(v.id), pv).R if features.has(str(v.id), pv) else None for v in videos
        ]

    def temporal(video_ids: Sequence[int]) -> list[np.ndarray | None]:
        out = []
        for vid in video_ids:
            tv = load_temporal(ctx.feature_dir, tag, vid)
            if tv is None and compute_temporal:
                tv = embed_temporal(ctx, vid)
            out.append(None if tv is None else tv.vector)
        return out

    return semantic, temporal, bank_profile(ctx, pv, tag), (model.id if model else None), tag


def _print_bank(info: BankInfo) -> None:
    live = "[bold green]live[/]" if info.is_live else "not live"
    console.print(
        f"bank {info.id} [bold]{info.collection}[/] ({info.backend}, profile "
        f"{info.encoder_profile}, model {info.model_version_id}): {info.n_videos} videos, "
        f"{info.n_temporal} with a trajectory vector; {live}"
    )


@app.command()
def build(
    live: bool = typer.Option(False, "--live", help="Make the new bank live when it is built."),
    matured_only: bool = typer.Option(False, help="Only videos whose horizon is past."),
    compute_temporal: bool = typer.Option(
        True, help="Compute missing trajectory vectors (stand-in or MHP) while building."
    ),
    batch_size: int = typer.Option(1024, min=1),
    synthetic: int = typer.Option(
        0,
        "--synthetic",
        min=0,
        help="Also add this many synthetic videos (SQL rows, clustered vectors in the real "
        "videos' dimensions) to try the service at scale; they have no media and no events.",
    ),
    synthetic_seed: int = typer.Option(0, "--synthetic-seed", help="Seed of the synthetic videos."),
) -> None:
    """Build a new bank version from the stored vectors (the live bank is not touched)."""
    ctx = _context()
    store = _open_store(ctx)
    semantic, temporal, profile, model_id, tag = _vector_sources(ctx, compute_temporal)
    factory = ctx.session_factory
    with factory() as s:
        total = s.scalar(select(func.count()).select_from(Video)) or 0
    if total == 0:
        fail("no videos in the database; import some first (m3tr dataset import ...)")
    report = SourceReport()
    items = iter_bank_items(factory, semantic, temporal, matured_only=matured_only, report=report)
    first = next(items, None)
    if first is None:
        fail(
            f"none of the {total} videos has a content vector for profile "
            f"{ctx.encoder_profile!r}; run `m3tr content embed` first"
        )
    dims = {SEMANTIC: int(first.semantic.shape[0])}
    pending = [first]
    for item in items:  # find the trajectory dimension (the first video that has one)
        pending.append(item)
        if item.temporal is not None or len(pending) >= 10_000:
            break
    with_t = next((it for it in pending if it.temporal is not None), None)
    if with_t is None:
        fail("no video has a trajectory vector (no events in the observation window)")
    dims[TEMPORAL] = int(with_t.temporal.shape[0])

    fake_ids = np.zeros(0, dtype=np.int64)
    if synthetic:
        from m3tr.core.retrieval.synthetic_bank import ClusteredSpec
        from m3tr.core.retrieval.synthetic_videos import add_synthetic_videos, synthetic_items

        with console.status(f"adding {synthetic} synthetic video rows"):
            fake_ids = add_synthetic_videos(factory, synthetic, ClusteredSpec(), synthetic_seed)
        total += synthetic

    def all_items():  # noqa: ANN202
        yield from pending
        yield from items
        if synthetic:
            yield from synthetic_items(fake_ids, dims, ClusteredSpec(), synthetic_seed)

    with Progress(
        TextColumn("building bank"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("bank", total=total)
        try:
            info = build_bank(
                factory,
                store,
                all_items(),
                profile=profile,
                dims=dims,
                model_version_id=model_id,
                batch_size=batch_size,
                progress=lambda done: bar.update(task, completed=max(report.seen, done)),
            )
        except BaseException as exc:
            if fake_ids.size:
                from m3tr.core.retrieval.synthetic_videos import remove_synthetic_videos

                remove_synthetic_videos(factory, fake_ids)
            if isinstance(exc, BankError | StoreError):
                fail(f"bank build failed, nothing kept: {exc}")
            raise
    if live:
        info = set_live(factory, info.id)
    ctx.close()
    _print_bank(info)
    console.print(
        f"trajectory vectors: {tag}; {report.skipped_no_semantic} videos skipped (no content "
        f"vector), {report.no_temporal} without a trajectory (content-only neighbours)"
        + (f"; {synthetic} synthetic videos (source 'synthetic')" if synthetic else "")
    )


PurposeChoice = choices("PurposeChoice", ["service", "eval", "train"])


@app.command()
def query(
    video: str = typer.Argument(..., help="Video id or external id."),
    top: int = typer.Option(10, "--top", "-S", min=1, help="Neighbours to return (S)."),
    prefetch: int = typer.Option(DEFAULT_PREFETCH_N, "--prefetch", "-N", min=1),
    purpose_choice: PurposeChoice = typer.Option(
        "service", "--purpose", help="service: matured videos only; eval; train."
    ),
    weight: float = typer.Option(0.5, min=0.0, max=1.0, help="Content weight (0.5 = Eq. 3)."),
    bank_id: int = typer.Option(None, "--bank", help="Bank version (default: the live one)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Neighbours of one video by Eq. 3 (content + trajectory), with the parts of each score."""
    from m3tr.core.db.repository import VideoNotFound, find_video

    purpose = str(value(purpose_choice))
    ctx = _context()
    factory = ctx.session_factory
    try:
        info = get_bank(factory, bank_id) if bank_id is not None else live_bank(factory)
    except BankError as exc:
        fail(str(exc))
    if info is None:
        fail("no live bank; build one with `m3tr bank build --live`")
    with factory() as s:
        try:
            vid = find_video(s, video).id
        except VideoNotFound as exc:
            fail(str(exc))
    store = _open_store(ctx)
    sem, has_s = store.get_vectors(info.collection, [vid], SEMANTIC)
    tem, has_t = store.get_vectors(info.collection, [vid], TEMPORAL)
    if not has_s[0]:
        semantic, temporal, *_ = _vector_sources(ctx, compute_temporal=True)
        with factory() as s:
            r = semantic([s.get(Video, vid)])[0]
        if r is None:
            fail(f"video {vid} has no content vector; run `m3tr content embed` first")
        sem[0], t_vec = r, temporal([vid])[0]
        has_t[0] = t_vec is not None
        if t_vec is not None:
            tem = np.asarray(t_vec, dtype=np.float32)[None, :]
    result = retrieve(
        store,
        info.collection,
        sem[0],
        tem[0] if has_t[0] else None,
        top_s=top,
        prefetch_n=prefetch,
        filter=filter_for(purpose, vid),
        query_id=vid,
        weight=weight,  # type: ignore[arg-type]
    )
    ctx.close()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "video_id": vid,
                    "bank": info.collection,
                    "mode": result.mode,
                    "reason": result.reason,
                    "certified": result.certified,
                    "neighbours": [h.__dict__ for h in result.hits],
                }
            )
        )
        return
    table = Table(title=f"neighbours of video {vid} in {info.collection} ({result.mode})")
    for col in ("#", "video", "external id", "SS", "content", "trajectory", "labels"):
        table.add_column(col)
    for rank, h in enumerate(result.hits, 1):
        table.add_row(
            str(rank),
            str(h.video_id),
            str(h.payload.get("external_id", "")),
            f"{h.combined:.3f}",
            f"{h.content:.3f}",
            "-" if h.temporal is None else f"{h.temporal:.3f}",
            json.dumps(h.payload.get("labels", {})),
        )
    stdout.print(table)  # the listing on stdout; logs on stderr
    if result.reason:
        console.print(f"[yellow]content only:[/] {result.reason}")


@app.command()
def stats(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every bank version: counts in SQL and in the vector store, and which one is live."""
    ctx = _context()
    banks = list_banks(ctx.session_factory)
    store = _open_store(ctx) if banks else None
    rows = []
    for b in banks:
        in_store = None
        if store is not None and b.backend == store.backend and store.has_collection(b.collection):
            in_store = store.count(b.collection)
        rows.append({**b.__dict__, "created_at": str(b.created_at), "points_in_store": in_store})
    ctx.close()
    if as_json:
        typer.echo(json.dumps(rows))
        return
    if not rows:
        console.print("no banks yet; build one with `m3tr bank build --live`")
        return
    table = Table(title="memory banks")
    for col in ("id", "collection", "backend", "profile", "videos", "temporal", "in store", "live"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["collection"],
            r["backend"],
            r["encoder_profile"],
            str(r["n_videos"]),
            str(r["n_temporal"]),
            "missing" if r["points_in_store"] is None else str(r["points_in_store"]),
            "yes" if r["is_live"] else "",
        )
    stdout.print(table)  # the listing on stdout; logs on stderr


@app.command("live")
def make_live(bank_id: int = typer.Argument(..., help="Bank version to serve from.")) -> None:
    """Switch the live bank (one SQL transaction; the previous bank stays)."""
    try:
        _print_bank(set_live(session_factory(), bank_id))
    except BankError as exc:
        fail(str(exc))


@app.command()
def delete(bank_id: int = typer.Argument(..., help="Bank version to delete.")) -> None:
    """Delete a bank version that is not live (its collection and its row)."""
    ctx = _context()
    try:
        delete_bank(ctx.session_factory, _open_store(ctx), bank_id)
    except BankError as exc:
        fail(str(exc))
    finally:
        ctx.close()
    console.print(f"bank {bank_id} deleted")
