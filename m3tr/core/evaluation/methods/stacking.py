"""Stacking a model's forecasts with feature models' forecasts, on the validation split.

The fusion model and its ablations are judged on what they add beyond simple models of the same
inputs (the *companions*: the strong early-event features' gbdt and ridge, the sparse text
ridge): per output, the model's validation forecast and the companions' are combined by a ridge
regression with an intercept, fitted on the validation rows (alpha by exact leave-one-out on
them). Three candidates are compared by their leave-one-out squared error on the validation
total, and the best is used for every output:

- ``model``: the model's own forecast (nothing fitted on validation);
- ``features``: the mean of the companions' forecasts (nothing fitted on validation);
- ``ridge_stack``: the ridge combination of all of them.

The forecast returned for validation is the leave-one-out one (for ``ridge_stack``), so the
interval the harness calibrates on validation residuals is not flattered by the fit.
Forecasts are floored at what was observed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from m3tr.core.training.data import DataSplit

STACK_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))
CANDIDATES = ("model", "features", "ridge_stack")


class CompanionFit(Protocol):
    def pairs(self) -> list[tuple[np.ndarray, np.ndarray]]: ...


class Companion(Protocol):
    """A feature model fitted once per split whose (val, test) forecasts a stack combines."""

    def fit(self, split: DataSplit) -> CompanionFit: ...


@dataclass
class RidgeLOO:
    """Ridge with an unpenalised intercept: weights (P,), intercept, alpha, LOO forecasts (N,)."""

    coef: np.ndarray
    intercept: float
    alpha: float
    loo: np.ndarray

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef + self.intercept


def ridge_loo(x: np.ndarray, y: np.ndarray, alphas: tuple[float, ...] = STACK_ALPHAS) -> RidgeLOO:
    """Fit ridge on x (N, P), y (N,) with the alpha of least exact leave-one-out error.

    LOO residuals of a linear smoother: e_i / (1 - H_ii), H = 1 1'/N + Xc (Xc'Xc + a I)^-1 Xc'
    with Xc the centred x (the intercept is not penalised).
    """
    n, p = x.shape
    if n < p + 2:
        raise ValueError(f"ridge_loo: {n} rows for {p} inputs, need at least {p + 2}")
    mx, my = x.mean(axis=0), float(y.mean())
    xc, yc = x - mx, y - my  # (N, P), (N,)
    best: RidgeLOO | None = None
    best_err = float("inf")
    for a in alphas:
        inv = np.linalg.inv(xc.T @ xc + a * np.eye(p))  # (P, P)
        coef = inv @ xc.T @ yc  # (P,)
        h = 1.0 / n + np.einsum("ip,pq,iq->i", xc, inv, xc)  # (N,) diagonal of H
        fit = xc @ coef + my
        loo = y - (y - fit) / (1.0 - h)
        err = float(np.mean((y - loo) ** 2))
        if err < best_err:
            best_err = err
            best = RidgeLOO(coef, my - float(mx @ coef), a, loo)
    assert best is not None
    return best


def stack(
    y_val: np.ndarray,
    model: tuple[np.ndarray, np.ndarray],
    companions: list[tuple[np.ndarray, np.ndarray]],
    floor_val: np.ndarray,
    floor_test: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Choose and apply the stack (module docstring).

    Args:
        y_val: (N_val, O) log1p targets of the validation rows.
        model: the model's (val (N_val, O), test (N_test, O)) forecasts.
        companions: the companions' (val, test) forecasts, one pair per model.
        floor_val, floor_test: (N, O) log1p observed counts.
    Returns:
        val forecasts (leave-one-out where fitted), test forecasts, and what was chosen.
    """
    n_out = y_val.shape[1]
    total = n_out - 1
    s_val = np.mean([v for v, _ in companions], axis=0)  # (N_val, O)
    s_test = np.mean([t for _, t in companions], axis=0)
    fits = []
    st_val = np.zeros_like(y_val)
    st_test = np.zeros_like(model[1])
    for j in range(n_out):
        xv = np.stack([model[0][:, j], *(v[:, j] for v, _ in companions)], axis=1)  # (N_val, P)
        xt = np.stack([model[1][:, j], *(t[:, j] for _, t in companions)], axis=1)  # (N_test, P)
        f = ridge_loo(xv, y_val[:, j])
        fits.append(f)
        st_val[:, j], st_test[:, j] = f.loo, f.predict(xt)
    cands = {
        "model": (model[0], model[1]),
        "features": (s_val, s_test),
        "ridge_stack": (st_val, st_test),
    }
    var = float(np.var(y_val[:, total])) or 1.0
    loo_nmse = {
        k: round(float(np.mean((v[:, total] - y_val[:, total]) ** 2)) / var, 4)
        for k, (v, _) in cands.items()
    }
    chosen = min(CANDIDATES, key=lambda k: loo_nmse[k])
    val, test = cands[chosen]
    info = {
        "stack": chosen,
        "stack_val_loo_nmse": loo_nmse,
        "stack_weights_total": [round(float(w), 4) for w in fits[total].coef],
        "stack_intercept_total": round(fits[total].intercept, 4),
        "stack_alpha_total": fits[total].alpha,
    }
    return np.maximum(val, floor_val), np.maximum(test, floor_test), info
