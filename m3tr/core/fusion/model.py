"""The M3TR fusion model (paper §3.4, App. F): intra-video alignment of the audio-visual (C),
text (T) and temporal (S) modalities by positive/negative cross-attention, the same for each
retrieved neighbour, a label embedding of the neighbours' labels, inner-product interactions
(the I vector of App. F.2) and an MLP head.

The head predicts, per output o (each event type, then the total), the growth over what was
already observed: ``y_hat_o = log1p(observed_o) + softplus(z_o)`` (a count at H can only be at
least the count at T_obs). Without a temporal modality (``temporal="none"``) nothing about the
video's events is used and the floor is 0.

Deviation from the paper, stated: neighbours are summarised by attention with the target's
vectors as the query (plus the flattened interactions I), not by concatenating S full vectors,
so the same checkpoint serves any number of neighbours up to S.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from m3tr.core.fusion.attention import AttentivePooling, PairBlock, masked_softmax
from m3tr.core.fusion.batch import FusionBatch, VideoTensors
from m3tr.core.fusion.config import FusionConfig
from m3tr.core.fusion.temporal_encoders import PadMaskEncoder, TemporalEncoding

MODALITIES = ("C", "T", "S")
# directed pairs (query, key): each modality is enriched by the two others
PAIRS = (("T", "C"), ("C", "T"), ("T", "S"), ("S", "T"), ("C", "S"), ("S", "C"))


@dataclass
class FusionOutput:
    """pred (B, O) log1p medians; nll (B,) per-event MHP NLL of the targets or None;
    nb_weights (B, S) attention over neighbours or None."""

    pred: torch.Tensor
    nll: torch.Tensor | None = None
    nb_weights: torch.Tensor | None = None


class VideoEncoder(nn.Module):
    """One video's three modalities -> aligned, pooled vectors C, T, S (each (N, d))."""

    def __init__(self, cfg: FusionConfig, temporal: nn.Module | None) -> None:
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.text_proj = nn.Sequential(nn.Linear(cfg.d_text, d), nn.LayerNorm(d))
        self.av_proj = nn.Sequential(nn.Linear(cfg.d_av, d), nn.LayerNorm(d))
        self.side_proj = nn.Linear(cfg.d_side, d) if cfg.d_side > 0 else None
        self.profile_proj = (
            nn.Sequential(nn.Linear(cfg.d_profile, d), nn.ReLU(), nn.Linear(d, d))
            if cfg.d_profile > 0 and cfg.uses_events
            else None
        )
        self.temporal = temporal
        self.pairs = nn.ModuleDict(
            {f"{q}{k}": PairBlock(d, cfg.alpha, cfg.dropout) for q, k in PAIRS}
        )
        self.combine = nn.ModuleDict({m: nn.Linear(2 * d, d) for m in MODALITIES})
        self.norm = nn.ModuleDict({m: nn.LayerNorm(d) for m in MODALITIES})
        self.pool = nn.ModuleDict({m: AttentivePooling(d) for m in MODALITIES})
        self.missing = nn.ParameterDict({m: nn.Parameter(torch.zeros(d)) for m in MODALITIES})

    def tokens(
        self, v: VideoTensors
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor | None]:
        """Projected tokens and masks per modality, and the temporal encoder's NLL."""
        n = len(v)
        d = self.cfg.d_model
        t_tok = self.text_proj(v.text)  # (N, n_w, d)
        t_mask = v.text_mask
        if self.side_proj is not None:
            side = self.side_proj(v.side)[:, None, :]  # (N, 1, d)
            t_tok = torch.cat([side, t_tok], dim=1)  # (N, 1 + n_w, d)
            t_mask = torch.cat([torch.ones_like(t_mask[:, :1]), t_mask], dim=1)
        c_tok = self.av_proj(v.av) * v.av_mask[..., None]  # (N, K, d)
        nll = None
        if self.temporal is not None:
            enc: TemporalEncoding = self.temporal(v.times, v.types, v.ev_mask)
            s_tok, s_mask, nll = enc.tokens, enc.mask, enc.nll  # (N, L', d), (N, L')
            if self.profile_proj is not None:
                prof = self.profile_proj(v.profile)[:, None, :]  # (N, 1, d)
                s_tok = torch.cat([prof, s_tok], dim=1)  # (N, 1 + L', d)
                s_mask = torch.cat([torch.ones_like(s_mask[:, :1]), s_mask], dim=1)
        else:
            s_tok = torch.zeros(n, 1, d, device=t_tok.device)  # (N, 1, d) never attended
            s_mask = torch.zeros(n, 1, dtype=torch.bool, device=t_tok.device)
        toks = {"C": c_tok, "T": t_tok, "S": s_tok}
        masks = {"C": v.av_mask, "T": t_mask, "S": s_mask}
        return toks, masks, nll

    def forward(self, v: VideoTensors) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> (vectors (N, 3, d) in order C, T, S; NLL (N,) or None)."""
        toks, masks, nll = self.tokens(v)
        enriched: dict[str, list[torch.Tensor]] = {m: [] for m in MODALITIES}
        for q, k in PAIRS:
            enriched[q].append(self.pairs[f"{q}{k}"](toks[q], toks[k], masks[k]))
        out = []
        for m in MODALITIES:
            x = self.combine[m](torch.cat(enriched[m], dim=-1))  # (N, L_m, d)
            x = self.norm[m](toks[m] + x)  # (N, L_m, d)
            pooled = self.pool[m](x, masks[m])  # (N, d)
            present = masks[m].any(dim=1, keepdim=True)  # (N, 1)
            out.append(torch.where(present, pooled, self.missing[m].expand_as(pooled)))
        return torch.stack(out, dim=1), nll  # (N, 3, d)


class M3TRFusion(nn.Module):
    """Target + neighbours -> per-output log1p forecasts (see module docstring)."""

    def __init__(self, cfg: FusionConfig, temporal: nn.Module | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        d, o, s = cfg.d_model, cfg.num_outputs, cfg.top_s
        if temporal is None and cfg.temporal == "padmask":
            temporal = PadMaskEncoder(cfg.num_types, d, cfg.obs_window_s)
        if cfg.temporal == "mhp" and temporal is None:
            raise ValueError("FusionConfig.temporal='mhp' needs a point-process encoder")
        self.encoder = VideoEncoder(cfg, temporal if cfg.uses_events else None)
        n_vec = 3
        head_in = 3 * d
        if s > 0:
            lab_in = 2 * o if cfg.uses_events else o
            self.label_emb = (
                nn.Sequential(nn.Linear(lab_in, d), nn.ReLU(), nn.Linear(d, d))
                if cfg.use_labels
                else None
            )
            n_nb = 4 if cfg.use_labels else 3
            self.nb_query = nn.Linear(3 * d, d)
            self.nb_key = nn.Linear(n_nb * d, d)
            self.nb_value = nn.Linear(n_nb * d, d)
            head_in += d + s * n_vec * n_nb
            if cfg.use_labels:
                head_in += lab_in
        if cfg.uses_events:
            head_in += o
        self.head = nn.Sequential(
            nn.Linear(head_in, 2 * d),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(2 * d, d),
            nn.ReLU(),
            nn.Linear(d, o),
        )
        self.growth_bias = nn.Parameter(torch.zeros(o))

    def set_growth_prior(self, mean_growth: torch.Tensor) -> None:
        """Start the head at the average growth (O,) in log1p units (inverse softplus)."""
        g = mean_growth.clamp(min=1e-3)
        self.growth_bias.data.copy_(g + torch.log(-torch.expm1(-g)))

    def _neighbours(
        self, batch: FusionBatch, tgt: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        cfg = self.cfg
        b, d = tgt.shape[0], cfg.d_model
        if batch.nb_mask is None:
            raise ValueError("FusionBatch.nb_mask is required when the model retrieves (S > 0)")
        nb_mask = batch.nb_mask  # (B, S)
        s = nb_mask.shape[1]
        if batch.nb_vectors is not None:
            nb_vec = batch.nb_vectors  # (B, S, 3, d)
        elif batch.neighbours is not None:
            nb_vec = self.encoder(batch.neighbours)[0].view(b, s, 3, d)  # (B, S, 3, d)
        else:
            raise ValueError("FusionBatch needs neighbours or nb_vectors when S > 0")
        if s != cfg.top_s:
            raise ValueError(f"batch has {s} neighbour slots, the model expects {cfg.top_s}")
        parts: list[torch.Tensor] = []
        lab_feats = None
        if cfg.use_labels:
            assert batch.nb_labels is not None
            lab = batch.nb_labels  # (B, S, O)
            if cfg.uses_events:
                if batch.nb_floor is not None:
                    nb_floor = batch.nb_floor  # (B, S, O)
                elif batch.neighbours is not None:
                    nb_floor = batch.neighbours.floor.view(b, s, -1)  # (B, S, O)
                else:
                    raise ValueError("FusionBatch.nb_floor is required with nb_vectors")
                lab = torch.cat([lab, lab - nb_floor], dim=-1)  # (B, S, 2O)
            lab_feats = lab
            nb_vec = torch.cat([nb_vec, self.label_emb(lab)[:, :, None, :]], dim=2)  # (B, S, 4, d)
        # interactions I: inner products of target C,T,S with each neighbour's C,T,S(,L)
        inter = torch.einsum("bid,bsjd->bsij", tgt, nb_vec) / math.sqrt(d)  # (B, S, 3, n_nb)
        inter = inter * nb_mask[:, :, None, None]
        keys = nb_vec.flatten(2)  # (B, S, n_nb * d)
        q = self.nb_query(tgt.flatten(1))  # (B, d)
        k = self.nb_key(keys)  # (B, S, d)
        w = masked_softmax((k @ q[:, :, None]).transpose(1, 2) / math.sqrt(d), nb_mask)  # (B, 1, S)
        summary = (w @ self.nb_value(keys)).squeeze(1)  # (B, d)
        parts += [summary, inter.flatten(1)]
        if lab_feats is not None:
            m = nb_mask[..., None].to(lab_feats.dtype)  # (B, S, 1)
            parts.append((lab_feats * m).sum(1) / m.sum(1).clamp(min=1.0))  # (B, lab_in)
        return parts, w.squeeze(1)

    def encode(self, videos: VideoTensors) -> torch.Tensor:
        """(N, 3, d) aligned, pooled C, T, S vectors of videos (e.g. bank neighbours)."""
        return self.encoder(videos)[0]

    def forward(self, batch: FusionBatch) -> FusionOutput:
        tgt, nll = self.encoder(batch.target)  # (B, 3, d)
        parts = [tgt.flatten(1)]  # (B, 3d)
        weights = None
        if self.cfg.top_s > 0:
            nb_parts, weights = self._neighbours(batch, tgt)
            parts += nb_parts
        floor = batch.target.floor if self.cfg.uses_events else torch.zeros_like(batch.target.floor)
        if self.cfg.uses_events:
            parts.append(floor)
        z = self.head(torch.cat(parts, dim=1))  # (B, O)
        pred = floor + nn.functional.softplus(z + self.growth_bias)  # (B, O)
        return FusionOutput(pred, nll, weights)
