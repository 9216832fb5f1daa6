"""The forecast grid: 0 to the horizon, T_obs on it, dense early and geometric after T_obs."""

from __future__ import annotations

import numpy as np
import pytest

from m3tr.core.temporal.forecast import forecast_grid


@pytest.mark.parametrize(("t_obs", "horizon"), [(1.0, 168.0), (0.0, 168.0), (0.5, 2.0)])
def test_grid_is_increasing_from_zero_to_the_horizon(t_obs: float, horizon: float) -> None:
    g = forecast_grid(t_obs, horizon, 60).numpy()
    assert g.shape == (60,) and g[0] == 0.0 and np.isclose(g[-1], horizon)
    assert (np.diff(g) > 0).all()
    if t_obs > 0:
        assert np.isclose(g, t_obs).any()
        after = g[g >= t_obs]
        ratios = after[1:] / after[:-1]
        assert np.allclose(ratios, ratios[0], rtol=1e-4)  # geometric after T_obs
