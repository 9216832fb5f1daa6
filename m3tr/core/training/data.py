"""Task data: per-video observed events, text, side features and targets.

Built from the CED Weibo folder (``posts.csv``, ``events.csv.gz``), the MicroLens folder
(labels and titles, no events) or the SQL database. Only events in ``[0, T_obs]`` are kept, so
nothing after the observation window can reach a model by mistake.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from m3tr.core.datasets.base import DatasetError
from m3tr.core.datasets.ced_weibo import read_ced_weibo
from m3tr.core.db.models import Label, Video
from m3tr.core.db.repository import load_events
from m3tr.core.task.spec import TaskSpec, split_observed
from m3tr.core.training.content import ContentArrays

logger = logging.getLogger(__name__)

CED_SIDE_COLUMNS = ("followers", "friends", "verified", "pics")
# side features of rows built from the database: the ``videos.extra`` keys the importers fill
# (``m3tr dataset ced-weibo`` writes the author/post metadata there); a fused model records the
# columns it was trained with in its checkpoint and is served with those
VIDEO_SIDE_COLUMNS = CED_SIDE_COLUMNS


@dataclass
class TaskData:
    """N videos ready for a model.

    Attributes:
        spec: the task.
        video_ids: (N,) int64 ids (SQL ids, or row numbers for files).
        keys: N external ids (strings).
        texts: N texts (title and description).
        event_t: N arrays (n_i,) float64 of observed event times in [0, T_obs].
        event_k: N arrays (n_i,) int64 of observed event type indices.
        targets: (N, K) int64 counts at H per type.
        side: (N, F) float32 author/post metadata known at publication (log1p-scaled, NaN-free).
        side_names: F names.
        source: where the data came from.
        content: content arrays aligned with the rows (attach with ``with_content``).
        event_user: N arrays (n_i,) int64 codes of the acting user of each observed event
            (same code = same user within one dataset), or None where the source has none.
        event_root: N arrays (n_i,) bool: the event acts on the root post itself (False: on
            another event of the cascade, e.g. a repost of a repost), or None.
        published_at: (N,) float64 unix seconds of publication (NaN where unknown), or None.
    """

    spec: TaskSpec
    video_ids: np.ndarray
    keys: list[str]
    texts: list[str]
    event_t: list[np.ndarray]
    event_k: list[np.ndarray]
    targets: np.ndarray
    side: np.ndarray
    side_names: list[str] = field(default_factory=list)
    source: str = ""
    content: ContentArrays | None = None
    event_user: list[np.ndarray] | None = None
    event_root: list[np.ndarray] | None = None
    published_at: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.video_ids.shape[0])

    def __post_init__(self) -> None:
        n = len(self.video_ids)
        for name, obj in (
            ("keys", self.keys),
            ("texts", self.texts),
            ("event_t", self.event_t),
            ("event_k", self.event_k),
            ("targets", self.targets),
            ("side", self.side),
            ("event_user", self.event_user),
            ("event_root", self.event_root),
            ("published_at", self.published_at),
        ):
            if obj is not None and len(obj) != n:
                raise ValueError(f"TaskData.{name}: {len(obj)} rows for {n} videos")
        if self.targets.ndim != 2 or self.targets.shape[1] != self.spec.num_types:
            raise ValueError(
                f"TaskData.targets: expected (N, {self.spec.num_types}), got {self.targets.shape}"
            )

    def subset(self, idx: np.ndarray) -> TaskData:
        """The rows ``idx`` (in that order)."""
        idx = np.asarray(idx, dtype=np.int64)
        return replace(
            self,
            video_ids=self.video_ids[idx],
            keys=[self.keys[i] for i in idx],
            texts=[self.texts[i] for i in idx],
            event_t=[self.event_t[i] for i in idx],
            event_k=[self.event_k[i] for i in idx],
            targets=self.targets[idx],
            side=self.side[idx],
            content=None if self.content is None else self.content.subset(idx),
            event_user=None if self.event_user is None else [self.event_user[i] for i in idx],
            event_root=None if self.event_root is None else [self.event_root[i] for i in idx],
            published_at=None if self.published_at is None else self.published_at[idx],
        )

    def with_content(self, content: ContentArrays) -> TaskData:
        """The same data with content arrays attached (one row per video, same order)."""
        if len(content) != len(self):
            raise ValueError(f"{len(content)} content rows for {len(self)} videos")
        return replace(self, content=content)

    @property
    def obs_counts(self) -> np.ndarray:
        """(N, K) int64 counts per type in [0, T_obs]."""
        k = self.spec.num_types
        return np.stack(
            [np.bincount(e, minlength=k) for e in self.event_k] or [np.zeros(k, np.int64)]
        )[: len(self)]

    def y_log(self) -> np.ndarray:
        """(N, K + 1) float64 log1p targets: each type, then the total."""
        total = self.targets.sum(axis=1, keepdims=True)  # (N, 1)
        return np.log1p(np.concatenate([self.targets, total], axis=1).astype(np.float64))


@dataclass
class DataSplit:
    """The three parts of one fit: train (the retrieval bank too), val (early stopping and
    calibration) and test (scored once; the validation part again when there is none).
    Retrieval may only ever see ``train``."""

    train: TaskData
    val: TaskData
    test: TaskData


def side_features(frame: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """(N, 2F) float32: log1p(max(x, 0)) and an is-missing flag per column."""
    parts = []
    for c in columns:
        raw = (
            pd.to_numeric(frame[c], errors="coerce")
            if c in frame
            else pd.Series(np.nan, frame.index)
        )
        missing = raw.isna().to_numpy()
        parts.append(np.log1p(np.clip(raw.fillna(0.0).to_numpy(np.float64), 0, None)))
        parts.append(missing.astype(np.float64))
    return (
        np.stack(parts, axis=1).astype(np.float32)
        if parts
        else np.zeros((len(frame), 0), np.float32)
    )


def side_names(columns: tuple[str, ...]) -> list[str]:
    return [n for c in columns for n in (f"log1p_{c}", f"{c}_missing")]


def load_ced_weibo(path: str | Path, spec: TaskSpec) -> TaskData:
    """CED Weibo folder -> TaskData (ids are row numbers of posts.csv).

    Raises:
        DatasetError: missing files/columns, or event types outside ``spec.event_types``.
    """
    posts, events = read_ced_weibo(path)
    if posts["post_id"].duplicated().any():
        dup = posts.loc[posts["post_id"].duplicated(), "post_id"].iloc[0]
        raise DatasetError(f"{path}/posts.csv: duplicate post_id {dup!r}")
    events = events.sort_values(["post_id", "t"], kind="stable")
    try:
        type_idx = spec.type_index(events["type"].to_numpy(), where=f"{path}/events.csv.gz")
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    t = events["t"].to_numpy(np.float64)
    pid = events["post_id"].to_numpy()
    # optional per-event columns (README: user, parent_is_root); codes are dataset-wide
    users = (
        pd.factorize(events["user"].fillna(""), sort=True)[0].astype(np.int64)
        if "user" in events
        else None
    )
    roots = (
        pd.to_numeric(events["parent_is_root"], errors="coerce").fillna(1).to_numpy() > 0
        if "parent_is_root" in events
        else None
    )
    starts = {}
    if len(pid):
        cuts = np.flatnonzero(pid[1:] != pid[:-1]) + 1
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(pid)], strict=True):
            starts[pid[a]] = (a, b)
    ev_t, ev_k, ev_u, ev_r, targets = [], [], [], [], []
    for p in posts["post_id"]:
        a, b = starts.get(p, (0, 0))
        to, ko, tgt = split_observed(t[a:b], type_idx[a:b], spec)
        ev_t.append(to)
        ev_k.append(ko)
        m = a + len(to)  # the observed events are the first len(to) of the sorted rows
        if users is not None:
            ev_u.append(users[a:m].copy())
        if roots is not None:
            ev_r.append(roots[a:m].copy())
        targets.append(tgt)
    published = (
        pd.to_numeric(posts["published_at"], errors="coerce").to_numpy(np.float64)
        if "published_at" in posts
        else None
    )
    texts = posts["text"].fillna("").astype(str).tolist()
    data = TaskData(
        spec=spec,
        video_ids=np.arange(len(posts), dtype=np.int64),
        keys=posts["post_id"].astype(str).tolist(),
        texts=texts,
        event_t=ev_t,
        event_k=ev_k,
        targets=np.stack(targets) if targets else np.zeros((0, spec.num_types), np.int64),
        side=side_features(posts, CED_SIDE_COLUMNS),
        side_names=side_names(CED_SIDE_COLUMNS),
        source=f"ced-weibo:{path}",
        event_user=ev_u if users is not None else None,
        event_root=ev_r if roots is not None else None,
        published_at=published,
    )
    logger.info("loaded %d CED Weibo posts from %s", len(data), path)
    return data


def load_microlens(path: str | Path) -> TaskData:
    """MicroLens folder -> TaskData with the comment count as the only (final) label, no events."""
    path = Path(path)
    labels_f, titles_f = path / "labels.csv", path / "titles.csv"
    if not labels_f.is_file():
        raise DatasetError(f"{path}: expected labels.csv (see ../shared/data/README.md)")
    labels = pd.read_csv(labels_f, dtype={"video_id": str})
    if {"video_id", "comment_count"} - set(labels.columns):
        raise DatasetError(f"{labels_f}: needs columns video_id, comment_count")
    titles = (
        pd.read_csv(titles_f, dtype={"video_id": str}, keep_default_na=False)
        if titles_f.is_file()
        else pd.DataFrame({"video_id": [], "title": []})
    )
    df = labels.merge(titles[["video_id", "title"]], on="video_id", how="left")
    spec = TaskSpec(obs_window_s=0.0, horizon_s=float("inf"), event_types=("comment",))
    n = len(df)
    empty_t, empty_k = np.zeros(0, np.float64), np.zeros(0, np.int64)
    return TaskData(
        spec=spec,
        video_ids=np.arange(n, dtype=np.int64),
        keys=df["video_id"].astype(str).tolist(),
        texts=df["title"].fillna("").astype(str).tolist(),
        event_t=[empty_t] * n,
        event_k=[empty_k] * n,
        targets=df["comment_count"].to_numpy(np.int64)[:, None],
        side=np.zeros((n, 0), np.float32),
        source=f"microlens:{path}",
    )


def load_from_db(
    session: Session,
    spec: TaskSpec,
    source: str | None = None,
    side_columns: tuple[str, ...] = VIDEO_SIDE_COLUMNS,
) -> TaskData:
    """Matured videos with events from SQL -> TaskData (ordered by id): :func:`rows_from_db`
    of every matured video (of ``source`` when given)."""
    q = select(Video.id).where(Video.matured.is_(True)).order_by(Video.id)
    if source is not None:
        q = q.where(Video.source == source)
    data = rows_from_db(session, spec, list(session.scalars(q)), side_columns)
    return replace(data, source="sql" if source is None else f"sql:{source}")


def rows_from_db(
    session: Session,
    spec: TaskSpec,
    video_ids: Sequence[int],
    side_columns: tuple[str, ...],
    without_events: Collection[int] = (),
) -> TaskData:
    """TaskData of ``video_ids``, in that order: the one builder of a model's input rows from
    the database, for training (:func:`load_from_db`) and for serving (``pipeline.fused``).

    Per video: the logged events of ``spec``'s types in ``[0, T_obs]``; the target per type is
    the label stored at ``horizon_s == H`` when there is one, else the count of logged events with
    ``t <= H`` (a matured video's log covers H); the side features are ``videos.extra`` through
    ``side_columns`` (:func:`side_features`). Ids that do not exist are left out, and so are
    videos without an event log except those in ``without_events`` (a video being served may
    have none yet: it gets an empty log).
    """
    ids = [int(v) for v in video_ids]
    videos = {v.id: v for v in session.scalars(select(Video).where(Video.id.in_(ids)))}
    events = load_events(session, ids)
    allowed = set(without_events)
    keep = [videos[v] for v in ids if v in videos and (v in events or v in allowed)]
    h_labels: dict[tuple[int, str], int] = {}
    if keep and np.isfinite(spec.horizon_s):
        rows = session.execute(
            select(Label.video_id, Label.type, Label.count).where(
                Label.horizon_s == spec.horizon_s, Label.video_id.in_([v.id for v in keep])
            )
        ).all()
        h_labels = {(int(vid), str(typ)): int(c) for vid, typ, c in rows}
    no_events = (np.zeros(0), np.zeros(0, dtype=object))
    ev_t, ev_k, targets = [], [], []
    for v in keep:
        t, typ = events.get(v.id, no_events)
        known = np.isin(typ.astype(str), spec.event_types)
        if not known.all():
            logger.debug("video %d: ignoring %d events of other types", v.id, int((~known).sum()))
        k = spec.type_index(typ[known].astype(str), where=f"video {v.id}")
        to, ko, tgt = split_observed(t[known], k, spec)
        for j, name in enumerate(spec.event_types):
            tgt[j] = h_labels.get((v.id, name), tgt[j])
        ev_t.append(to)
        ev_k.append(ko)
        targets.append(tgt)
    side_frame = pd.DataFrame([dict(v.extra or {}) for v in keep], index=range(len(keep)))
    return TaskData(
        spec=spec,
        video_ids=np.array([v.id for v in keep], dtype=np.int64),
        keys=[v.external_id for v in keep],
        texts=[". ".join(p for p in (v.title, v.description) if p) for v in keep],
        event_t=ev_t,
        event_k=ev_k,
        targets=np.stack(targets) if targets else np.zeros((0, spec.num_types), np.int64),
        side=side_features(side_frame, side_columns),
        side_names=side_names(side_columns),
        source="sql",
    )
