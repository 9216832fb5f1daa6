"""Content pipeline (paper §3.3, App. E): decode key frames and aligned audio, encode them
(ViT/AST/AnglE/BLIP-2/CLAP in the ``paper`` profile, cheap offline descriptors + fitted n-grams in
``lite``), the unified semantic vector R, and a feature store so nothing is decoded twice.
"""

from m3tr.core.content.config import (
    LITE_PROFILE,
    PAPER_PROFILE,
    DecodeConfig,
    EncoderProfile,
    get_profile,
)
from m3tr.core.content.decode import DecodedClip, MediaProbe, decode_clip, probe_media
from m3tr.core.content.errors import ContentError, DecodeError, EncoderLoadError
from m3tr.core.content.features import ContentFeatures, VideoInput
from m3tr.core.content.pipeline import ContentPipeline, embed_videos, load_profile
from m3tr.core.content.store import FeatureStore
from m3tr.core.content.thumbnail import extract_thumbnail, thumbnail_array

__all__ = [
    "LITE_PROFILE",
    "PAPER_PROFILE",
    "ContentError",
    "ContentFeatures",
    "ContentPipeline",
    "DecodeConfig",
    "DecodeError",
    "DecodedClip",
    "EncoderLoadError",
    "EncoderProfile",
    "FeatureStore",
    "MediaProbe",
    "VideoInput",
    "decode_clip",
    "embed_videos",
    "extract_thumbnail",
    "get_profile",
    "load_profile",
    "probe_media",
    "thumbnail_array",
]
