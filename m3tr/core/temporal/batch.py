"""Event sequences and padded batches of them.

An :class:`EventSequence` is one video's log in seconds; an :class:`EventBatch` is many of them
in the model's time unit, padded, with a begin-of-sequence (BOS) slot at index 0 (time 0, type
``n_types``) so that every sequence, even an empty one (cold start), has a first state.

Conventions for a batch of ``B`` sequences with at most ``L`` events (slots ``0..L``):

- ``times``: (B, L+1) event times, slot 0 is 0; padding repeats the last valid time.
- ``types``: (B, L+1) type ids in ``[0, K)``; slot 0 and padding hold ``K`` (the BOS id).
- ``mask``:  (B, L+1) True for BOS and real events.
- ``dt``:    (B, L+1) time since the previous slot (0 for BOS and padding).
- ``t_end``: (B,) end of the observation window, ``>=`` the last event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import Tensor

log = logging.getLogger(__name__)


class EventSequenceError(ValueError):
    """An event sequence that cannot be modelled; the message says which and why."""


class UnknownEventTypeError(EventSequenceError):
    """An event type outside the model's vocabulary."""


@dataclass(frozen=True)
class EventVocab:
    """The ordered event types a model knows; ``index`` maps names to ids ``0..K-1``."""

    types: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.types:
            raise ValueError("an event vocabulary needs at least one type")
        if len(set(self.types)) != len(self.types):
            raise ValueError(f"duplicate event types in vocabulary {self.types}")

    @property
    def n_types(self) -> int:
        return len(self.types)

    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.types)}

    def encode(self, names: Iterable[str], where: str = "", unknown: str = "error") -> np.ndarray:
        """Type names -> ids (int64). ``unknown``: ``"error"`` (default) or ``"drop"`` (id -1)."""
        idx = self.index()
        arr = np.asarray(list(names), dtype=object)
        ids = np.fromiter((idx.get(str(n), -1) for n in arr), dtype=np.int64, count=arr.shape[0])
        bad = ids < 0
        if bad.any():
            seen = sorted({str(n) for n in arr[bad]})
            if unknown == "error":
                raise UnknownEventTypeError(
                    f"{where or 'event log'}: unknown event type(s) {seen[:5]}; "
                    f"the model knows {list(self.types)}"
                )
            log.warning("%s: dropping %d events of unknown type(s) %s", where, bad.sum(), seen[:5])
        return ids


@dataclass
class EventSequence:
    """One video's events: times in seconds since publication, type ids, observation end.

    Attributes:
        times_s: (n,) float64, non-decreasing, finite, >= 0.
        types: (n,) int64 type ids.
        t_end_s: end of the observation window (>= last time); defaults to the last time.
        key: the video's id or name, used in messages.
    """

    times_s: np.ndarray
    types: np.ndarray
    t_end_s: float | None = None
    key: str | int | None = None

    def __post_init__(self) -> None:
        self.times_s = np.asarray(self.times_s, dtype=np.float64).reshape(-1)
        self.types = np.asarray(self.types, dtype=np.int64).reshape(-1)
        where = f"sequence {self.key!r}" if self.key is not None else "sequence"
        if self.times_s.shape != self.types.shape:
            raise EventSequenceError(
                f"{where}: {self.times_s.shape[0]} times but {self.types.shape[0]} types"
            )
        if self.times_s.size:
            if not np.isfinite(self.times_s).all():
                raise EventSequenceError(f"{where}: times must be finite (found NaN or inf)")
            if self.times_s[0] < 0:
                raise EventSequenceError(f"{where}: negative time {self.times_s[0]}")
            if (np.diff(self.times_s) < 0).any():
                i = int(np.argmax(np.diff(self.times_s) < 0))
                raise EventSequenceError(f"{where}: times decrease at event {i + 1}")
        last = float(self.times_s[-1]) if self.times_s.size else 0.0
        if self.t_end_s is None:
            self.t_end_s = last
        elif not np.isfinite(self.t_end_s) or self.t_end_s < last:
            raise EventSequenceError(
                f"{where}: t_end_s {self.t_end_s} is before the last event {last}"
            )

    def __len__(self) -> int:
        return int(self.times_s.shape[0])

    def window(self, t_end_s: float) -> EventSequence:
        """Events with ``t < t_end_s``, observed on ``[0, t_end_s)``."""
        keep = self.times_s < t_end_s
        return EventSequence(self.times_s[keep], self.types[keep], float(t_end_s), self.key)

    def check_types(self, n_types: int) -> None:
        if self.types.size and (self.types.min() < 0 or self.types.max() >= n_types):
            bad = sorted(set(self.types[(self.types < 0) | (self.types >= n_types)].tolist()))
            raise UnknownEventTypeError(
                f"sequence {self.key!r}: type ids {bad[:5]} outside [0, {n_types})"
            )


@dataclass
class EventBatch:
    """Padded sequences in model time units (see the module docstring for the layout)."""

    times: Tensor  # (B, L+1)
    types: Tensor  # (B, L+1) long
    mask: Tensor  # (B, L+1) bool
    dt: Tensor  # (B, L+1)
    lengths: Tensor  # (B,) long, real events per sequence
    t_end: Tensor  # (B,)
    n_types: int
    time_unit_s: float
    keys: list[str | int | None] = field(default_factory=list)

    @property
    def batch_size(self) -> int:
        return int(self.times.shape[0])

    @property
    def max_len(self) -> int:
        return int(self.times.shape[1]) - 1

    @property
    def event_mask(self) -> Tensor:
        """(B, L+1) True for real events only (BOS excluded)."""
        m = self.mask.clone()
        m[:, 0] = False
        return m

    def to(self, device: torch.device | str) -> EventBatch:
        return EventBatch(
            self.times.to(device),
            self.types.to(device),
            self.mask.to(device),
            self.dt.to(device),
            self.lengths.to(device),
            self.t_end.to(device),
            self.n_types,
            self.time_unit_s,
            list(self.keys),
        )


def make_batch(
    sequences: Sequence[EventSequence],
    n_types: int,
    time_unit_s: float,
    max_len: int | None = None,
    device: torch.device | str = "cpu",
) -> EventBatch:
    """Pad sequences into an :class:`EventBatch`.

    A sequence longer than ``max_len`` is cut to its first ``max_len`` events and its window
    ends at the first dropped event (so the window still holds exactly the kept events).
    """
    if time_unit_s <= 0:
        raise ValueError(f"time_unit_s must be > 0, got {time_unit_s}")
    cut = [_truncate(s, max_len) for s in sequences]
    for s in cut:
        s.check_types(n_types)
    n = len(cut)
    width = max((len(s) for s in cut), default=0) + 1
    times = np.zeros((n, width), dtype=np.float64)
    types = np.full((n, width), n_types, dtype=np.int64)
    mask = np.zeros((n, width), dtype=bool)
    mask[:, 0] = True
    t_end = np.zeros(n, dtype=np.float64)
    for i, s in enumerate(cut):
        m = len(s)
        times[i, 1 : m + 1] = s.times_s / time_unit_s
        times[i, m + 1 :] = times[i, m]
        types[i, 1 : m + 1] = s.types
        mask[i, 1 : m + 1] = True
        t_end[i] = float(s.t_end_s) / time_unit_s
    dt = np.zeros_like(times)
    dt[:, 1:] = np.diff(times, axis=1)
    dt[~mask] = 0.0
    f32 = dict(dtype=torch.float32, device=device)
    return EventBatch(
        times=torch.as_tensor(times, **f32),
        types=torch.as_tensor(types, device=device),
        mask=torch.as_tensor(mask, device=device),
        dt=torch.as_tensor(dt, **f32),
        lengths=torch.as_tensor([len(s) for s in cut], dtype=torch.long, device=device),
        t_end=torch.as_tensor(t_end, **f32),
        n_types=n_types,
        time_unit_s=time_unit_s,
        keys=[s.key for s in cut],
    )


def _truncate(s: EventSequence, max_len: int | None) -> EventSequence:
    if max_len is None or len(s) <= max_len:
        return s
    t_cut = float(s.times_s[max_len])
    out = s.window(t_cut)
    if len(out) == 0 and len(s):  # all of the first events share one timestamp
        out = EventSequence(s.times_s[:max_len], s.types[:max_len], t_cut, s.key)
    return out


def sequences_from_frame(
    events: pd.DataFrame,
    vocab: EventVocab,
    id_col: str = "video_id",
    t_col: str = "t",
    type_col: str = "type",
    window_s: float | None = None,
    t_end_s: dict | None = None,
    unknown: str = "error",
) -> list[EventSequence]:
    """Group an event table into sequences (one per id, ordered by id then time).

    Args:
        window_s: keep events with ``t < window_s`` and observe every sequence on ``[0, window_s)``.
        t_end_s: per-id observation end (overrides the last event time; ignored with ``window_s``).
        unknown: what to do with unknown event types, ``"error"`` or ``"drop"``.
    """
    missing = {id_col, t_col, type_col} - set(events.columns)
    if missing:
        raise EventSequenceError(f"event table: missing columns {sorted(missing)}")
    df = events[[id_col, t_col, type_col]]
    ids = vocab.encode(df[type_col].astype(str), where="event table", unknown=unknown)
    df = df.assign(_k=ids, _t=pd.to_numeric(df[t_col], errors="coerce"))
    if df["_t"].isna().any():
        raise EventSequenceError(f"event table: non-numeric {t_col!r} values")
    df = df[df["_k"] >= 0]
    if window_s is not None:
        df = df[df["_t"] < window_s]
    df = df.sort_values([id_col, "_t"], kind="stable")
    out = []
    for key, g in df.groupby(id_col, sort=True):
        end = window_s if window_s is not None else (t_end_s or {}).get(key)
        out.append(EventSequence(g["_t"].to_numpy(), g["_k"].to_numpy(), end, key))
    return out
