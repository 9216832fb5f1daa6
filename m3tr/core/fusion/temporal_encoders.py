"""Temporal encoders: observed events -> the temporal modality X^s (tokens + mask) and, for a
point-process encoder, the negative log-likelihood used in ``L = L_pred + gamma L_mhp``.

``PadMaskEncoder`` is the "no MHP" ablation (paper Table 2 "Pad&Mask"): each observed event is
embedded from its type and time, padded to L and masked; no point process, no thinning.
A point-process encoder (the MHP of ``m3tr.core.temporal``) plugs in through the same
``TemporalEncoder`` interface (see ``m3tr.core.fusion.mhp_adapter``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class TemporalEncoding:
    """tokens (B, L, d) float, mask (B, L) bool, nll (B,) per-event NLL or None."""

    tokens: torch.Tensor
    mask: torch.Tensor
    nll: torch.Tensor | None = None


def time_features(times: torch.Tensor, mask: torch.Tensor, obs_window_s: float) -> torch.Tensor:
    """(B, L) event times (s) -> (B, L, 4): t/T, log1p(t)/log1p(T), log1p(gap)/log1p(T), and
    log1p(T - t)/log1p(T) (how long ago, seen from the end of the window). Zero where masked."""
    scale = math.log1p(max(obs_window_s, 1.0))
    gaps = torch.diff(times, dim=1, prepend=torch.zeros_like(times[:, :1])).clamp(min=0)  # (B, L)
    feats = torch.stack(
        [
            times / max(obs_window_s, 1.0),
            torch.log1p(times.clamp(min=0)) / scale,
            torch.log1p(gaps) / scale,
            torch.log1p((obs_window_s - times).clamp(min=0)) / scale,
        ],
        dim=-1,
    )  # (B, L, 4)
    return feats * mask[..., None].to(feats.dtype)


class PadMaskEncoder(nn.Module):
    """Events embedded as type embedding + MLP(time features); padded and masked."""

    def __init__(self, num_types: int, d: int, obs_window_s: float) -> None:
        super().__init__()
        self.d_model = d
        self.obs_window_s = obs_window_s
        self.type_emb = nn.Embedding(num_types, d)
        self.time_mlp = nn.Sequential(nn.Linear(4, d), nn.ReLU(), nn.Linear(d, d))
        self.norm = nn.LayerNorm(d)

    def forward(
        self, times: torch.Tensor, types: torch.Tensor, mask: torch.Tensor
    ) -> TemporalEncoding:
        """times (B, L) float, types (B, L) long, mask (B, L) bool."""
        x = self.type_emb(types) + self.time_mlp(time_features(times, mask, self.obs_window_s))
        x = self.norm(x) * mask[..., None].to(x.dtype)  # (B, L, d)
        return TemporalEncoding(x, mask, None)
