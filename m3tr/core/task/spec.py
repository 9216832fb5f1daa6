"""The prediction task shared by training, evaluation and serving.

A video's events in ``[0, T_obs]`` are observed (seconds since publication); the target is the
count of each event type at the horizon ``H`` (events with ``t <= H``), trained and scored on
``log1p``. The total over all types is scored as the headline number.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

CED_EVENT_TYPES = ("repost", "comment")


@dataclass(frozen=True)
class TaskSpec:
    """Observation window, horizon and event vocabulary.

    Attributes:
        obs_window_s: T_obs, seconds since publication observed (0 = content only, no events).
        horizon_s: H, the time the target counts refer to (``inf`` = final label).
        event_types: the K types predicted, in output order.
    """

    obs_window_s: float = 3600.0
    horizon_s: float = 604800.0
    event_types: tuple[str, ...] = CED_EVENT_TYPES

    def __post_init__(self) -> None:
        if not self.obs_window_s >= 0 or math.isnan(self.obs_window_s):
            raise ValueError(f"TaskSpec.obs_window_s must be >= 0, got {self.obs_window_s}")
        if not self.horizon_s > self.obs_window_s:
            raise ValueError(
                f"TaskSpec.horizon_s ({self.horizon_s}) must exceed obs_window_s "
                f"({self.obs_window_s})"
            )
        if not self.event_types or len(set(self.event_types)) != len(self.event_types):
            raise ValueError(
                f"TaskSpec.event_types must be distinct and non-empty: {self.event_types}"
            )

    @property
    def num_types(self) -> int:
        return len(self.event_types)

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of the model's outputs: each type, then ``total``."""
        return (*self.event_types, "total")

    def type_index(self, types: np.ndarray, where: str = "events") -> np.ndarray:
        """Map type names (n,) to indices (n,) int64; raises naming an unknown type."""
        lookup = {name: i for i, name in enumerate(self.event_types)}
        out = np.empty(len(types), dtype=np.int64)
        for i, name in enumerate(types):
            j = lookup.get(str(name))
            if j is None:
                raise ValueError(
                    f"{where}: event type {str(name)!r} is not one of {list(self.event_types)}"
                )
            out[i] = j
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["event_types"] = list(self.event_types)
        if math.isinf(self.horizon_s):
            d["horizon_s"] = None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskSpec:
        h = d.get("horizon_s")
        return cls(
            obs_window_s=float(d["obs_window_s"]),
            horizon_s=float("inf") if h is None else float(h),
            event_types=tuple(d["event_types"]),
        )


def split_observed(
    t: np.ndarray, type_idx: np.ndarray, spec: TaskSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut one video's sorted event log into what is observed and the target.

    Args:
        t: (n,) seconds since publication, non-decreasing.
        type_idx: (n,) type index in ``spec.event_types``.
    Returns:
        (t_obs (m,), k_obs (m,)) events with ``t <= T_obs``, and the target counts (K,) int64
        of events with ``t <= H``.
    """
    t = np.asarray(t, dtype=np.float64)
    type_idx = np.asarray(type_idx, dtype=np.int64)
    if t.shape != type_idx.shape:
        raise ValueError(f"times {t.shape} and types {type_idx.shape} differ in length")
    m = int(np.searchsorted(t, spec.obs_window_s, side="right"))
    h = int(np.searchsorted(t, spec.horizon_s, side="right"))
    target = np.bincount(type_idx[:h], minlength=spec.num_types).astype(np.int64)
    return t[:m].copy(), type_idx[:m].copy(), target
