"""Streamed inference: histories encoded chunk by chunk give the same intensities and states as
in one piece (Mamba and GRU contexts, padded batches), and forecasts read along the simulated
paths tell one story (the integral of the mean intensity is the mean count increase)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from m3tr.core.temporal.baselines.classical_hawkes import ClassicalHawkes
from m3tr.core.temporal.batch import EventSequence, make_batch
from m3tr.core.temporal.forecast import forecast
from m3tr.core.temporal.likelihood import last_index_before

from .conftest import edge_sequences, tiny_mhp


def _long_batch(n_types: int = 2):
    rng = np.random.default_rng(3)
    seqs = [
        EventSequence(np.sort(rng.uniform(0, 7200, n)), rng.integers(0, n_types, n), 7200.0, n)
        for n in (700, 45, 0, 301)
    ]
    return make_batch([*seqs, *edge_sequences()], n_types, 3600.0)


@pytest.mark.parametrize("context", ["mamba", "gru"])
def test_streamed_intensity_equals_whole_encoding(context):
    model = tiny_mhp(context)
    batch = _long_batch()
    query = torch.rand(batch.batch_size, 25, generator=torch.Generator().manual_seed(1)) * 2.5
    with torch.no_grad():
        whole = model.intensity(model.encode(batch), query)
        for chunk in (7, 64, 100_000):
            streamed = model.intensity_parts(batch, query, chunk=chunk)
            torch.testing.assert_close(streamed.total, whole.total, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(streamed.hawkes, whole.hawkes, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("context", ["mamba", "gru"])
def test_streamed_sim_state_equals_state_of_whole_encoding(context):
    model = tiny_mhp(context)
    batch = _long_batch()
    with torch.no_grad():
        hist = model.encode(batch, need_finals=True)
        rows = torch.arange(batch.batch_size)
        last = batch.lengths
        streamed = model.sim_init(batch, chunk=16)
        torch.testing.assert_close(streamed.hawkes, hist.hawkes[rows, last], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(streamed.t_last, batch.times[rows, last])
        # the intensity after the last event, read from the state, equals the whole readout
        t = batch.t_end + 0.3
        expect = model.intensity(hist, t[:, None]).total[:, 0]
        got = model.sim_intensity(streamed, t).total
        torch.testing.assert_close(got, expect, rtol=1e-4, atol=1e-5)
        assert bool((last_index_before(batch, t[:, None])[:, 0] == last).all())


def test_forecast_intensity_integrates_to_the_mean_curve():
    """Served forecasts tell one story: over each grid interval after T_obs, the integral of
    the plotted mean intensity equals the increase of the mean cumulative count."""
    model = ClassicalHawkes(2)
    model.set_params(
        torch.tensor([0.5, 0.2]),
        torch.tensor([[0.6, 0.1], [0.3, 0.4]]),
        torch.tensor([[2.0, 2.0], [1.5, 1.5]]),
    )
    seq = EventSequence([60.0, 300.0, 900.0, 1800.0, 3000.0], [0, 1, 0, 0, 1], 3600.0)
    fc = forecast(
        model, seq, 3600.0, 12 * 3600.0, 2, 3600.0, n_paths=2000, grid_size=400,
        quantiles=(0.5,), generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    after = fc.grid_s >= fc.t_obs_s
    t_h = fc.grid_s[after] / 3600.0
    lam = fc.intensity_total[:, after].sum(0)  # events per hour, all types
    integral = np.trapezoid(lam, t_h)
    increase = fc.final_mean.sum() - fc.observed_counts.sum()
    assert increase > 1.0
    assert abs(integral - increase) / increase < 0.05


_FORECAST_LONG_LOG = """
import resource, sys
import numpy as np, torch
from tests.unit.temporal.conftest import tiny_mhp
from m3tr.core.temporal.batch import EventSequence
from m3tr.core.temporal.forecast import forecast
torch.set_num_threads(1)
model = tiny_mhp()
n = int(sys.argv[1])
rng = np.random.default_rng(0)
seq = EventSequence(np.sort(rng.uniform(0, 3600, n)), rng.integers(0, 2, n), 3600.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
fc = forecast(model, seq, 3600.0, 2 * 3600.0, 2, 3600.0, n_paths=200, grid_size=30,
              max_events=200, generator=torch.Generator().manual_seed(0))
assert fc.observed_counts.sum() == n
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def test_forecast_memory_does_not_scale_with_paths_times_events():
    """The observed history is encoded once, streamed: a forecast of a 60,000-event log with
    200 paths stays under 200 MB of growth in a fresh process (encoding 200 copies of the log,
    as forecasts once did, needs several GB here)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    out = subprocess.run(
        [sys.executable, "-c", _FORECAST_LONG_LOG, "60000"],
        cwd=root, capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    grown_mb = float(out.stdout.strip().splitlines()[-1])
    assert grown_mb < 200, f"forecast grew the process by {grown_mb:.0f} MB"
