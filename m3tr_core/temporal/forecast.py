"""Forecasts by simulation: from the events in ``[0, T_obs]``, simulate ``n`` futures to the
horizon with batched thinning, and summarise them as plain numpy arrays for the UI/workers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from m3tr_core.temporal.batch import EventSequence, make_batch
from m3tr_core.temporal.batch_ops import append_events, repeat_rows
from m3tr_core.temporal.thinning import simulate

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


def forecast_grid(t_obs: float, horizon: float, size: int) -> torch.Tensor:
    """(size,) increasing times from 0 to ``horizon``: a quarter evenly over [0, t_obs], the
    rest geometrically spaced over [t_obs, horizon], so that curves drawn on a log time axis
    (minutes to days) have points everywhere instead of one straight segment after 0."""
    n_obs = max(2, size // 4)
    start = t_obs if t_obs > 0 else horizon * 1e-4
    after = torch.logspace(
        torch.log10(torch.tensor(start)), torch.log10(torch.tensor(horizon)), size - n_obs + 1
    )
    grid = torch.cat([torch.linspace(0.0, start, n_obs), after[1:]])
    grid[-1] = horizon
    return grid


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

    ``model`` is simulable (:class:`m3tr_core.temporal.thinning.Simulable`) and has
    ``intensity_parts(batch, query)``. Events at or after ``t_obs_s`` in ``sequence`` are ignored.
    """
    if not 0 <= t_obs_s < horizon_s:
        raise ValueError(f"need 0 <= t_obs_s < horizon_s, got {t_obs_s} and {horizon_s}")
    if n_paths < 1 or grid_size < 2:
        raise ValueError("n_paths must be >= 1 and grid_size >= 2")
    obs = sequence.window(t_obs_s)
    batch = repeat_rows(make_batch([obs], n_types, time_unit_s), n_paths)
    horizon = horizon_s / time_unit_s
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        sim = simulate(model, batch, max_events, t_stop=horizon, generator=generator)
        paths = append_events(
            batch, sim.times, sim.types, sim.counts, t_end=torch.full((n_paths,), horizon)
        )
        grid = forecast_grid(t_obs_s / time_unit_s, horizon, grid_size)  # (G,)
        parts = model.intensity_parts(paths, grid.expand(n_paths, -1).contiguous())
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    truncated = int((sim.counts >= max_events).sum())
    if truncated:
        log.warning(
            "%d of %d paths hit max_events=%d before the horizon", truncated, n_paths, max_events
        )
    # cumulative counts per path, type and grid time
    ev = paths.event_mask  # (P, L+1)
    onehot = F.one_hot(paths.types.clamp(max=n_types - 1), n_types) * ev[..., None]  # (P, L+1, K)
    before = (paths.times[:, :, None] <= grid[None, None, :]).float()  # (P, L+1, G)
    cum = torch.einsum("plk,plg->pkg", onehot.float(), before)  # (P, K, G)
    q = torch.tensor(quantiles, dtype=torch.float32)
    cum_q = torch.quantile(cum, q, dim=0)  # (Q, K, G)
    tot_q = torch.quantile(cum.sum(1), q, dim=0)  # (Q, G)
    final = onehot.sum(1).float()  # (P, K)
    hawkes_only = parts.hawkes_only  # (P, G, K)
    total = parts.total.mean(0).T  # (K, G)
    hawkes = hawkes_only.mean(0).T
    names = type_names or [str(k) for k in range(n_types)]
    return Forecast(
        type_names=list(names),
        t_obs_s=float(t_obs_s),
        horizon_s=float(horizon_s),
        grid_s=(grid * time_unit_s).numpy(),
        quantile_levels=q.numpy(),
        observed_counts=np.bincount(obs.types, minlength=n_types).astype(np.int64),
        cumulative_quantiles=cum_q.numpy(),
        cumulative_total_quantiles=tot_q.numpy(),
        final_quantiles=torch.quantile(final, q, dim=0).numpy(),
        final_mean=final.mean(0).numpy(),
        intensity_total=total.numpy(),
        intensity_hawkes=hawkes.numpy(),
        intensity_correction=(total - hawkes).numpy(),
        time_unit_s=float(time_unit_s),
        n_paths=n_paths,
        cold_start=len(obs) == 0,
        truncated_paths=truncated,
    )
