"""Configuration of the Mamba-Hawkes Process (explicit dataclasses; no settings read here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class MHPConfig:
    """Architecture of the MHP intensity (paper Eq. 1).

    Attributes:
        n_types: number of event types ``K``.
        type_names: their names, in id order (stored with checkpoints).
        time_unit_s: seconds per model time unit. Times, decays (``delta_km``) and
            intensities are per this unit; default 3600 (hours).
        context: the network behind ``f_k(h(t))``: ``"mamba"`` (the MHP) or ``"gru"`` (a
            neural-Hawkes variant without Mamba, a baseline).
        d_model: width of the event embeddings and of ``h(t)``; also of the signature X^s.
        d_state: Mamba state size ``N`` per channel.
        expand: Mamba inner width = ``expand * d_model``.
        n_layers: stacked time-aware Mamba layers.
        dt_rank: rank of the step projection.
        max_step: the Mamba clock stops after this many time units of silence (a huge gap
            forgets the state without pouring an unbounded input into it).
        event_step: clock advance credited to each event (time units), so that simultaneous
            events still enter the state.
        f_max_init: initial bound of ``|f_k|``: ``f_k = f_max_k * tanh(.)`` with learnable
            ``f_max_k > 0``; it is what makes the thinning bound valid.
        hawkes_init_mu: initial ``mu_k`` (pre-softplus).
        hawkes_init_alpha: initial ``alpha_km``.
        hawkes_init_decay: initial ``delta_km`` (per time unit).
        scan_chunk: chunk of the pure-PyTorch scan (None: about sqrt(length)).
    """

    n_types: int
    type_names: tuple[str, ...] = ()
    time_unit_s: float = 3600.0
    context: str = "mamba"
    d_model: int = 32
    d_state: int = 8
    expand: int = 2
    n_layers: int = 2
    dt_rank: int = 8
    max_step: float = 24.0
    event_step: float = 0.05
    f_max_init: float = 2.0
    hawkes_init_mu: float = -2.0
    hawkes_init_alpha: float = 0.3
    hawkes_init_decay: float = 1.0
    scan_chunk: int | None = None

    def __post_init__(self) -> None:
        if self.n_types < 1:
            raise ValueError(f"n_types must be >= 1, got {self.n_types}")
        if self.type_names and len(self.type_names) != self.n_types:
            raise ValueError(f"{len(self.type_names)} type names for n_types={self.n_types}")
        if self.context not in ("mamba", "gru"):
            raise ValueError(f"context must be 'mamba' or 'gru', got {self.context!r}")
        if self.time_unit_s <= 0 or self.max_step <= 0 or self.event_step < 0:
            raise ValueError("time_unit_s and max_step must be > 0, event_step >= 0")
        self.type_names = tuple(self.type_names)

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["type_names"] = list(self.type_names)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MHPConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known["type_names"] = tuple(known.get("type_names", ()))
        return cls(**known)


@dataclass
class TrainConfig:
    """How ``fit_mhp`` trains.

    Attributes:
        epochs: passes over the training sequences.
        batch_size: sequences per step.
        lr: Adam learning rate.
        max_len: events kept per sequence (the window shrinks to the kept events).
        n_mc: Monte-Carlo points per inter-event interval for the compensator.
        seed: for batching order and Monte-Carlo draws.
        clip: gradient-norm clip.
        warm_start: first fit a classical Hawkes (closed-form likelihood, L-BFGS) and start
            the MHP's Hawkes part from it (mu through the inverse softplus); the correction
            starts at zero, so training starts from the classical model.
        patience: with a validation set, stop after this many epochs without a better
            validation NLL (None: run every epoch).
    """

    epochs: int = 3
    batch_size: int = 32
    lr: float = 3e-3
    max_len: int = 512
    n_mc: int = 2
    seed: int = 0
    clip: float = 5.0
    warm_start: bool = True
    patience: int | None = None
