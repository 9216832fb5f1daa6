"""Configuration of the fusion model (paper §3.4, App. F)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

TemporalKind = Literal["mhp", "padmask", "none"]


@dataclass(frozen=True)
class FusionConfig:
    """Every size and switch of :class:`~m3tr.core.fusion.model.M3TRFusion`.

    Attributes:
        num_types: K event types; the model predicts K + 1 outputs (each type, then the total).
        d_model: width d of every modality after projection.
        d_text: width of the text token embeddings (lite n-gram encoder: 256; MiniLM: 384).
        d_av: width of the audio-visual frame embeddings (visual and audio concatenated).
        d_side: number of post/author side features (0 = none); they form one extra text token.
        d_profile: width of the observed count profile (one extra temporal token).
        top_s: S, neighbours per video (0 = no retrieval).
        max_events: L, observed events kept per video.
        event_keep: which L of a longer window: ``last`` (most recent, pad-and-mask) or
            ``first`` (a contiguous history from t = 0, needed by the point process).
        obs_window_s: T_obs in seconds (for time features).
        alpha: positive attention scale; the negative one is ``-(1 - alpha)`` (Eq. 29-32).
        dropout: dropout in FFNs and the head.
        temporal: ``mhp`` (point-process encoder + L_mhp), ``padmask`` (events padded and
            masked, no point process) or ``none`` (no temporal modality and no observed counts).
        use_labels: feed the neighbours' labels (label embedding and label interactions).
        mhp_weight: gamma of ``L = L_pred + gamma L_mhp``.
    """

    num_types: int
    d_model: int = 64
    d_text: int = 384
    d_av: int = 116
    d_side: int = 0
    d_profile: int = 0
    top_s: int = 10
    max_events: int = 32
    event_keep: Literal["first", "last"] = "last"
    obs_window_s: float = 3600.0
    alpha: float = 0.8
    dropout: float = 0.1
    temporal: TemporalKind = "padmask"
    use_labels: bool = True
    mhp_weight: float = 0.1

    @property
    def num_outputs(self) -> int:
        return self.num_types + 1

    @property
    def uses_events(self) -> bool:
        return self.temporal != "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FusionConfig:
        return cls(**d)
