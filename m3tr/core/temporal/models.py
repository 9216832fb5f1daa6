"""One interface for the MHP and its baselines: ``fit(sequences)``, ``loglik(sequences)``,
``forecast(sequence, ...)``; the MHP family also gives ``signature(sequences, L)``.

Sequences are :class:`EventSequence` in seconds; every model works in ``time_unit_s`` units,
so log-likelihoods are per that unit (hours by default) and comparable across models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from m3tr.core.temporal.baselines import ClassicalHawkes, HomogeneousPoisson
from m3tr.core.temporal.batch import EventBatch, EventSequence, make_batch
from m3tr.core.temporal.config import MHPConfig, TrainConfig
from m3tr.core.temporal.forecast import Forecast, forecast
from m3tr.core.temporal.mhp import MHP
from m3tr.core.temporal.signature import Signature, temporal_signature
from m3tr.core.temporal.training import FitReport, Progress, fit_mhp


@dataclass
class LogLikSummary:
    """Log-likelihood of a set of sequences.

    Attributes:
        total: sum over sequences.
        n_events: events scored.
        per_sequence: (S,) log-likelihood of each sequence.
    """

    total: float
    n_events: int
    per_sequence: np.ndarray

    @property
    def per_event(self) -> float:
        return self.total / max(self.n_events, 1)


class TemporalModel:
    """Base: wraps a torch module that has ``loglik(batch)``, ``intensity_parts`` and ``sim_*``."""

    name = "base"

    def __init__(
        self,
        module: torch.nn.Module,
        n_types: int,
        time_unit_s: float = 3600.0,
        type_names: Sequence[str] = (),
        max_len: int | None = 1024,
    ) -> None:
        self.module = module
        self.n_types = n_types
        self.time_unit_s = time_unit_s
        self.type_names = list(type_names) or [str(k) for k in range(n_types)]
        self.max_len = max_len

    def batch(self, sequences: Sequence[EventSequence], max_len: int | None = None) -> EventBatch:
        return make_batch(list(sequences), self.n_types, self.time_unit_s, max_len or self.max_len)

    def fit(
        self,
        sequences: Sequence[EventSequence],
        train: TrainConfig | None = None,
        progress: Progress | None = None,
    ) -> FitReport:
        raise NotImplementedError

    @torch.no_grad()
    def loglik(
        self,
        sequences: Sequence[EventSequence],
        n_mc: int = 8,
        seed: int = 0,
        batch_size: int = 64,
    ) -> LogLikSummary:
        """Log-likelihood of ``sequences`` (MC compensator where no closed form exists)."""
        gen = torch.Generator().manual_seed(seed)
        per_seq, n_events = [], 0
        self.module.eval()
        for i in range(0, len(sequences), batch_size):
            b = self.batch(sequences[i : i + batch_size])
            ll = self.module.loglik(b, n_mc=n_mc, generator=gen)
            per_seq.append(ll.loglik.numpy())
            n_events += int(ll.n_events.sum())
        arr = np.concatenate(per_seq) if per_seq else np.zeros(0)
        return LogLikSummary(float(arr.sum()), n_events, arr)

    def forecast(
        self,
        sequence: EventSequence,
        t_obs_s: float,
        horizon_s: float,
        n_paths: int = 200,
        grid_size: int = 60,
        quantiles: tuple[float, ...] = (0.1, 0.5, 0.9),
        seed: int = 0,
        max_events: int = 5000,
    ) -> Forecast:
        """Quantiles of counts and the intensity decomposition (see :class:`Forecast`)."""
        return forecast(
            self.module,
            sequence,
            t_obs_s,
            horizon_s,
            self.n_types,
            self.time_unit_s,
            self.type_names,
            n_paths=n_paths,
            grid_size=grid_size,
            quantiles=quantiles,
            max_events=max_events,
            generator=torch.Generator().manual_seed(seed),
        )


class PoissonModel(TemporalModel):
    """Homogeneous Poisson baseline."""

    name = "poisson"

    def __init__(self, n_types: int, time_unit_s: float = 3600.0, type_names: Sequence[str] = ()):
        super().__init__(HomogeneousPoisson(n_types), n_types, time_unit_s, type_names)

    def fit(self, sequences, train=None, progress=None) -> FitReport:  # noqa: ANN001
        self.module.fit_batch(self.batch(sequences))
        return FitReport(steps=1)


class ClassicalHawkesModel(TemporalModel):
    """Classical multivariate Hawkes with exponential kernels (closed-form likelihood)."""

    name = "classical_hawkes"

    def __init__(self, n_types: int, time_unit_s: float = 3600.0, type_names: Sequence[str] = ()):
        super().__init__(ClassicalHawkes(n_types), n_types, time_unit_s, type_names)

    def fit(self, sequences, train=None, progress=None) -> FitReport:  # noqa: ANN001
        loss = self.module.fit_batch(self.batch(sequences))
        return FitReport(losses=[loss], steps=1)


class MHPModel(TemporalModel):
    """The Mamba-Hawkes Process (``config.context="gru"``: the neural-Hawkes baseline)."""

    name = "mhp"

    def __init__(self, config: MHPConfig, max_len: int | None = 1024) -> None:
        super().__init__(
            MHP(config), config.n_types, config.time_unit_s, config.type_names, max_len
        )
        self.config = config

    def fit(
        self,
        sequences: Sequence[EventSequence],
        train: TrainConfig | None = None,
        progress: Progress | None = None,
    ) -> FitReport:
        train = train or TrainConfig()
        return fit_mhp(self.module, sequences, train, progress)

    def signature(
        self, sequences: Sequence[EventSequence], length: int, seed: int = 0
    ) -> Signature:
        """X^s (B, L, d) and pooled (B, d); see :func:`temporal_signature`."""
        return temporal_signature(
            self.module, sequences, length, generator=torch.Generator().manual_seed(seed)
        )


class NeuralHawkesModel(MHPModel):
    """Neural-Hawkes variant without Mamba: the MHP with a decaying-GRU context."""

    name = "neural_hawkes"

    def __init__(self, config: MHPConfig, max_len: int | None = 1024) -> None:
        cfg = MHPConfig.from_dict({**config.to_dict(), "context": "gru"})
        super().__init__(cfg, max_len)


def build_model(
    name: str, n_types: int, time_unit_s: float = 3600.0, **config: Any
) -> TemporalModel:
    """Model by name: ``mhp``, ``neural_hawkes``, ``classical_hawkes``, ``poisson``."""
    if name == "poisson":
        return PoissonModel(n_types, time_unit_s)
    if name == "classical_hawkes":
        return ClassicalHawkesModel(n_types, time_unit_s)
    if name in ("mhp", "neural_hawkes"):
        cfg = MHPConfig(n_types=n_types, time_unit_s=time_unit_s, **config)
        return MHPModel(cfg) if name == "mhp" else NeuralHawkesModel(cfg)
    raise ValueError(
        f"unknown temporal model {name!r}: mhp, neural_hawkes, classical_hawkes, poisson"
    )
