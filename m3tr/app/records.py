"""Rows as plain records, the same for the REST API, the CLI (``--json``) and the UI.

``EXPORT_COLUMNS`` + per-type columns are the documented columns of the predictions export
(``GET /api/predictions.csv``, ``m3tr predictions export``); docs/web.md lists them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from m3tr.core.db.listing import Filters, list_predictions
from m3tr.core.db.models import Job, Prediction, Video

# one row per forecast; then {type}_median, {type}_lo, {type}_hi for each event type
EXPORT_COLUMNS = (
    "prediction_id",  # the forecast's id (one per video, model version and log state)
    "video_id",
    "source",
    "external_id",
    "title",
    "made_at",  # UTC, ISO 8601
    "observed_until_s",  # the forecast was made from the events up to this time (s)
    "n_events",  # events in the log it was made from (all types)
    "model_version",  # empty: no model (neighbours' labels or observed counts)
    "method",  # fused, mhp, neighbours or observed
    "retrieval_mode",  # temporal_aware or content_only
    "horizon_s",
    "interval",  # the central interval's level, e.g. 0.8 for [q10, q90]
    "total_median",
    "total_lo",
    "total_hi",
)
QUANTS = ("median", "lo", "hi")


def iso(t: dt.datetime | None) -> str | None:
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC).isoformat()


def video_record(v: Video) -> dict[str, Any]:
    return {
        "id": int(v.id),
        "source": v.source,
        "external_id": v.external_id,
        "title": v.title,
        "description": v.description,
        "author": (v.extra or {}).get("author"),
        "status": v.status,
        "split": v.split,
        "matured": bool(v.matured),
        "duration_s": v.duration_s,
        "published_at": iso(v.published_at),
        "created_at": iso(v.created_at),
        "error": v.error,
    }


def job_record(j: Job) -> dict[str, Any]:
    return {
        "id": int(j.id),
        "kind": j.kind,
        "video_id": j.video_id,
        "state": j.state,
        "step": j.step,
        "progress": max(0.0, min(1.0, float(j.progress or 0.0))),
        "error": j.error,
        "attempts": int(j.attempts or 0),
        "created_at": iso(j.created_at),
        "finished_at": iso(j.finished_at),
    }


def forecast_total(p: Prediction) -> dict[str, float | None]:
    """The forecast total of all types at the horizon: the cumulative curve's end, else the sum."""
    traj = p.trajectory or {}
    if all(isinstance(traj.get(q), list) and traj[q] for q in QUANTS):
        return {q: float(traj[q][-1]) for q in QUANTS}
    fc = p.forecast or {}
    if not fc:
        return {q: None for q in QUANTS}
    return {q: float(sum(v.get(q, 0.0) for v in fc.values())) for q in QUANTS}


def prediction_record(p: Prediction, model_name: str | None) -> dict[str, Any]:
    """One forecast of a video's history."""
    return {
        "prediction_id": int(p.id),
        "video_id": int(p.video_id),
        "made_at": iso(p.created_at),
        "observed_until_s": p.observed_until_s,
        "n_events": int(p.n_events or 0),
        "model_version": model_name,
        "method": (p.trajectory or {}).get("method"),
        "retrieval_mode": p.retrieval_mode,
        "horizon_s": float(p.horizon_s),
        "interval": float(p.interval),
        "total": forecast_total(p),
        "forecast": {
            k: {q: float(v[q]) for q in QUANTS if q in v} for k, v in (p.forecast or {}).items()
        },
    }


def export_columns(event_types: Sequence[str]) -> list[str]:
    return [*EXPORT_COLUMNS, *(f"{k}_{q}" for k in event_types for q in QUANTS)]


def export_row(
    p: Prediction, v: Video, model_name: str | None, event_types: Sequence[str]
) -> dict[str, Any]:
    total = forecast_total(p)
    row: dict[str, Any] = {
        "prediction_id": int(p.id),
        "video_id": int(v.id),
        "source": v.source,
        "external_id": v.external_id,
        "title": v.title,
        "made_at": iso(p.created_at),
        "observed_until_s": p.observed_until_s,
        "n_events": int(p.n_events or 0),
        "model_version": model_name,
        "method": (p.trajectory or {}).get("method"),
        "retrieval_mode": p.retrieval_mode,
        "horizon_s": float(p.horizon_s),
        "interval": float(p.interval),
        **{f"total_{q}": total[q] for q in QUANTS},
    }
    fc = p.forecast or {}
    for k in event_types:
        for q in QUANTS:
            value = fc.get(k, {}).get(q)
            row[f"{k}_{q}"] = None if value is None else float(value)
    return row


def write_table(
    rows: Iterable[dict[str, Any]], columns: Sequence[str], path: Path, fmt: str
) -> int:
    """Write ``rows`` to ``path`` as ``csv`` or ``parquet`` in chunks; returns the row count.

    Memory is bounded by the chunk, not by the export."""
    import pandas as pd

    n = 0
    writer = None
    first = True
    try:
        for batch in _chunks(rows, 5000):
            df = pd.DataFrame(batch, columns=list(columns))
            n += len(df)
            if fmt == "csv":
                df.to_csv(path, mode="w" if first else "a", header=first, index=False)
            else:
                writer = _parquet_append(df, path, writer)
            first = False
        if first:  # no rows: the header (or an empty table with the columns) still
            df = pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in columns})
            if fmt == "csv":
                df.to_csv(path, index=False)
            else:
                writer = _parquet_append(df, path, writer)
    finally:
        if writer is not None:
            writer.close()
    return n


_TEXT = {"source", "external_id", "title", "made_at", "model_version", "method", "retrieval_mode"}
_INT = {"prediction_id", "video_id", "n_events"}


def _dtype(column: str) -> str:
    return "object" if column in _TEXT else "int64" if column in _INT else "float64"


def _parquet_append(df: Any, path: Path, writer: Any) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"object": pa.string(), "int64": pa.int64(), "float64": pa.float64()}
    schema = pa.schema([pa.field(c, types[_dtype(c)]) for c in df.columns])
    df = df.astype({c: _dtype(c) for c in df.columns if _dtype(c) != "object"})
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    if writer is None:
        writer = pq.ParquetWriter(path, schema)
    writer.write_table(table)
    return writer


def iter_export_rows(
    sessions: sessionmaker[Session],
    filters: Filters,
    event_types: Sequence[str],
    latest_only: bool = False,
) -> Iterator[dict[str, Any]]:
    """Every matching forecast as an export row, oldest first, read a page at a time."""
    cursor = None
    while True:
        with sessions() as session:
            page = list_predictions(
                session, filters, limit=500, cursor=cursor, order="asc", latest_only=latest_only
            )
            rows = [export_row(p, v, name, event_types) for p, v, name in page.items]
        yield from rows
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for r in rows:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
