"""The log-binned event-count stand-in trajectory vector."""

from __future__ import annotations

import numpy as np
import pytest

from m3tr.core.retrieval.standin_temporal import bin_edges, event_bin_signature


def test_counts_land_in_log_bins_per_type() -> None:
    edges = bin_edges(3600.0, 4, first_edge_s=60.0)
    np.testing.assert_allclose(edges, [0.0, 60.0, 234.89, 919.57, 3600.0], rtol=1e-4)
    t = np.array([10.0, 30.0, 100.0, 1000.0, 5000.0])  # the last is after the window
    types = np.array(["like", "like", "share", "like", "like"], dtype=object)
    sig = event_bin_signature(t, types, ("like", "share"), 3600.0, dim=8)
    assert sig.dtype == np.float32 and sig.shape == (8,)
    np.testing.assert_allclose(np.expm1(sig).round(), [2, 0, 0, 1, 0, 1, 0, 0])


def test_no_event_in_window_is_none_and_bad_dims_raise() -> None:
    assert event_bin_signature(np.array([4000.0]), ["like"], ("like",), 3600.0, dim=4) is None
    assert event_bin_signature(np.array([5.0]), ["view"], ("like",), 3600.0, dim=4) is None
    with pytest.raises(ValueError, match="multiple"):
        event_bin_signature(np.array([1.0]), ["like"], ("like", "share"), 3600.0, dim=5)
    with pytest.raises(ValueError):
        bin_edges(30.0, 4, first_edge_s=60.0)


def test_fast_burst_and_slow_burn_point_different_ways() -> None:
    burst = event_bin_signature(np.linspace(1, 120, 50), ["like"] * 50, ("like",), 3600.0, 16)
    slow = event_bin_signature(np.linspace(1500, 3500, 50), ["like"] * 50, ("like",), 3600.0, 16)
    burst2 = event_bin_signature(np.linspace(5, 110, 80), ["like"] * 80, ("like",), 3600.0, 16)

    def cos(a: np.ndarray, b: np.ndarray) -> float:
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    assert cos(burst, burst2) > 0.9 > cos(burst, slow)
