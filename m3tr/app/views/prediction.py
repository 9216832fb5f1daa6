"""A stored prediction, gathered into what the Predict tab and the REST API show.

Reads the ``predictions`` row (forecast, cumulative trajectory, neighbours with score parts),
the target's observed events, and each neighbour's title, final labels and own event curve.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from m3tr.app.services import Services
from m3tr.app.views.curves import Curve, cumulative, time_grid
from m3tr.core.db.models import BankVersion, Label, ModelVersion, Prediction, Video
from m3tr.core.db.repository import load_events

log = logging.getLogger(__name__)

RETRIEVAL_WORDS = {
    "temporal_aware": "temporal-aware (content and trajectory, Eq. 3)",
    "content_only": "content only (fallback: no trajectory vector for this video)",
}


@dataclass
class NeighbourView:
    video_id: int
    title: str
    content: float | None
    temporal: float | None
    combined: float | None
    labels: dict[str, int]
    curve: Curve | None
    media_path: str | None = None


@dataclass
class PredictionView:
    video_id: int
    title: str
    horizon_s: float
    interval: float
    forecast: pd.DataFrame  # columns: type, observed, median, lo, hi
    trajectory: dict[str, list[float]]  # t, median, lo, hi (cumulative, all types)
    observed_t: np.ndarray  # (n,) event times of the target
    observed_types: np.ndarray  # (n,) event types
    intensity: dict[str, Any] | None  # t, hawkes, correction[, types]
    forecast_raw: dict[str, dict[str, float]] = field(default_factory=dict)
    neighbours: list[NeighbourView] = field(default_factory=list)
    retrieval_mode: str = "temporal_aware"
    retrieval_reason: str | None = None
    encoder_profile: str | None = None
    model_version: str | None = None
    bank_version: str | None = None

    def provenance_markdown(self) -> str:
        mode = RETRIEVAL_WORDS.get(self.retrieval_mode, self.retrieval_mode)
        lines = [
            f"**Retrieval:** {mode}",
            f"**Encoder profile:** {self.encoder_profile or 'unknown'}",
            f"**Model version:** {self.model_version or 'none'}",
            f"**Bank:** {self.bank_version or 'none'}",
        ]
        if self.retrieval_reason:
            lines.insert(1, f"**Why:** {self.retrieval_reason}")
        return "  \n".join(lines)

    def neighbour_table(self) -> pd.DataFrame:
        rows = [
            {
                "video": n.video_id,
                "title": n.title,
                "content": _round(n.content),
                "temporal": _round(n.temporal),
                "combined": _round(n.combined),
                "final label": ", ".join(f"{k} {v:,}" for k, v in sorted(n.labels.items())),
            }
            for n in self.neighbours
        ]
        return pd.DataFrame(
            rows, columns=["video", "title", "content", "temporal", "combined", "final label"]
        )


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 3)


def video_title(video: Video) -> str:
    return video.title or f"{video.source} {video.external_id}"


def final_labels(session: Session, video_ids: list[int]) -> dict[int, dict[str, int]]:
    """Final (horizon NULL) label counts per video and type."""
    out: dict[int, dict[str, int]] = {v: {} for v in video_ids}
    if not video_ids:
        return out
    q = select(Label.video_id, Label.type, Label.count).where(
        Label.video_id.in_(video_ids), Label.horizon_s.is_(None)
    )
    for vid, typ, count in session.execute(q):
        out[int(vid)][str(typ)] = int(count)
    return out


def latest_prediction(session: Session, video_id: int) -> Prediction | None:
    q = (
        select(Prediction)
        .where(Prediction.video_id == video_id)
        .order_by(Prediction.created_at.desc(), Prediction.id.desc())
        .limit(1)
    )
    return session.scalars(q).first()


def _forecast_table(
    forecast: dict[str, Any], observed: dict[str, int], interval: float
) -> pd.DataFrame:
    pct_lo, pct_hi = round(50 * (1 - interval)), round(50 * (1 + interval))
    rows = []
    for typ, q in sorted(forecast.items()):
        if not isinstance(q, dict):
            continue
        rows.append(
            {
                "event type": typ,
                "observed so far": observed.get(typ, 0),
                "median at horizon": round(float(q.get("median", np.nan)), 1),
                f"p{pct_lo}": round(float(q.get("lo", np.nan)), 1),
                f"p{pct_hi}": round(float(q.get("hi", np.nan)), 1),
            }
        )
    return pd.DataFrame(rows)


def neighbour_views(
    session: Session, raw: list[dict[str, Any]], horizon_s: float
) -> list[NeighbourView]:
    """Neighbour dicts from a prediction (``video_id``, ``content``, ``temporal``, ``score``…)."""
    ids = [int(n["video_id"]) for n in raw if "video_id" in n]
    videos = {v.id: v for v in session.scalars(select(Video).where(Video.id.in_(ids)))}
    labels = final_labels(session, ids)
    events = load_events(session, ids)
    grid = time_grid(horizon_s)
    out = []
    for n in raw:
        vid = int(n["video_id"])
        video = videos.get(vid)
        curve = cumulative(events[vid][0], grid, label=str(vid)) if vid in events else None
        lab = labels.get(vid) or {}
        if not lab and isinstance(n.get("label"), dict):
            lab = {str(k): int(v) for k, v in n["label"].items()}
        out.append(
            NeighbourView(
                video_id=vid,
                title=video_title(video) if video else f"video {vid} (deleted)",
                content=n.get("content"),
                temporal=n.get("temporal"),
                combined=n.get("combined", n.get("score")),
                labels=lab,
                curve=curve,
                media_path=video.media_path if video else None,
            )
        )
    return out


def load_prediction(services: Services, video_id: int) -> PredictionView | None:
    """The latest prediction for ``video_id`` with everything the UI draws; None if none yet."""
    with services.sessions() as session:
        video = session.get(Video, video_id)
        if video is None:
            raise LookupError(f"no video with id {video_id}")
        pred = latest_prediction(session, video_id)
        if pred is None:
            return None
        ev = load_events(session, [video_id]).get(
            video_id, (np.zeros(0), np.zeros(0, dtype=object))
        )
        kinds, counts = np.unique(ev[1].astype(str), return_counts=True)
        observed = {str(k): int(c) for k, c in zip(kinds, counts, strict=True)}
        model = session.get(ModelVersion, pred.model_version_id) if pred.model_version_id else None
        bank = session.get(BankVersion, pred.bank_version_id) if pred.bank_version_id else None
        traj = dict(pred.trajectory or {})
        intensity = extract_intensity(traj)
        reason = traj.pop("retrieval_reason", None)
        return PredictionView(
            video_id=video_id,
            title=video_title(video),
            horizon_s=pred.horizon_s,
            interval=pred.interval,
            forecast=_forecast_table(pred.forecast or {}, observed, pred.interval),
            trajectory=traj,
            observed_t=ev[0],
            observed_types=ev[1],
            intensity=intensity,
            forecast_raw={
                str(k): {q: float(v[q]) for q in ("median", "lo", "hi") if q in v}
                for k, v in (pred.forecast or {}).items()
                if isinstance(v, dict)
            },
            neighbours=neighbour_views(session, list(pred.neighbours or []), pred.horizon_s),
            retrieval_mode=pred.retrieval_mode,
            retrieval_reason=reason,
            encoder_profile=pred.encoder_profile,
            model_version=model.name if model else None,
            bank_version=bank.collection if bank else None,
        )


_INTENSITY_KEYS = {
    "t": ("t", "grid_s", "intensity_t", "intensity_grid_s"),
    "hawkes": ("hawkes", "intensity_hawkes"),
    "correction": ("correction", "intensity_correction"),
    "total": ("total", "intensity_total"),
}


def _oriented(values: Any, n_t: int) -> np.ndarray | None:
    """Values as (G,) or (G, K) float64; (K, G) input is transposed. None when unusable."""
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == n_t:
        return arr  # (G,)
    if arr.ndim == 2 and arr.shape[0] == n_t:
        return arr  # (G, K)
    if arr.ndim == 2 and arr.shape[1] == n_t:
        return arr.T  # (K, G) -> (G, K)
    return None


def extract_intensity(trajectory: dict[str, Any]) -> dict[str, Any] | None:
    """The intensity split stored with a prediction, normalised to ``t`` (G,) seconds and
    ``hawkes``/``correction``/``total`` as (G,) or (G, K); None when none was stored.

    Looks for an ``intensity`` block in the trajectory (keys ``t``/``grid_s``, ``hawkes``,
    ``correction``, ``total``), or ``intensity_*`` keys beside the curve.
    """
    block = trajectory.get("intensity")
    if not isinstance(block, dict):
        block = {k: v for k, v in trajectory.items() if k.startswith("intensity_")}
        if block and not any(k in block for k in _INTENSITY_KEYS["t"]):
            block["t"] = trajectory.get("t")
    if not block:
        return None
    found = {
        name: next((block[k] for k in keys if block.get(k) is not None), None)
        for name, keys in _INTENSITY_KEYS.items()
    }
    if found["t"] is None:
        return None
    t = np.asarray(found["t"], dtype=np.float64)  # (G,)
    out: dict[str, Any] = {"t": t.tolist()}
    if block.get("unit_s"):
        out["unit_s"] = float(block["unit_s"])
    for name in ("hawkes", "correction", "total"):
        arr = _oriented(found[name], t.shape[0])
        if arr is not None:
            out[name] = arr.tolist()
    if "correction" not in out and "hawkes" in out and "total" in out:
        diff = np.asarray(out["total"]) - np.asarray(out["hawkes"])
        out["correction"] = diff.tolist()
    return out if len(out) > 1 else None


def thumbnail_path(services: Services, video_id: int, media_path: str | None) -> Path | None:
    """A cached JPEG thumbnail for a video (made on first request); None without media."""
    if not media_path or not Path(media_path).is_file():
        return None
    from m3tr.core.content import DecodeError, extract_thumbnail

    thumbs = services.settings.home / "thumbnails"
    thumbs.mkdir(parents=True, exist_ok=True)
    dest = thumbs / f"{int(video_id)}.jpg"
    if not dest.is_file():
        try:
            data = extract_thumbnail(media_path, max_side=240)
        except DecodeError as exc:
            log.warning("no thumbnail for video %d: %s", video_id, exc)
            return None
        tmp = dest.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(dest)
    return dest
