"""Forecasts by simulation: from the events in ``[0, T_obs]``, simulate ``n`` futures to the
horizon with batched thinning, and summarise them as plain numpy arrays for the UI/workers.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from m3tr.core.temporal.batch import EventSequence, make_batch
from m3tr.core.temporal.state_ops import repeat_rows_of
from m3tr.core.temporal.thinning import simulate_from

log = logging.getLogger(__name__)


@dataclass
class Forecast:
    """What a forecast shows. Times in seconds since publication.

    Attributes:
        type_names: K names (or ids as strings).
        t_obs_s, horizon_s: observation end and horizon.
        grid_s: (G,) times of the curves, from 0 to the horizon.
        quantile_levels: (Q,) e.g. 0.1, 0.5, 0.9.
        observed_counts: (K,) events per type in ``[0, T_obs)``.
        cumulative_quantiles: (Q, K, G) cumulative count per type at each grid time.
        cumulative_total_quantiles: (Q, G) all types together.
        final_quantiles: (Q, K) count per type at the horizon.
        final_mean: (K,) mean count at the horizon.
        intensity_total: (K, G) mean intensity over paths (events per ``time_unit_s``).
        intensity_hawkes: (K, G) the classical part alone, ``softplus(mu + excitation)``.
        intensity_correction: (K, G) total - hawkes: what the Mamba correction adds (Fig. 8).
        time_unit_s: unit of the intensities.
        n_paths: simulated futures.
        cold_start: nothing was observed.
        truncated_paths: paths stopped by the event cap before the horizon.
    """

    type_names: list[str]
    t_obs_s: float
    horizon_s: float
    grid_s: np.ndarray
    quantile_levels: np.ndarray
    observed_counts: np.ndarray
    cumulative_quantiles: np.ndarray
    cumulative_total_quantiles: np.ndarray
    final_quantiles: np.ndarray
    final_mean: np.ndarray
    intensity_total: np.ndarray
    intensity_hawkes: np.ndarray
    intensity_correction: np.ndarray
    time_unit_s: float
    n_paths: int
    cold_start: bool
    truncated_paths: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def forecast_grid(
    t_obs: float, horizon: float, size: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """(size,) increasing times from 0 to ``horizon``: a quarter evenly over [0, t_obs], the
    rest geometrically spaced over [t_obs, horizon], so that curves drawn on a log time axis
    (minutes to days) have points everywhere instead of one straight segment after 0."""
    n_obs = max(2, size // 4)
    start = t_obs if t_obs > 0 else horizon * 1e-4
    after = torch.logspace(
        math.log10(start), math.log10(horizon), size - n_obs + 1, device=device
    )  # fmt: skip
    grid = torch.cat([torch.linspace(0.0, start, n_obs, device=device), after[1:]])
    grid[-1] = horizon
    return grid


def _model_device(model: Any) -> torch.device:
    params = getattr(model, "parameters", None)
    first = next(iter(params()), None) if callable(params) else None
    return first.device if first is not None else torch.device("cpu")


def cumulative_on_grid(times: Tensor, types: Tensor, grid: Tensor, n_types: int) -> Tensor:
    """(P, K, G) events per type with time <= each grid time, from times/types (P, M) (padding
    time +inf). Memory O(P * (M + K * G)): events are binned, never compared with every time."""
    paths = times.shape[0]
    bins = torch.bucketize(times, grid, right=False)  # (P, M) first grid index >= t; G: after
    counts = torch.zeros(paths, n_types, grid.shape[0] + 1, device=times.device)
    flat = types.clamp(0, n_types - 1) * (grid.shape[0] + 1) + bins  # (P, M)
    counts.view(paths, -1).scatter_add_(1, flat, torch.ones_like(times))
    return counts[..., :-1].cumsum(-1)  # (P, K, G)


@torch.no_grad()
def forecast(
    model: Any,
    sequence: EventSequence,
    t_obs_s: float,
    horizon_s: float,
    n_types: int,
    time_unit_s: float,
    type_names: list[str] | None = None,
    n_paths: int = 200,
    grid_size: int = 60,
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9),
    max_events: int = 5000,
    generator: torch.Generator | None = None,
) -> Forecast:
    """Simulate ``n_paths`` futures of ``sequence`` from ``t_obs_s`` to ``horizon_s``.

    ``model`` is simulable (:class:`m3tr.core.temporal.thinning.Simulable`) and has
    ``intensity_parts(batch, query)``. Events at or after ``t_obs_s`` in ``sequence`` are ignored.

    Memory is bounded by design, whatever the observed events n: the history is encoded once
    (one row; the MHP streams it chunk by chunk), its end state is repeated for the P paths,
    thinning keeps (P, max_events) simulated events and the state at the last one, the
    intensity after ``t_obs_s`` is read along each path as it is simulated (P, G, K), and the
    curves are binned (P, K, G). Nothing of size P x n is ever built.
    """
    if not 0 <= t_obs_s < horizon_s:
        raise ValueError(f"need 0 <= t_obs_s < horizon_s, got {t_obs_s} and {horizon_s}")
    if n_paths < 1 or grid_size < 2:
        raise ValueError("n_paths must be >= 1 and grid_size >= 2")
    device = _model_device(model)
    obs = sequence.window(t_obs_s)
    batch = make_batch([obs], n_types, time_unit_s, device=device)  # one row
    horizon = horizon_s / time_unit_s
    t_obs = t_obs_s / time_unit_s
    grid = forecast_grid(t_obs, horizon, grid_size, device)  # (G,)
    before = grid <= t_obs  # (G,) read from the observed history alone
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        state = repeat_rows_of(model.sim_init(batch), n_paths)
        sim = simulate_from(
            model,
            state,
            torch.full((n_paths,), t_obs, device=device),
            max_events,
            t_stop=horizon,
            generator=generator,
            probe=grid[~before],
            backend="auto",  # the compiled kernel for the MHP on the CPU
        )
        seen = model.intensity_parts(batch, grid[before][None])  # (1, G0, K)
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    assert sim.probe_total is not None and sim.probe_hawkes is not None
    truncated = int((sim.counts >= max_events).sum())
    if truncated:
        log.warning(
            "%d of %d paths hit max_events=%d before the horizon", truncated, n_paths, max_events
        )
    obs_times = torch.as_tensor(obs.times_s / time_unit_s, dtype=torch.float32, device=device)
    obs_types = torch.as_tensor(obs.types, dtype=torch.long, device=device)
    cum_obs = cumulative_on_grid(obs_times[None], obs_types[None], grid, n_types)  # (1, K, G)
    cum = cum_obs + cumulative_on_grid(sim.times, sim.types, grid, n_types)  # (P, K, G)
    q = torch.tensor(quantiles, dtype=torch.float32, device=device)
    cum_q = torch.quantile(cum, q, dim=0)  # (Q, K, G)
    tot_q = torch.quantile(cum.sum(1), q, dim=0)  # (Q, G)
    final = cum[..., -1]  # (P, K)
    total = torch.cat([seen.total[0], sim.probe_total.mean(0)]).T  # (K, G)
    hawkes = torch.cat([seen.hawkes_only[0], sim.probe_hawkes.mean(0)]).T  # (K, G)
    names = type_names or [str(k) for k in range(n_types)]
    return Forecast(
        type_names=list(names),
        t_obs_s=float(t_obs_s),
        horizon_s=float(horizon_s),
        grid_s=(grid * time_unit_s).cpu().numpy(),
        quantile_levels=q.cpu().numpy(),
        observed_counts=np.bincount(obs.types, minlength=n_types).astype(np.int64),
        cumulative_quantiles=cum_q.cpu().numpy(),
        cumulative_total_quantiles=tot_q.cpu().numpy(),
        final_quantiles=torch.quantile(final, q, dim=0).cpu().numpy(),
        final_mean=final.mean(0).cpu().numpy(),
        intensity_total=total.cpu().numpy(),
        intensity_hawkes=hawkes.cpu().numpy(),
        intensity_correction=(total - hawkes).cpu().numpy(),
        time_unit_s=float(time_unit_s),
        n_paths=n_paths,
        cold_start=len(obs) == 0,
        truncated_paths=truncated,
    )
