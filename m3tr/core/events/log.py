"""Event-log files: read, validate, normalise.

An event log is a table with columns ``t`` (seconds since publication, or ISO timestamps together
with a ``published_at``), ``type`` (from a declared vocabulary) and an optional ``user``. Every
problem is reported as an :class:`EventLogError` naming the file, the line and the column.
Line numbers are those a person sees in the file: for CSV the header is line 1, for JSON lines
the first record is line 1; Parquet rows are numbered from 1.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

SUFFIXES = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
}


# Latest accepted event time: ten years after publication (far past any horizon; a guard
# against values such as 1e308 that would overflow later arithmetic).
MAX_T_S = 10 * 365.25 * 86400.0
# Columns read from a file; others are ignored (Parquet: never read at all).
COLUMNS = ("t", "type", "user", "published_at")
# Rows read at a time from CSV, so a log past the cap is refused before it is all in memory.
CSV_CHUNK_ROWS = 50_000
# Uncompressed Parquet bytes allowed per event in the columns read (a guard against a tiny
# compressed file that expands to gigabytes in few rows).
PARQUET_BYTES_PER_EVENT = 1024


class EventLogError(ValueError):
    """A bad event-log file; the message says where and what."""


@dataclass(frozen=True)
class EventLogRules:
    """What a valid log looks like."""

    vocabulary: Sequence[str]
    max_events: int = 200_000
    max_t_s: float = MAX_T_S
    max_user_len: int = 128  # the width of events.user in SQL


@dataclass
class EventLog:
    """A validated log, sorted by time. ``t`` in seconds since publication (float64)."""

    t: np.ndarray  # (n,) float64, non-decreasing, >= 0
    type: np.ndarray  # (n,) object (str), each in the vocabulary
    user: np.ndarray | None  # (n,) object (str or None) or None when the file has no user column
    duplicates_dropped: int = 0
    duplicate_lines: list[int] = field(default_factory=list)
    was_sorted: bool = True
    source: str = ""

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def counts(self) -> dict[str, int]:
        kinds, n = np.unique(self.type.astype(str), return_counts=True)
        return {str(k): int(c) for k, c in zip(kinds, n, strict=True)}


def _first_line_offset(kind: str) -> int:
    return 2 if kind == "csv" else 1


def _too_many(name: str, rules: EventLogRules, counted: str) -> EventLogError:
    return EventLogError(
        f"{name}: {counted} events exceed the cap of {rules.max_events} per log "
        "(M3TR_MAX_EVENTS_PER_LOG)"
    )


def _read_csv(path: Path, rules: EventLogRules) -> pd.DataFrame:
    """CSV in chunks of rows; stops at the first row past the cap. Memory: O(cap)."""
    chunks, n = [], 0
    reader = pd.read_csv(
        path, dtype=str, keep_default_na=False, na_values=[""], chunksize=CSV_CHUNK_ROWS
    )
    with reader:
        for chunk in reader:
            n += len(chunk)
            if n > rules.max_events:  # exact when this was the last (short) chunk
                exact = len(chunk) < CSV_CHUNK_ROWS
                raise _too_many(
                    path.name, rules, str(n) if exact else f"more than {rules.max_events}"
                )
            chunks.append(chunk)
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def _read_jsonl(path: Path, rules: EventLogRules) -> pd.DataFrame:
    """JSON lines one at a time; stops at the first record past the cap. Memory: O(cap)."""
    name, rows = path.name, []
    with path.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EventLogError(f"{name}, line {lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise EventLogError(f"{name}, line {lineno}: expected a JSON object per line")
            if len(rows) == rules.max_events:
                raise _too_many(name, rules, f"more than {len(rows)}")  # stops reading here
            rows.append(rec)
    return pd.DataFrame.from_records(rows)


def _read_parquet(path: Path, rules: EventLogRules) -> pd.DataFrame:
    """Parquet: the row count and sizes from the footer first, then only the needed columns."""
    import pyarrow.parquet as pq

    name = path.name
    with pq.ParquetFile(path) as pf:
        meta = pf.metadata
        if meta.num_rows > rules.max_events:
            raise _too_many(name, rules, str(meta.num_rows))
        wanted = [c for c in pf.schema_arrow.names if str(c).strip().lower() in COLUMNS]
        idx = [i for i in range(meta.num_columns)
               if meta.schema.column(i).path.split(".")[0] in wanted]  # fmt: skip
        expanded = sum(
            meta.row_group(g).column(i).total_uncompressed_size
            for g in range(meta.num_row_groups)
            for i in idx
        )
        budget = PARQUET_BYTES_PER_EVENT * max(meta.num_rows, 1)
        if expanded > budget:
            raise EventLogError(
                f"{name}: its columns {', '.join(wanted)} expand to {expanded / 2**20:.0f} MB "
                f"for {meta.num_rows} events, more than {PARQUET_BYTES_PER_EVENT} bytes per event"
            )
        if not wanted:
            return pd.DataFrame(columns=pf.schema_arrow.names[:20])
        return pf.read(columns=wanted).to_pandas()


def _read_table(path: Path, kind: str, rules: EventLogRules) -> pd.DataFrame:
    name = path.name
    if path.stat().st_size == 0:
        raise EventLogError(f"{name}: the file is empty")
    try:
        if kind == "csv":
            return _read_csv(path, rules)
        if kind == "jsonl":
            return _read_jsonl(path, rules)
        return _read_parquet(path, rules)
    except EventLogError:
        raise
    except UnicodeDecodeError:
        raise EventLogError(f"{name}: not a UTF-8 text file") from None
    except pd.errors.EmptyDataError:
        raise EventLogError(f"{name}: the file is empty") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise EventLogError(f"{name}: cannot be read as {kind}: {exc}") from None


def _parse_times(
    raw: pd.Series,
    name: str,
    offset: int,
    published_at: dt.datetime | None,
    max_t_s: float = MAX_T_S,
) -> np.ndarray:
    """Seconds since publication; numbers are taken as seconds, ISO strings need published_at.

    JSON ``true``/``false`` are not times; times past ``max_t_s`` are refused.
    """
    if raw.dtype == object:
        flags = raw.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
        if flags.any():
            i = int(np.flatnonzero(flags)[0])
            raise EventLogError(
                f"{name}, line {i + offset}, column 't': {raw.iloc[i]!r} is a boolean, "
                "not a number of seconds"
            )
    elif raw.dtype == bool:
        raise EventLogError(f"{name}, line {offset}, column 't': booleans, not seconds")
    missing = raw.isna() | (raw.astype(str).str.strip() == "")
    if missing.any():
        i = int(np.flatnonzero(missing.to_numpy())[0])
        raise EventLogError(f"{name}, line {i + offset}, column 't': missing time")
    numeric = pd.to_numeric(raw, errors="coerce")
    if numeric.notna().any():
        bad = numeric.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise EventLogError(
                f"{name}, line {i + offset}, column 't': {raw.iloc[i]!r} is not a number of seconds"
            )
        t = numeric.to_numpy(dtype=np.float64)
    else:
        stamps = pd.to_datetime(raw.astype(str), errors="coerce", utc=True, format="ISO8601")
        bad = stamps.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise EventLogError(
                f"{name}, line {i + offset}, column 't': {raw.iloc[i]!r} is neither a number of "
                "seconds nor an ISO timestamp"
            )
        if published_at is None:
            raise EventLogError(
                f"{name}: column 't' holds timestamps; give the video's published_at "
                "(a 'published_at' column or --published-at) to turn them into seconds"
            )
        pub = pd.Timestamp(published_at)
        pub = pub.tz_localize("UTC") if pub.tzinfo is None else pub.tz_convert("UTC")
        t = (stamps - pub).dt.total_seconds().to_numpy(dtype=np.float64)
    if not np.isfinite(t).all():
        i = int(np.flatnonzero(~np.isfinite(t))[0])
        raise EventLogError(
            f"{name}, line {i + offset}, column 't': time {raw.iloc[i]!r} is not finite"
        )
    if (t < 0).any():
        i = int(np.flatnonzero(t < 0)[0])
        raise EventLogError(
            f"{name}, line {i + offset}, column 't': negative time {t[i]:g} s (before publication)"
        )
    if (t > max_t_s).any():
        i = int(np.flatnonzero(t > max_t_s)[0])
        raise EventLogError(
            f"{name}, line {i + offset}, column 't': time {t[i]:g} s is past the latest accepted "
            f"({max_t_s:g} s, ten years after publication)"
        )
    return t


def read_event_log(
    path: str | Path,
    rules: EventLogRules,
    published_at: dt.datetime | None = None,
) -> EventLog:
    """Read and validate an event log (CSV, JSON lines or Parquet, chosen by suffix)."""
    path = Path(path)
    name = path.name
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise EventLogError(
            f"{name}: unsupported file type {path.suffix!r}; use .csv, .jsonl or .parquet"
        )
    if not path.is_file():
        raise EventLogError(f"{path}: no such file")
    df = _read_table(path, kind, rules)
    return validate_event_table(df, rules, name=name, kind=kind, published_at=published_at)


def validate_event_table(
    df: pd.DataFrame,
    rules: EventLogRules,
    *,
    name: str = "<table>",
    kind: str = "csv",
    published_at: dt.datetime | None = None,
) -> EventLog:
    """Validate a table already in memory; same rules and messages as :func:`read_event_log`."""
    offset = _first_line_offset(kind)
    if len(df) == 0:
        raise EventLogError(f"{name}: the file has no events (only a header or nothing)")
    df = df.rename(columns=lambda c: str(c).strip().lower())
    for col in ("t", "type"):
        if col not in df.columns:
            raise EventLogError(
                f"{name}: missing column {col!r} (found columns: {', '.join(map(str, df.columns))})"
            )
    if len(df) > rules.max_events:
        raise EventLogError(
            f"{name}: {len(df)} events exceed the cap of {rules.max_events} per log"
        )
    if published_at is None and "published_at" in df.columns:
        values = df["published_at"].dropna().astype(str).unique()
        if len(values) > 1:
            raise EventLogError(f"{name}: column 'published_at' has {len(values)} different values")
        if len(values) == 1:
            try:
                published_at = pd.Timestamp(values[0]).to_pydatetime()
            except ValueError:
                raise EventLogError(
                    f"{name}: published_at {values[0]!r} is not a timestamp"
                ) from None
    t = _parse_times(df["t"], name, offset, published_at, rules.max_t_s)

    types = df["type"].astype("string").str.strip().str.lower()
    vocab = set(rules.vocabulary)
    unknown = types.isna().to_numpy() | ~types.fillna("").isin(vocab).to_numpy()
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise EventLogError(
            f"{name}, line {i + offset}, column 'type': unknown event type {df['type'].iloc[i]!r} "
            f"(allowed: {', '.join(sorted(vocab))})"
        )
    user = None
    if "user" in df.columns:
        u = df["user"].astype("string").str.strip()
        long = (u.str.len() > rules.max_user_len).fillna(False).to_numpy(dtype=bool)
        if long.any():
            i = int(np.flatnonzero(long)[0])
            raise EventLogError(
                f"{name}, line {i + offset}, column 'user': {int(u.str.len().iloc[i])} "
                f"characters, more than the {rules.max_user_len} allowed"
            )
        user = np.array([None if pd.isna(x) or x == "" else str(x) for x in u], dtype=object)

    frame = pd.DataFrame(
        {"t": t, "type": types.to_numpy(dtype=object), "line": np.arange(len(df)) + offset}
    )
    frame["user"] = user if user is not None else None
    dup = frame.duplicated(subset=["t", "type", "user"], keep="first").to_numpy()
    duplicate_lines = frame.loc[dup, "line"].astype(int).tolist()
    if duplicate_lines:
        log.warning(
            "%s: dropped %d exact duplicate rows (lines %s%s)",
            name,
            len(duplicate_lines),
            ", ".join(map(str, duplicate_lines[:10])),
            "..." if len(duplicate_lines) > 10 else "",
        )
    frame = frame.loc[~dup]
    was_sorted = bool(np.all(np.diff(frame["t"].to_numpy()) >= 0))
    if not was_sorted:
        frame = frame.sort_values("t", kind="stable")
    return EventLog(
        t=frame["t"].to_numpy(dtype=np.float64),
        type=frame["type"].to_numpy(dtype=object),
        user=(
            np.array([x if isinstance(x, str) else None for x in frame["user"]], dtype=object)
            if user is not None
            else None
        ),
        duplicates_dropped=len(duplicate_lines),
        duplicate_lines=duplicate_lines,
        was_sorted=was_sorted,
        source=name,
    )
