"""Lookalike browser: find a video, then its neighbours by content, by trajectory, combined."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select

from m3tr.app.services import Services
from m3tr.app.views.curves import Curve, cumulative, time_grid
from m3tr.app.views.prediction import NeighbourView, neighbour_views, video_title
from m3tr.core.db.models import Video
from m3tr.core.db.repository import load_events
from m3tr.core.retrieval.bank import live_bank

LIST_NAMES = ("content only", "trajectory only", "combined")


@dataclass
class LookalikeView:
    video_id: int
    title: str
    target: Curve | None
    lists: dict[str, list[NeighbourView]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    weight: float = 0.5
    collection: str = ""


def search_videos(services: Services, query: str, limit: int = 25) -> list[tuple[str, int]]:
    """(label, video id) choices whose id, external id or title matches ``query``."""
    q = (query or "").strip()
    stmt = select(Video.id, Video.title, Video.source, Video.external_id).order_by(Video.id)
    if q:
        conds = [Video.title.ilike(f"%{q}%"), Video.external_id == q]
        if q.isdigit():
            conds.append(Video.id == int(q))
        stmt = stmt.where(or_(*conds))
    with services.sessions() as session:
        rows = session.execute(stmt.limit(limit)).all()
    return [
        (f"{vid}: {(title or f'{source} {ext}')[:80]}", int(vid))
        for vid, title, source, ext in rows
    ]


def lookalikes(
    services: Services, video_id: int, weight: float = 0.5, top_s: int | None = None
) -> LookalikeView:
    """Three neighbour lists of ``video_id`` from the live bank (service leakage rules).

    weight: content weight of the combined list (0 = trajectory only, 1 = content only;
    0.5 is Eq. 3). Raises LookupError when the video or the live bank is missing.
    """
    from m3tr.core.retrieval.leakage import filter_for
    from m3tr.core.retrieval.similarity import SEMANTIC, TEMPORAL, retrieve

    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    top_s = top_s or services.settings.top_s
    horizon = services.settings.horizon_s
    with services.sessions() as session:
        video = session.get(Video, int(video_id))
        if video is None:
            raise LookupError(f"no video with id {video_id}")
        title = video_title(video)
        ev = load_events(session, [video.id]).get(video.id)
    bank = live_bank(services.sessions)
    if bank is None:
        raise LookupError("there is no live memory bank yet; build one (m3tr bank build)")
    store = services.store()
    if store is None:
        raise LookupError("no vector store is configured")
    sem, sem_ok = store.get_vectors(bank.collection, [video.id], SEMANTIC)  # (1, d_R), (1,)
    if not sem_ok[0]:
        raise LookupError(f"video {video.id} is not in the live bank {bank.collection}")
    tem, tem_ok = store.get_vectors(bank.collection, [video.id], TEMPORAL)  # (1, d_s), (1,)
    q_tem = tem[0] if tem_ok[0] else None
    flt = filter_for("service", video.id)
    view = LookalikeView(
        video_id=video.id,
        title=title,
        target=cumulative(ev[0], time_grid(horizon)) if ev is not None else None,
        weight=weight,
        collection=bank.collection,
    )
    for name, w in zip(LIST_NAMES, (1.0, 0.0, weight), strict=True):
        if q_tem is None and name == "trajectory only":
            view.lists[name] = []
            continue
        result = retrieve(
            store, bank.collection, sem[0], q_tem, top_s=top_s, filter=flt, query_id=video.id,
            weight=w,
        )  # fmt: skip
        if result.reason and result.reason not in view.notes:
            view.notes.append(result.reason)
        raw = [
            {
                "video_id": h.video_id,
                "content": h.content,
                "temporal": h.temporal,
                "combined": h.combined,
            }
            for h in result.hits
        ]
        with services.sessions() as session:
            view.lists[name] = neighbour_views(session, raw, horizon)
    if q_tem is None:
        view.notes.insert(0, "no trajectory vector for this video: content-only fallback")
    return view
