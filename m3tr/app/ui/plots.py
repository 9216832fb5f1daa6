"""Matplotlib (Agg) figures for the UI: forecast curve, intensity split, neighbour small
multiples, lookalike trajectories, the excitation matrix alpha.

Time axes are in hours on a symmetric-log scale (linear for the first minute), so the first
minutes of growth and the full horizon are both readable. Every function returns a new Figure;
figures are built without pyplot (no global figure registry, nothing to close), so a
long-running server does not accumulate them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from m3tr.app.views.curves import Curve, cumulative, time_grid

HOUR = 3600.0
TARGET_COLOUR = "#1f5fbf"
NEIGHBOUR_COLOUR = "#d9731a"
TYPE_MARKERS = ("|", "x", "+", "1", "2", "3")


def _subplots(
    nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kw: Any
) -> tuple[Figure, Any]:
    layout = kw.pop("layout", "constrained")
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **kw)


def _time_axis(ax: Any, horizon_s: float) -> None:
    ax.set_xscale("symlog", linthresh=1 / 60)
    ax.set_xlim(0, horizon_s / HOUR)
    ax.set_xlabel("hours since publication")
    ax.grid(True, alpha=0.3)


def forecast_figure(
    trajectory: Mapping[str, Sequence[float]],
    observed_t: np.ndarray,
    observed_types: np.ndarray,
    horizon_s: float,
    interval: float = 0.8,
    title: str = "",
) -> Figure:
    """Cumulative forecast (median and band) with the observed events marked.

    trajectory: ``t`` (G,), ``median`` (G,), ``lo`` (G,), ``hi`` (G,); observed_t (n,) seconds.
    """
    fig, ax = _subplots(figsize=(7.5, 3.8), layout="constrained")
    if trajectory.get("t"):
        t = np.asarray(trajectory["t"], dtype=np.float64) / HOUR  # (G,)
        ax.fill_between(
            t,
            np.asarray(trajectory["lo"], dtype=np.float64),
            np.asarray(trajectory["hi"], dtype=np.float64),
            color=TARGET_COLOUR,
            alpha=0.2,
            label=f"{round(100 * interval)}% interval",
        )
        ax.plot(t, trajectory["median"], color=TARGET_COLOUR, lw=2, label="forecast median")
    if len(observed_t):
        obs = cumulative(observed_t, np.sort(np.asarray(observed_t, dtype=np.float64)))
        ax.step(obs.t / HOUR, obs.y, where="post", color="black", lw=1.2, label="observed")
        kinds = sorted(set(map(str, observed_types)))
        for i, kind in enumerate(kinds):
            sel = np.asarray(observed_types).astype(str) == kind
            ax.plot(
                np.asarray(observed_t)[sel] / HOUR,
                np.zeros(int(sel.sum())),
                TYPE_MARKERS[i % len(TYPE_MARKERS)],
                ms=8,
                alpha=0.6,
                label=f"{kind} events",
                clip_on=False,
            )
        ax.axvline(float(np.max(observed_t)) / HOUR, color="grey", ls="--", lw=1)
    _time_axis(ax, horizon_s)
    ax.set_ylabel("cumulative events (all types)")
    ax.set_title(title or "Forecast")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def intensity_figure(intensity: Mapping[str, Any] | None, horizon_s: float) -> Figure:
    """The intensity split: the classical Hawkes part and what the Mamba correction adds.

    intensity: ``t`` (G,) seconds, ``hawkes`` (G,) or (G, K), ``correction`` same shape,
    optional ``total`` (lambda); per-type arrays are summed over K.
    """
    if not intensity or not intensity.get("t"):
        return message_figure(
            "no intensity split stored for this prediction (needs an active temporal model)"
        )
    fig, ax = _subplots(figsize=(7.5, 3.2), layout="constrained")
    t = np.asarray(intensity["t"], dtype=np.float64) / HOUR  # (G,)

    def _sum(key: str) -> np.ndarray | None:
        if intensity.get(key) is None:
            return None
        arr = np.asarray(intensity[key], dtype=np.float64)
        return arr.sum(axis=1) if arr.ndim == 2 else arr  # (G,)

    hawkes, corr, total = _sum("hawkes"), _sum("correction"), _sum("total")
    if hawkes is not None:
        ax.plot(t, hawkes, color=TARGET_COLOUR, lw=1.8, label="Hawkes part")
    if corr is not None:
        ax.plot(t, corr, color=NEIGHBOUR_COLOUR, lw=1.8, label="Mamba correction")
    if total is not None:
        ax.plot(t, total, color="black", lw=1, ls="--", label="intensity (total)")
    ax.axhline(0, color="grey", lw=0.8)
    _time_axis(ax, horizon_s)
    unit = float(intensity.get("unit_s") or 0.0)
    per = {1.0: "second", 60.0: "minute", 3600.0: "hour", 86400.0: "day"}.get(unit)
    ax.set_ylabel(f"events per {per}" if per else "events per time unit")
    ax.set_title("Intensity: Hawkes part and Mamba correction")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def neighbour_grid(
    trajectory: Mapping[str, Sequence[float]],
    observed_t: np.ndarray,
    neighbours: Sequence[tuple[str, Curve | None]],
    horizon_s: float,
    ncols: int = 5,
) -> Figure:
    """Small multiples: each neighbour's cumulative curve on the same axes as the target's.

    neighbours: (caption, curve or None) per neighbour; all panels share x and y.
    """
    n = max(1, len(neighbours))
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = _subplots(
        nrows,
        ncols,
        figsize=(2.4 * ncols, 2.0 * nrows + 0.4),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    grid = time_grid(horizon_s)
    target = cumulative(observed_t, grid) if len(observed_t) else None
    t_med = np.asarray(trajectory.get("t", []), dtype=np.float64) / HOUR
    for i, ax in enumerate(axes.flat):
        if i >= len(neighbours):
            ax.set_axis_off()
            continue
        caption, curve = neighbours[i]
        if t_med.size:
            ax.plot(t_med, trajectory["median"], color=TARGET_COLOUR, lw=1.2)
        if target is not None:
            last = float(np.max(observed_t))
            keep = grid <= last
            ax.plot(grid[keep] / HOUR, target.y[keep], color="black", lw=1)
        if curve is not None:
            ax.plot(curve.t / HOUR, curve.y, color=NEIGHBOUR_COLOUR, lw=1.5)
        else:
            ax.text(
                0.5,
                0.5,
                "no event log",
                ha="center",
                va="center",
                transform=ax.transAxes,
                fontsize=8,
                color="grey",
            )
        ax.set_title(caption, fontsize=8)
        ax.set_xscale("symlog", linthresh=1 / 60)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=7)
    fig.suptitle(
        "Neighbours (orange) against the target (blue forecast, black observed); hours on x",
        fontsize=9,
    )
    return fig


def lookalike_figure(
    target: Curve | None,
    lists: Mapping[str, Sequence[tuple[str, Curve | None]]],
    horizon_s: float,
) -> Figure:
    """One panel per neighbour list (content / trajectory / combined), shared axes."""
    names = list(lists)
    fig, axes = _subplots(
        1,
        len(names),
        figsize=(4.0 * len(names), 3.2),
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    cmap = colormaps["Oranges"]
    for ax, name in zip(axes.flat, names, strict=True):
        items = lists[name]
        for j, (caption, curve) in enumerate(items):
            if curve is None:
                continue
            shade = cmap(0.85 - 0.5 * j / max(1, len(items)))
            ax.plot(curve.t / HOUR, curve.y, color=shade, lw=1, label=caption if j < 3 else None)
        if target is not None:
            ax.plot(target.t / HOUR, target.y, color=TARGET_COLOUR, lw=2.2, label="this video")
        _time_axis(ax, horizon_s)
        ax.set_title(name)
        ax.legend(fontsize=7, loc="upper left")
    axes.flat[0].set_ylabel("cumulative events")
    return fig


def alpha_heatmap(alpha: np.ndarray, types: Sequence[str]) -> Figure:
    """The learned excitation matrix alpha (K, K): row k = excited type, column m = exciting."""
    a = np.asarray(alpha, dtype=np.float64)  # (K, K)
    fig, ax = _subplots(figsize=(4.8, 4.0), layout="constrained")
    im = ax.imshow(a, cmap="viridis")
    ax.set_xticks(range(a.shape[1]), labels=list(types)[: a.shape[1]], rotation=45)
    ax.set_yticks(range(a.shape[0]), labels=list(types)[: a.shape[0]])
    ax.set_xlabel("exciting type m")
    ax.set_ylabel("excited type k")
    for (i, j), v in np.ndenumerate(a):
        ax.text(
            j,
            i,
            f"{v:.2f}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if v < a.mean() else "black",
        )
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def message_figure(text: str) -> Figure:
    """A blank figure carrying a short message (nothing to draw yet)."""
    fig, ax = _subplots(figsize=(6, 1.5), layout="constrained")
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def history_figure(
    records: Sequence[Mapping[str, Any]], observed_t: np.ndarray, horizon_s: float
) -> Figure:
    """How the forecast moved as events came in: each forecast's total at the horizon (median
    and interval) at the time it was made from, against the events observed by then and, when
    the log reaches the horizon, the count that was reached."""
    fig, ax = _subplots(figsize=(7.0, 3.2), layout="constrained")
    pts = [r for r in records if r.get("observed_until_s") is not None and r["total"]["median"]
           is not None]  # fmt: skip
    if not pts:
        ax.text(0.5, 0.5, "no forecast yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    x = np.array([float(r["observed_until_s"]) for r in pts]) / 60.0  # (P,) minutes
    med = np.array([r["total"]["median"] for r in pts], dtype=np.float64)  # (P,)
    lo = np.array([r["total"]["lo"] for r in pts], dtype=np.float64)  # (P,)
    hi = np.array([r["total"]["hi"] for r in pts], dtype=np.float64)  # (P,)
    order = np.argsort(x, kind="stable")
    x, med, lo, hi = x[order], med[order], lo[order], hi[order]
    ax.fill_between(x, lo, hi, color=TARGET_COLOUR, alpha=0.2, step="post", label="interval")
    ax.plot(x, med, "o-", color=TARGET_COLOUR, label=f"forecast at {horizon_s / HOUR:g} h")
    ts = np.sort(np.asarray(observed_t, dtype=np.float64))  # (n,)
    grid = np.linspace(0.0, max(float(x.max()) * 60.0, 1.0), 200)  # (G,) seconds
    seen = np.searchsorted(ts, grid, side="right")  # (G,)
    ax.plot(grid / 60.0, seen, color="black", lw=1, label="observed so far")
    if ts.size and ts[-1] >= horizon_s:  # the log reaches the horizon: what happened
        actual = float(np.searchsorted(ts, horizon_s, side="right"))
        ax.axhline(actual, color="black", ls="--", lw=1, label="what happened (at the horizon)")
    ax.set_xlabel("forecast made at (minutes after publication)")
    ax.set_ylabel("events (all types)")
    ax.set_title("How the forecast moved as events came in", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return fig
