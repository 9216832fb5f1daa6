"""Cross-modal/temporal attention of paper App. F.1 (Eq. 29-34) and attentive pooling.

Positive attention ``Softmax(alpha Q K^T / sqrt(d)) V`` picks the key tokens most consistent
with each query token; negative attention ``Softmax(gamma Q K^T / sqrt(d)) V`` with
``gamma = -(1 - alpha)`` picks the least consistent (contradictory) ones. The guided FFN
(Eq. 33-34) adds both to the query modality: ``ReLU(X_q + (P (+) N) W_1) W_2``.

Masks are boolean, True = real token. A query whose key modality has no real token at all
(e.g. no audio-visual input) receives nothing from it: the attention output and its W_1 term
are zeroed, never filled with fake data.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def masked_softmax(scores: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim of (B, Lq, Lk) scores where ``key_mask`` (B, Lk) is True.

    Rows with no valid key give all-zero weights (not NaN).
    """
    m = key_mask[:, None, :]  # (B, 1, Lk)
    scores = scores.masked_fill(~m, float("-inf"))  # (B, Lq, Lk)
    any_key = m.any(dim=-1, keepdim=True)  # (B, 1, 1)
    scores = torch.where(any_key, scores, torch.zeros_like(scores))
    w = torch.softmax(scores, dim=-1)  # (B, Lq, Lk)
    return w * any_key.to(w.dtype)


class PosNegCrossAttention(nn.Module):
    """Eq. 29-32: positive and negative cross-attention of a query modality over a key modality.

    Args:
        d: model width.
        alpha: positive scaling factor; the negative one is ``gamma = -(1 - alpha)``.
    """

    def __init__(self, d: int, alpha: float = 0.8) -> None:
        super().__init__()
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.d = d
        self.alpha = alpha
        self.gamma = -(1.0 - alpha)
        self.q_pos, self.k_pos, self.v_pos = (nn.Linear(d, d) for _ in range(3))
        self.q_neg, self.k_neg, self.v_neg = (nn.Linear(d, d) for _ in range(3))

    def _attend(
        self,
        x_q: torch.Tensor,
        x_k: torch.Tensor,
        key_mask: torch.Tensor,
        proj: tuple[nn.Linear, nn.Linear, nn.Linear],
        scale: float,
    ) -> torch.Tensor:
        q, k, v = proj[0](x_q), proj[1](x_k), proj[2](x_k)  # (B, Lq, d), (B, Lk, d), (B, Lk, d)
        scores = scale * q @ k.transpose(1, 2) / math.sqrt(self.d)  # (B, Lq, Lk)
        return masked_softmax(scores, key_mask) @ v  # (B, Lq, d)

    def forward(
        self, x_q: torch.Tensor, x_k: torch.Tensor, key_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x_q (B, Lq, d), x_k (B, Lk, d), key_mask (B, Lk) -> (positive, negative), each
        (B, Lq, d)."""
        pos = self._attend(x_q, x_k, key_mask, (self.q_pos, self.k_pos, self.v_pos), self.alpha)
        neg = self._attend(x_q, x_k, key_mask, (self.q_neg, self.k_neg, self.v_neg), self.gamma)
        return pos, neg


class GuidedFFN(nn.Module):
    """Eq. 33-34: ``ReLU(X_q + (P (+) N) W_1) W_2`` with W_1 (2d -> d), W_2 (d -> d)."""

    def __init__(self, d: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.w1 = nn.Linear(2 * d, d)
        self.w2 = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x_q: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, has_key: torch.Tensor
    ) -> torch.Tensor:
        """x_q, pos, neg (B, Lq, d); has_key (B,) bool -> (B, Lq, d)."""
        guide = self.w1(torch.cat([pos, neg], dim=-1))  # (B, Lq, d)
        guide = guide * has_key[:, None, None].to(guide.dtype)  # (B, Lq, d)
        return self.w2(self.drop(torch.relu(x_q + guide)))  # (B, Lq, d)


class PairBlock(nn.Module):
    """One directed modality pair: the query modality enriched by the key modality."""

    def __init__(self, d: int, alpha: float, dropout: float) -> None:
        super().__init__()
        self.attn = PosNegCrossAttention(d, alpha)
        self.ffn = GuidedFFN(d, dropout)

    def forward(self, x_q: torch.Tensor, x_k: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """x_q (B, Lq, d), x_k (B, Lk, d), key_mask (B, Lk) -> (B, Lq, d)."""
        pos, neg = self.attn(x_q, x_k, key_mask)  # (B, Lq, d) each
        return self.ffn(x_q, pos, neg, key_mask.any(dim=1))


class AttentivePooling(nn.Module):
    """Masked attentive pooling ``sum_l softmax(w^T tanh(W x_l)) x_l`` over tokens."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d, d)
        self.score = nn.Linear(d, 1, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, L, d), mask (B, L) -> (B, d); rows without any real token give zeros."""
        s = self.score(torch.tanh(self.proj(x))).squeeze(-1)  # (B, L)
        w = masked_softmax(s[:, None, :], mask).squeeze(1)  # (B, L)
        return (w[:, :, None] * x).sum(dim=1)  # (B, d)
