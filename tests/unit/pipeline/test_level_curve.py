"""The simulated cumulative curve is levelled to the fused model's totals, keeping its shape."""

from __future__ import annotations

import numpy as np

from m3tr.core.pipeline.predict import level_curve_to_total


def test_curve_ends_at_the_fused_total_and_keeps_its_shape() -> None:
    traj = {
        "t": [0.0, 1800.0, 3600.0, 7200.0, 86400.0],
        "median": [0.0, 5.0, 10.0, 30.0, 110.0],
        "lo": [0.0, 5.0, 10.0, 20.0, 60.0],
        "hi": [0.0, 5.0, 10.0, 50.0, 210.0],
    }
    level_curve_to_total(traj, 3600.0, 10.0, {"median": 60.0, "lo": 35.0, "hi": 110.0})
    assert traj["median"][-1] == 60.0 and traj["lo"][-1] == 35.0 and traj["hi"][-1] == 110.0
    # observed part untouched
    assert traj["median"][:3] == [0.0, 5.0, 10.0]
    # shape kept: growth at 2 h is the same share of the final growth as before (20/100)
    assert np.isclose((traj["median"][3] - 10.0) / (60.0 - 10.0), 20.0 / 100.0)
    assert traj["mhp_total"] == {"median": 110.0, "lo": 60.0, "hi": 210.0}
    assert all(
        lo <= m <= hi for lo, m, hi in zip(traj["lo"], traj["median"], traj["hi"], strict=True)
    )


def test_flat_curve_grows_linearly_and_never_below_observed() -> None:
    traj = {
        "t": [0.0, 3600.0, 7200.0, 10800.0],
        "median": [0, 4, 4, 4],
        "lo": [0, 4, 4, 4],
        "hi": [0, 4, 4, 4],
    }
    level_curve_to_total(traj, 3600.0, 4.0, {"median": 8.0, "lo": 2.0, "hi": 12.0})
    assert traj["median"] == [0, 4, 6.0, 8.0]
    assert traj["lo"][-1] == 4.0  # a total below the observed count is clipped to it
    assert traj["hi"][-1] == 12.0


def test_splice_observed_starts_the_forecast_at_the_observed_count() -> None:
    from m3tr.core.pipeline.predict import splice_observed

    traj = {
        "t": [0.0, 5000.0, 10000.0],
        "median": [0.0, 12.0, 20.0],
        "lo": [0.0, 11.0, 15.0],
        "hi": [0.0, 14.0, 30.0],
    }
    splice_observed(traj, [0.0, 1800.0, 3600.0], [0.0, 4.0, 10.0], 3600.0)
    assert traj["t"] == [0.0, 1800.0, 3600.0, 5000.0, 10000.0]
    assert traj["median"] == [0.0, 4.0, 10.0, 12.0, 20.0]
    assert traj["lo"][:3] == [0.0, 4.0, 10.0] and traj["hi"][-1] == 30.0
