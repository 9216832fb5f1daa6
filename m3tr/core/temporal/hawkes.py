"""The classical multivariate Hawkes part of Eq. 1, with exponential kernels.

``H_k(t) = sum_m sum_{t_j^m < t} alpha_km exp(-delta_km (t - t_j^m))`` is kept as excitation
states ``R_km(t) = sum_{t_j^m <= t} exp(-delta_km (t - t_j^m))`` after every event, computed
by a linear scan (no loop over events); between events ``R`` only decays.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m3tr.core.temporal.batch import EventBatch
from m3tr.core.temporal.scan_kernels import linear_scan


def _inv_softplus(x: float) -> float:
    return x + math.log(-math.expm1(-x))


class HawkesExcitation(nn.Module):
    """Parameters ``mu (K,)``, ``alpha (K, K)``, ``delta (K, K) > 0`` and their states.

    Args:
        n_types: K.
        positive_alpha: alpha = softplus(raw) >= 0 (classical Hawkes); otherwise alpha is free
            and may be negative (inhibition), as in the MHP.
        positive_mu: mu = softplus(raw) (identity-link Hawkes needs mu > 0); else mu is free
            (a pre-softplus baseline).
    """

    def __init__(
        self,
        n_types: int,
        init_mu: float,
        init_alpha: float,
        init_decay: float,
        positive_alpha: bool = False,
        positive_mu: bool = False,
    ) -> None:
        super().__init__()
        self.n_types = n_types
        self.positive_alpha = positive_alpha
        self.positive_mu = positive_mu
        mu0 = _inv_softplus(init_mu) if positive_mu else init_mu
        a0 = _inv_softplus(init_alpha) if positive_alpha else init_alpha
        self.mu_raw = nn.Parameter(torch.full((n_types,), float(mu0)))
        self.alpha_raw = nn.Parameter(torch.full((n_types, n_types), float(a0)))
        self.decay_raw = nn.Parameter(torch.full((n_types, n_types), _inv_softplus(init_decay)))

    @property
    def mu(self) -> Tensor:
        return F.softplus(self.mu_raw) if self.positive_mu else self.mu_raw

    @property
    def alpha(self) -> Tensor:
        return F.softplus(self.alpha_raw) if self.positive_alpha else self.alpha_raw

    @property
    def decay(self) -> Tensor:
        return F.softplus(self.decay_raw) + 1e-6

    def states(self, batch: EventBatch, init: Tensor | None = None) -> Tensor:
        """Excitation states right after every slot: (B, L+1, K, K), ``[k, m]`` for source type m.

        ``init`` (B, K, K): the states before the first slot (for a batch that continues an
        earlier chunk of the same sequences); default zero.
        """
        k = self.n_types
        decay = self.decay  # (K, K)
        a = torch.exp(-decay * batch.dt[..., None, None])  # (B, L+1, K, K)
        onehot = F.one_hot(batch.types, k + 1)[..., :k].to(a.dtype)  # (B, L+1, K) BOS/pad -> 0
        onehot = onehot * batch.mask[..., None]
        b = onehot[:, :, None, :].expand_as(a)  # (B, L+1, K, K)
        out = linear_scan(a, b)
        if init is not None:  # linear in the state: add init decayed to every slot
            elapsed = batch.dt.cumsum(1)[..., None, None]  # (B, L+1, 1, 1)
            out = out + torch.exp(-decay * elapsed) * init[:, None]
        return out

    def excitation(self, states: Tensor, tau: Tensor) -> tuple[Tensor, Tensor]:
        """Decay states by ``tau`` and weigh them.

        Args:
            states: (..., K, K) states at the last event; tau: (...) elapsed time >= 0.
        Returns:
            H: (..., K) ``sum_m alpha_km R_km``, and the decayed states (..., K, K).
        """
        decayed = states * torch.exp(-self.decay * tau[..., None, None])  # (..., K, K)
        return (decayed * self.alpha).sum(-1), decayed

    def positive_excitation(self, states: Tensor) -> Tensor:
        """(..., K) ``sum_m max(alpha_km, 0) R_km``: an upper bound of H until the next event."""
        return (states * self.alpha.clamp(min=0.0)).sum(-1)

    def append(self, states: Tensor, tau: Tensor, types: Tensor) -> Tensor:
        """States after one more event of type ``types`` (B,) at ``tau`` (B,) after the last one."""
        _, decayed = self.excitation(states, tau)  # (B, K, K)
        onehot = F.one_hot(types.clamp(max=self.n_types - 1), self.n_types).to(states.dtype)
        return decayed + onehot[:, None, :]  # (B, K, K)
