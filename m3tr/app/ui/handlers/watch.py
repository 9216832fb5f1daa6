"""Watching videos and following forecasts: playable media (only from the workspace's media
folder), the forecast history of a video, neighbour trajectories as an interactive line plot."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from m3tr.app.records import prediction_record
from m3tr.app.services import Services
from m3tr.app.views.curves import Curve
from m3tr.core.db.models import ModelVersion, Prediction, Video

log = logging.getLogger(__name__)

HOUR = 3600.0
LINE_COLUMNS = ["video", "hours", "events"]
HISTORY_COLUMNS = ["made at", "observed until (min)", "events seen", "model", "method",
                   "total median", "total p10", "total p90"]  # fmt: skip


def media_root(services: Services) -> Path:
    root = services.settings.media_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def playable_path(services: Services, video_id: int) -> str | None:
    """The video's media file when it lies inside the workspace's media folder, else None.

    The only files the UI plays: a row pointing anywhere else (a path outside the workspace,
    a symlink out of it) is never served."""
    with services.sessions() as session:
        video = session.get(Video, int(video_id))
        media = None if video is None else video.media_path
    if not media:
        return None
    path = Path(media).resolve()
    if not path.is_relative_to(media_root(services)) or not path.is_file():
        log.info("video %s: media %s is not in the workspace media folder; not served", video_id,
                 path.name)  # fmt: skip
        return None
    return str(path)


def forecast_history(services: Services, video_id: int) -> list[dict[str, Any]]:
    """Every forecast of the video, oldest first (``m3tr.app.records.prediction_record``)."""
    with services.sessions() as session:
        rows = session.execute(
            select(Prediction, ModelVersion.name)
            .outerjoin(ModelVersion, ModelVersion.id == Prediction.model_version_id)
            .where(Prediction.video_id == int(video_id))
            .order_by(Prediction.created_at, Prediction.id)
        ).all()
        return [prediction_record(p, name) for p, name in rows]


def history_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for r in records:
        t = r["total"]
        until = r["observed_until_s"]
        rows.append([
            (r["made_at"] or "")[:19].replace("T", " "),
            None if until is None else round(until / 60.0, 1),
            r["n_events"],
            r["model_version"] or "none",
            r["method"],
            *(None if t[q] is None else round(t[q], 1) for q in ("median", "lo", "hi")),
        ])  # fmt: skip
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def neighbour_lines(
    target: tuple[str, Curve | None] | None, neighbours: list[tuple[str, Curve | None]]
) -> pd.DataFrame:
    """Long table (video, hours, events) for ``gr.LinePlot``: hovering a line names its video."""
    frames = []
    for name, curve in ([target] if target else []) + neighbours:
        if curve is None:
            continue
        keep = np.r_[True, np.diff(curve.y) != 0] | (np.arange(len(curve.y)) == len(curve.y) - 1)
        frames.append(pd.DataFrame({"video": name, "hours": curve.t[keep] / HOUR,
                                    "events": curve.y[keep]}))  # fmt: skip
    if not frames:
        return pd.DataFrame(columns=LINE_COLUMNS)
    return pd.concat(frames, ignore_index=True)
