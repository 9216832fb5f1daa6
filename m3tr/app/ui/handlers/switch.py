"""Model tab: every version with its evaluation side by side, activate one, roll back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from m3tr.app.services import Services
from m3tr.core.db import registry
from m3tr.core.db.session import transaction

SIDE_BY_SIDE = ["id", "name", "kind", "active", "activated", "nMSE", "SRC", "PLCC", "MAE",
                "coverage", "train nll/event"]  # fmt: skip
_KEYS = {"nmse": "nMSE", "src": "SRC", "plcc": "PLCC", "mae": "MAE", "coverage": "coverage",
         "coverage_in_sample": "coverage"}  # fmt: skip


def _scores(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A version's own evaluation: its validation (or test) scores, or its training loss."""
    out: dict[str, Any] = {}
    for split in ("val", "test"):
        block = metrics.get(split)
        if isinstance(block, Mapping):
            for k, v in block.items():
                if str(k).lower() in _KEYS and isinstance(v, int | float):
                    out.setdefault(_KEYS[str(k).lower()], round(float(v), 4))
    nll = metrics.get("train_nll_per_event")
    if isinstance(nll, int | float):
        out["train nll/event"] = round(float(nll), 4)
    return out


def versions_side_by_side(services: Services) -> pd.DataFrame:
    """One row per model version (newest first): active or not, and its evaluation."""
    with services.sessions() as session:
        versions = registry.list_versions(session)
    rows = [
        {
            "id": v.id,
            "name": v.name,
            "kind": v.kind,
            "active": "yes" if v.is_active else "",
            "activated": v.activated_at.strftime("%Y-%m-%d %H:%M:%S") if v.activated_at else "",
            **_scores(v.metrics),
        }
        for v in versions
    ]
    return pd.DataFrame(rows, columns=SIDE_BY_SIDE)


def version_choices(services: Services) -> list[tuple[str, int]]:
    with services.sessions() as session:
        versions = registry.list_versions(session)
    return [(f"{v.name} ({v.kind}{', active' if v.is_active else ''})", v.id) for v in versions]


def switch_version(services: Services, version_id: int | None, kind: str | None = None) -> str:
    """Activate ``version_id`` (or roll ``kind`` back); returns a sentence saying what is active.

    Raises:
        registry.RegistryError: nothing to activate or roll back to.
    """
    if version_id is None and kind is None:
        raise registry.RegistryError("choose a model version first")
    with transaction(services.sessions) as session:
        now = registry.switch(session, version_id, kind)
    return (
        f"**{now.name}** is now the active {now.kind} model; the next forecasts use it "
        "(forecasts already made keep the version that made them)."
    )
