"""Tensor containers the fusion model reads: one video set, and a batch with neighbours."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass
class VideoTensors:
    """N videos' inputs (float32 unless said).

    Attributes:
        text: (N, n_w, d_t) token embeddings; text_mask: (N, n_w) bool.
        av: (N, K, d_av) audio-visual frames; av_mask: (N, K) bool (all False = no audio/video).
        side: (N, F_side) post/author features known at publication (F_side may be 0).
        profile: (N, F_p) observed count profile (``m3tr.core.training.features``).
        times: (N, L) observed event times in seconds; types: (N, L) long; ev_mask: (N, L) bool.
        floor: (N, O) log1p of the counts observed by T_obs (each type, then the total).
    """

    text: torch.Tensor
    text_mask: torch.Tensor
    av: torch.Tensor
    av_mask: torch.Tensor
    side: torch.Tensor
    profile: torch.Tensor
    times: torch.Tensor
    types: torch.Tensor
    ev_mask: torch.Tensor
    floor: torch.Tensor

    def __len__(self) -> int:
        return int(self.text.shape[0])

    def index(self, idx: torch.Tensor) -> VideoTensors:
        """Rows ``idx`` (any shape (...)): every field gets shape (*idx.shape, ...)."""
        return VideoTensors(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def flatten(self, n_lead: int) -> VideoTensors:
        """Merge the first ``n_lead`` dims into one."""
        return VideoTensors(
            **{f.name: getattr(self, f.name).flatten(0, n_lead - 1) for f in fields(self)}
        )

    def to(self, device: torch.device | str) -> VideoTensors:
        return VideoTensors(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


@dataclass
class FusionBatch:
    """B targets with their S neighbours.

    Attributes:
        target: B videos.
        neighbours: B * S videos, neighbour s of target b at row b * S + s (None when S = 0
            or when ``nb_vectors`` is given).
        nb_vectors: (B, S, 3, d) the neighbours' already encoded C, T, S vectors
            (``M3TRFusion.encode``), e.g. from a memory bank refreshed once per epoch.
        nb_floor: (B, S, O) neighbours' log1p observed counts at T_obs.
        nb_labels: (B, S, O) neighbours' log1p counts at H (each type, then total).
        nb_mask: (B, S) bool, True where a neighbour slot is filled.
    """

    target: VideoTensors
    neighbours: VideoTensors | None = None
    nb_vectors: torch.Tensor | None = None
    nb_floor: torch.Tensor | None = None
    nb_labels: torch.Tensor | None = None
    nb_mask: torch.Tensor | None = None
