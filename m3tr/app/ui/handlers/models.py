"""Model and bank versions, the evaluation table, the learned excitation matrix alpha."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select

from m3tr.app.services import Services
from m3tr.core.db.models import BankVersion, ModelVersion

log = logging.getLogger(__name__)

METRIC_ORDER = ("nMSE", "SRC", "PLCC", "MAE")


def model_versions(services: Services) -> pd.DataFrame:
    with services.sessions() as session:
        rows = [
            {
                "id": m.id,
                "name": m.name,
                "kind": m.kind,
                "active": "yes" if m.is_active else "",
                "created": m.created_at.strftime("%Y-%m-%d %H:%M") if m.created_at else "",
                **{k: _fmt(v) for k, v in _headline(m.metrics).items()},
            }
            for m in session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc()))
        ]
    return pd.DataFrame(rows, columns=_columns(rows, ["id", "name", "kind", "active", "created"]))


def bank_versions(services: Services) -> pd.DataFrame:
    with services.sessions() as session:
        names = {m.id: m.name for m in session.scalars(select(ModelVersion))}
        rows = [
            {
                "id": b.id,
                "collection": b.collection,
                "model": names.get(b.model_version_id, ""),
                "backend": b.backend,
                "encoder profile": b.encoder_profile,
                "videos": b.n_videos,
                "content vectors": b.n_semantic,
                "trajectory vectors": b.n_temporal,
                "live": "yes" if b.is_live else "",
            }
            for b in session.scalars(select(BankVersion).order_by(BankVersion.id.desc()))
        ]
    cols = ["id", "collection", "model", "backend", "encoder profile", "videos",
            "content vectors", "trajectory vectors", "live"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def active_model(services: Services) -> ModelVersion | None:
    """The active model version of kind m3tr (else any active one, else the newest)."""
    with services.sessions() as session:
        models = list(session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc())))
    active = [m for m in models if m.is_active]
    for m in active:
        if m.kind == "m3tr":
            return m
    return active[0] if active else (models[0] if models else None)


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 4)
    return v


def _columns(rows: list[dict[str, Any]], first: list[str]) -> list[str]:
    cols = list(first)
    for r in rows:
        cols += [k for k in r if k not in cols]
    return cols


def _headline(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """Top-level scalar metrics (nMSE, SRC, PLCC, MAE first)."""
    if not metrics:
        return {}
    flat = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    return {
        k: flat[k] for k in (*METRIC_ORDER, *sorted(set(flat) - set(METRIC_ORDER))) if k in flat
    }


_METRIC_KEYS = {
    "nmse": "nMSE",
    "src": "SRC",
    "plcc": "PLCC",
    "mae": "MAE",
    "coverage": "coverage",
    "coverage_in_sample": "coverage",
}


def _metric_row(method: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """One method's scalar metrics, names normalised (``nmse`` -> ``nMSE``), nested parts dropped."""
    row: dict[str, Any] = {"method": method}
    for key, value in values.items():
        if key in ("method", "name", "model") or not isinstance(value, int | float | str):
            continue
        if isinstance(value, bool):
            continue
        row[_METRIC_KEYS.get(str(key).lower(), str(key))] = value
    return row


def evaluation_table(metrics: Mapping[str, Any] | None) -> pd.DataFrame:
    """M3TR against baselines and ablations, one row per method, best nMSE first.

    Accepts the shapes evaluation writes into ``model_versions.metrics``: an evaluation report
    (``{"methods": {name: {"nmse": .., "src": .., ...}}}``, as in report.json), a list of row
    dicts (with a ``method`` key) under ``evaluation``/``table``/``rows``, or ``{method:
    {metric: x}}`` under ``evaluation``/``comparison``; otherwise the top-level metrics as the
    single M3TR row.
    """
    empty = pd.DataFrame(columns=["method", *METRIC_ORDER])
    if not metrics:
        return empty
    rows: list[dict[str, Any]] = []
    sources = [metrics, *(v for v in metrics.values() if isinstance(v, Mapping))]
    for source in sources:
        for key in ("methods", "evaluation", "comparison", "table", "rows"):
            block = source.get(key)
            if isinstance(block, list) and block and all(isinstance(r, dict) for r in block):
                rows = [
                    _metric_row(str(r.get("method", r.get("name", r.get("model", "?")))), r)
                    for r in block
                ]
            elif (
                isinstance(block, Mapping)
                and block
                and all(isinstance(v, Mapping) for v in block.values())
            ):
                rows = [_metric_row(str(name), vals) for name, vals in block.items()]
            if rows:
                break
        if rows:
            break
    if not rows:
        for split in ("test", "val"):  # m3tr train records its validation scores under "val"
            block = metrics.get(split)
            if isinstance(block, Mapping) and any(k.lower() in _METRIC_KEYS for k in block):
                rows = [_metric_row(f"m3tr ({'validation' if split == 'val' else split})", block)]
                break
    if not rows:
        head = _metric_row("m3tr", {k: v for k, v in metrics.items() if k.lower() in _METRIC_KEYS})
        rows = [head] if len(head) > 1 else []
    if not rows:
        return empty
    df = pd.DataFrame(rows)
    first = ["method", *[m for m in (*METRIC_ORDER, "coverage") if m in df.columns]]
    df = df[first + [c for c in df.columns if c not in first]]
    if "nMSE" in df.columns:
        df = df.sort_values("nMSE", kind="stable", na_position="last").reset_index(drop=True)
    return df.round(4)


def model_of_kind(services: Services, kind: str) -> ModelVersion | None:
    """The active model version of ``kind``, else the newest one of that kind."""
    with services.sessions() as session:
        return session.scalars(
            select(ModelVersion)
            .where(ModelVersion.kind == kind)
            .order_by(ModelVersion.is_active.desc(), ModelVersion.id.desc())
        ).first()


def temporal_model(services: Services) -> ModelVersion | None:
    """The temporal (kind ``mhp``) model version shown: the active one, else the newest."""
    return model_of_kind(services, "mhp")


def _recorded_alpha(model: ModelVersion) -> tuple[np.ndarray, list[str]] | None:
    for source in (model.metrics or {}, model.config or {}):
        alpha = source.get("alpha")
        if alpha is None and isinstance(source.get("mhp"), dict):
            alpha = source["mhp"].get("alpha")
        if alpha is None:
            continue
        a = np.asarray(alpha, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            log.warning("model %s: alpha has shape %s, expected (K, K)", model.name, a.shape)
            return None
        types = list(source.get("event_types") or (model.config or {}).get("event_types") or [])
        if len(types) != a.shape[0]:
            types = [f"type {i}" for i in range(a.shape[0])]
        return a, types
    return None


def _checkpoint_alpha(model: ModelVersion) -> tuple[np.ndarray, list[str]] | None:
    """alpha (K, K) of the MHP checkpoint the model version points at (temporal core)."""
    if not model.checkpoint_path:
        return None
    from m3tr.core.temporal import load_mhp

    try:
        mhp = load_mhp(model.checkpoint_path)
    except (FileNotFoundError, RuntimeError, ValueError, KeyError) as exc:
        log.warning(
            "model %s: cannot read alpha from %s: %s", model.name, model.checkpoint_path, exc
        )
        return None
    a = mhp.hawkes.alpha.detach().cpu().numpy().astype(np.float64)  # (K, K)
    names = list(getattr(mhp.config, "type_names", None) or [])
    if len(names) != a.shape[0]:
        names = [f"type {i}" for i in range(a.shape[0])]
    return a, names


def excitation_matrix(model: ModelVersion | None) -> tuple[np.ndarray, list[str]] | None:
    """The learned alpha (K, K) and its event types for ``model``.

    Read from the row (``alpha`` in ``metrics``/``config``, or under their ``mhp`` block), else
    from the MHP checkpoint at ``checkpoint_path`` (models of kind ``mhp``).
    """
    if model is None:
        return None
    found = _recorded_alpha(model)
    if found is None and model.kind == "mhp":
        found = _checkpoint_alpha(model)
    return found
