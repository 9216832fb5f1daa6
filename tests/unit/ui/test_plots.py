"""Figures carry the data they are meant to show."""

from __future__ import annotations

import numpy as np

from m3tr.app.ui import plots
from m3tr.app.views.curves import cumulative, time_grid

H = 7 * 24 * 3600.0
TRAJ = {"t": [0.0, 3600.0, H], "median": [0.0, 5.0, 50.0], "lo": [0.0, 5.0, 30.0],
        "hi": [0.0, 5.0, 90.0]}  # fmt: skip


def _line_data(ax) -> list[np.ndarray]:
    return [np.asarray(line.get_ydata()) for line in ax.get_lines()]


def test_forecast_figure_draws_band_median_and_observed():
    t = np.array([10.0, 20.0, 30.0, 400.0])
    fig = plots.forecast_figure(TRAJ, t, np.array(["like", "like", "comment", "like"]), H)
    ax = fig.axes[0]
    ys = _line_data(ax)
    assert any(np.array_equal(y, [0.0, 5.0, 50.0]) for y in ys)  # median
    assert any(y[-1] == 4 for y in ys if y.size == 4)  # observed cumulative step
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"80% interval", "forecast median", "observed", "like events", "comment events"} <= set(
        labels
    )
    fig.savefig(__import__("io").BytesIO(), format="png")


def test_intensity_figure_sums_types_and_handles_missing():
    inten = {"t": [0, 10, 20], "hawkes": [[1, 2], [3, 4], [5, 6]], "correction": [0.1, -0.2, 0.3]}
    ax = plots.intensity_figure(inten, H).axes[0]
    ys = _line_data(ax)
    assert any(np.allclose(y, [3, 7, 11]) for y in ys)
    assert any(np.allclose(y, [0.1, -0.2, 0.3]) for y in ys)
    empty = plots.intensity_figure(None, H)
    assert "no intensity split" in empty.axes[0].texts[0].get_text()


def test_neighbour_grid_one_panel_per_neighbour_shared_axes():
    grid = time_grid(H)
    neighbours = [(f"#{i}", cumulative(np.arange(1, 5 + i) * 100.0, grid)) for i in range(7)]
    neighbours.append(("#8", None))
    fig = plots.neighbour_grid(TRAJ, np.array([1.0, 2.0]), neighbours, H, ncols=5)
    visible = [ax for ax in fig.axes if ax.axison]
    assert len(visible) == 8
    assert visible[0].get_shared_y_axes().joined(visible[0], visible[7])
    assert visible[2].get_title() == "#2"
    assert "no event log" in visible[7].texts[0].get_text()


def test_lookalike_and_alpha_figures():
    grid = time_grid(H)
    c = cumulative(np.array([5.0, 50.0]), grid)
    fig = plots.lookalike_figure(c, {"content only": [("1", c)], "trajectory only": [],
                                     "combined": [("2", c), ("3", None)]}, H)  # fmt: skip
    assert [ax.get_title() for ax in fig.axes] == ["content only", "trajectory only", "combined"]
    heat = plots.alpha_heatmap(np.array([[0.5, 0.1], [0.2, 0.3]]), ["like", "comment"])
    texts = [t.get_text() for t in heat.axes[0].texts]
    assert texts == ["0.50", "0.10", "0.20", "0.30"]


def test_history_figure_marks_forecasts_and_what_happened():
    records = [
        {"observed_until_s": s, "total": {"median": m, "lo": m - 5, "hi": m + 5}}
        for s, m in ((600.0, 40.0), (1800.0, 55.0), (3600.0, 60.0))
    ]
    fig = plots.history_figure(records, np.linspace(0, 8000, 70), horizon_s=7200.0)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "what happened (at the horizon)" in labels and "observed so far" in labels
    assert list(ax.lines[0].get_xdata()) == [10.0, 30.0, 60.0]  # minutes
    empty = plots.history_figure([], np.zeros(0), 7200.0)
    assert "no forecast yet" in empty.axes[0].texts[0].get_text()
