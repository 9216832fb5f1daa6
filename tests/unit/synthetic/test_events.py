from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from m3tr.core.events.log import EventLogRules, read_event_log
from m3tr.core.synthetic.events import (
    HawkesParams,
    default_params,
    simulate_hawkes,
    write_event_csv,
)


def test_mean_counts_match_the_stationary_hawkes_rate() -> None:
    params = default_params(1.0)
    horizon = 20_000.0
    rng = np.random.default_rng(0)
    counts = np.array(
        [
            [np.sum(types == k) for k in params.types]
            for _, types in (simulate_hawkes(params, horizon, rng) for _ in range(40))
        ]
    )  # (runs, K)
    # stationary rate: (I - alpha/delta)^-1 mu; edge effects at t=0 and t=T are small here
    expected = np.linalg.solve(np.eye(3) - params.alpha / params.delta, params.mu) * horizon
    np.testing.assert_allclose(counts.mean(0), expected, rtol=0.08)


def test_logs_are_sorted_in_window_and_readable(tmp_path: Path) -> None:
    t, types = simulate_hawkes(default_params(0.5), 3600.0, np.random.default_rng(1))
    assert np.all(np.diff(t) >= 0) and t.min() >= 0 and t.max() <= 3600.0
    path = write_event_csv(tmp_path / "a.csv", t, types)
    log = read_event_log(path, EventLogRules(vocabulary=("like", "comment", "share")))
    assert len(log) + log.duplicates_dropped == len(t)


def test_explosive_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="branching"):
        HawkesParams(("a",), np.array([0.1]), np.array([[2.0]]), np.array([[1.0]]))
