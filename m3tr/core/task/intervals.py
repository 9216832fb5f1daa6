"""Interval calibration from held-out residuals (split conformal, per output).

Fit on validation: the residuals r = y - y_hat of each output; the interval of level ``level``
is ``[y_hat + q_lo, y_hat + q_hi]`` with q_lo, q_hi the (1 - level)/2 and (1 + level)/2
empirical quantiles of r. Scored on a test set it never saw, its coverage is an honest estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ResidualInterval:
    """Per-output residual quantiles: lo (O,), hi (O,), at ``level``."""

    lo: np.ndarray
    hi: np.ndarray
    level: float

    @classmethod
    def fit(cls, y: np.ndarray, y_hat: np.ndarray, level: float = 0.8) -> ResidualInterval:
        """y, y_hat: (N, O) held-out targets and predictions (log1p)."""
        if not 0.0 < level < 1.0:
            raise ValueError(f"interval level must be in (0, 1), got {level}")
        y = np.atleast_2d(np.asarray(y, dtype=np.float64))
        y_hat = np.atleast_2d(np.asarray(y_hat, dtype=np.float64))
        if y.shape != y_hat.shape or y.shape[0] < 2:
            raise ValueError(f"need >= 2 matching rows to calibrate, got {y.shape} / {y_hat.shape}")
        r = y - y_hat  # (N, O)
        a = (1.0 - level) / 2.0
        return cls(
            lo=np.quantile(r, a, axis=0),
            hi=np.quantile(r, 1.0 - a, axis=0),
            level=level,
        )

    def apply(
        self, y_hat: np.ndarray, floor: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(N, O) predictions -> (lo (N, O), hi (N, O)); ``floor`` (N, O) clips both from below
        (a count at H can never be below the count already observed)."""
        y_hat = np.atleast_2d(np.asarray(y_hat, dtype=np.float64))
        lo, hi = y_hat + self.lo, y_hat + self.hi
        if floor is not None:
            lo, hi = np.maximum(lo, floor), np.maximum(hi, floor)
        return lo, hi

    def to_dict(self) -> dict[str, object]:
        return {"lo": self.lo.tolist(), "hi": self.hi.tolist(), "level": self.level}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> ResidualInterval:
        return cls(np.asarray(d["lo"]), np.asarray(d["hi"]), float(d["level"]))  # type: ignore[arg-type]
