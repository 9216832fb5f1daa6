"""Load a profile's encoders once, then embed videos in batches:
decode -> E^v, E^a (ViT/AST or lite descriptors) -> captions (BLIP-2 + CLAP, or the lite
description) -> E^t and R (text encoder over title, description and captions: the fitted
character n-gram encoder in lite, sentence encoders per language in paper).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from m3tr.core.content import lite
from m3tr.core.content.audioset_labels import AUDIOSET_LABELS
from m3tr.core.content.config import EncoderProfile
from m3tr.core.content.decode import DecodedClip, decode_clip
from m3tr.core.content.errors import ContentError, EncoderLoadError
from m3tr.core.content.features import ContentFeatures, VideoInput
from m3tr.core.content.hf_encoders import AudioEncoder, AudioTagger, FrameCaptioner, VisualEncoder
from m3tr.core.content.loading import bundled_minilm_path
from m3tr.core.content.ngram import NgramTextModel
from m3tr.core.content.text import LanguageRouter, SentenceEncoder, TextEncoder

logger = logging.getLogger(__name__)


@dataclass
class Timings:
    """Seconds spent per stage (accumulated over calls)."""

    decode_s: float = 0.0
    encode_s: float = 0.0
    videos: int = 0


@dataclass
class ContentPipeline:
    """A profile with its encoders loaded (build it with :func:`load_profile`)."""

    profile: EncoderProfile
    device: torch.device
    text: TextEncoder
    visual: VisualEncoder | None = None
    audio: AudioEncoder | None = None
    captioner: FrameCaptioner | None = None
    tagger: AudioTagger | None = None
    timings: Timings = field(default_factory=Timings)

    @property
    def dims(self) -> dict[str, int]:
        """Feature sizes: d_v, d_a, d_t, d_r."""
        return {
            "d_v": self.visual.dim if self.visual else lite.D_VISUAL,
            "d_a": self.audio.dim if self.audio else lite.D_AUDIO,
            "d_t": self.text.dim,
            "d_r": self.text.dim,
        }


def load_text_encoder(profile: EncoderProfile, device: torch.device) -> TextEncoder:
    """The profile's text encoder: its fitted n-gram state, or sentence encoders per language.

    Raises:
        EncoderLoadError: not fitted, a fit that is not the profile's, or a model that fails.
    """
    if profile.text_encoder == "ngram":
        if profile.text_fit is None:
            raise EncoderLoadError(
                "text",
                f"{profile.profile_version} n-gram",
                "the text encoder is fitted on the bank's texts and has no fit yet "
                "(fit it with `m3tr content fit-text` or fit_text_profile)",
            )
        model = NgramTextModel.load(profile.text_fit)
        if model.fit_id != profile.text_fit_id or model.config != profile.ngram:
            raise EncoderLoadError(
                "text",
                profile.text_fit,
                f"holds fit {model.fit_id}, the profile {profile.profile_version} wants "
                f"{profile.text_fit_id} with {profile.ngram}",
            )
        return model
    en = SentenceEncoder(
        profile.text_model or str(bundled_minilm_path()),
        profile.text_pooling,
        profile.text_max_tokens,
        device,
    )
    if profile.text_model_zh is None:
        return en
    zh = SentenceEncoder(
        profile.text_model_zh, profile.text_pooling_zh, profile.text_max_tokens, device
    )
    try:
        return LanguageRouter({"en": en, "zh": zh})
    except ValueError as exc:
        raise EncoderLoadError("text", profile.text_model_zh, str(exc)) from exc


def load_profile(profile: EncoderProfile, device: str | torch.device = "cpu") -> ContentPipeline:
    """Load every encoder a profile names (hub ids or local folders; lite needs no download,
    but its text encoder must have been fitted: see :mod:`m3tr.core.content.fitting`).

    Raises:
        EncoderLoadError: a model could not be loaded (names the role and the model).
    """
    dev = torch.device(device)
    t0 = time.perf_counter()
    pipe = ContentPipeline(
        profile=profile,
        device=dev,
        text=load_text_encoder(profile, dev),
        visual=VisualEncoder(profile.visual_model, dev) if profile.visual_model else None,
        audio=AudioEncoder(profile.audio_model, dev) if profile.audio_model else None,
        captioner=(
            FrameCaptioner(profile.caption_model, dev, profile.caption_max_new_tokens)
            if profile.caption_model
            else None
        ),
        tagger=(
            AudioTagger(profile.audio_tag_model, profile.audio_tags or AUDIOSET_LABELS, dev)
            if profile.audio_tag_model
            else None
        ),
    )
    logger.info(
        "loaded content profile %s on %s in %.1f s",
        profile.profile_version,
        dev,
        time.perf_counter() - t0,
    )
    return pipe


def metadata_text(title: str, description: str) -> str:
    """Title and description as one text (the input of E^t)."""
    return ". ".join(p.strip() for p in (title or "", description or "") if p and p.strip())


def _decode_one(item: VideoInput, pipe: ContentPipeline) -> DecodedClip | None | ContentError:
    if item.media_path is None:
        return None
    try:
        return decode_clip(item.media_path, pipe.profile.decode)
    except ContentError as exc:
        return exc


def _captions(
    pipe: ContentPipeline,
    clips: list[DecodedClip | None],
    ev: list[np.ndarray | None],
    ea: list[np.ndarray | None],
) -> list[str]:
    """One caption string per video (BLIP-2 + CLAP, or the lite description)."""
    prof = pipe.profile
    out = ["" for _ in clips]
    with_video = [i for i, c in enumerate(clips) if c is not None and c.has_video]
    with_audio = [i for i, c in enumerate(clips) if c is not None and c.has_audio]
    frame_caps: dict[int, str] = {}
    audio_caps: dict[int, str] = {}
    if pipe.captioner is not None and with_video:
        n = min(prof.caption_frames, prof.decode.num_frames)
        picks = np.linspace(0, prof.decode.num_frames - 1, n).round().astype(int)
        images = [clips[i].frames[j] for i in with_video for j in picks]  # type: ignore[index]
        caps = pipe.captioner.caption(images)
        for n_i, i in enumerate(with_video):
            unique = list(dict.fromkeys(c for c in caps[n_i * n : (n_i + 1) * n] if c))
            frame_caps[i] = "; ".join(unique)
    if pipe.tagger is not None and with_audio:
        phrases = pipe.tagger.phrases(
            [clips[i].audio for i in with_audio],
            clips[with_audio[0]].sample_rate,
            prof.audio_top_tags,
        )  # type: ignore[union-attr]
        audio_caps = dict(zip(with_audio, phrases, strict=True))
    for i, clip in enumerate(clips):
        if clip is None:
            continue
        if pipe.captioner is None and pipe.tagger is None:
            out[i] = lite.describe(ev[i], ea[i], clip.has_video, clip.has_audio)
            continue
        parts = [
            frame_caps.get(i, "") if clip.has_video else "no picture",
            audio_caps.get(i, "") if clip.has_audio else "silent",
        ]
        out[i] = ". ".join(p for p in parts if p)
    return out


def encode_decoded(
    items: Sequence[VideoInput], clips: Sequence[DecodedClip | None], pipe: ContentPipeline
) -> list[ContentFeatures]:
    """Encode already-decoded videos as one batch (``None`` clip = text-only item)."""
    prof = pipe.profile
    k = prof.decode.num_frames
    dims = pipe.dims
    clips = list(clips)
    vid_idx = [i for i, c in enumerate(clips) if c is not None and c.has_video]
    aud_idx = [i for i, c in enumerate(clips) if c is not None and c.has_audio]
    ev: list[np.ndarray | None] = [None] * len(clips)
    ea: list[np.ndarray | None] = [None] * len(clips)
    if vid_idx:
        if pipe.visual is not None:
            for i, e in zip(
                vid_idx, pipe.visual.encode([clips[i].frames for i in vid_idx]), strict=True
            ):  # type: ignore[union-attr]
                ev[i] = e
        else:
            for i in vid_idx:
                ev[i] = lite.visual_descriptors(clips[i].frames, clips[i].next_frames)  # type: ignore[union-attr,arg-type]
    if aud_idx:
        if pipe.audio is not None:
            sr = clips[aud_idx[0]].sample_rate  # type: ignore[union-attr]
            for i, e in zip(
                aud_idx, pipe.audio.encode([clips[i].audio for i in aud_idx], sr), strict=True
            ):  # type: ignore[union-attr]
                ea[i] = e
        else:
            for i in aud_idx:
                ea[i] = lite.audio_descriptors(clips[i].audio, clips[i].sample_rate)  # type: ignore[union-attr]
    captions = _captions(pipe, clips, ev, ea)
    meta = [metadata_text(it.title, it.description) for it in items]
    r_texts = [". ".join(p for p in (m, c) if p) for m, c in zip(meta, captions, strict=True)]
    # one pass over both texts: E^t from the metadata, R from metadata + captions
    tokens_all, pooled_all = pipe.text.encode(meta + r_texts)
    tokens, pooled = tokens_all[: len(meta)], pooled_all[len(meta) :]  # (n_w, d_t) each; (B, d_r)
    out = []
    for i in range(len(items)):
        clip = clips[i]
        feats = ContentFeatures(
            E_v=(ev[i] if ev[i] is not None else np.zeros((k, dims["d_v"]))).astype(np.float32),
            E_a=(ea[i] if ea[i] is not None else np.zeros((k, dims["d_a"]))).astype(np.float32),
            E_t=tokens[i].astype(np.float32),
            R=pooled[i].astype(np.float32),
            frame_times=clip.frame_times if clip is not None and clip.has_video else np.zeros(k),
            captions=captions[i],
            text=r_texts[i],
            has_video=ev[i] is not None,
            has_audio=ea[i] is not None,
            profile=prof.name,
            profile_version=prof.profile_version,
        )
        feats.validate()
        out.append(feats)
    logger.debug("encoded %d videos (%s)", len(items), [it.key for it in items])
    return out


def embed_videos(
    items: Sequence[VideoInput],
    pipe: ContentPipeline,
    errors: Literal["raise", "return"] = "raise",
    decode_workers: int = 1,
) -> list[ContentFeatures | ContentError]:
    """Decode and encode videos, batched by ``profile.batch_size``.

    Args:
        items: videos (``media_path=None`` for text-only items: E^v/E^a zero, flags False).
        errors: ``"raise"`` stops at the first bad input (a :class:`ContentError` naming the
            file); ``"return"`` puts the error in that item's place and carries on.
        decode_workers: threads decoding in parallel (PyAV releases the GIL while decoding).
    Returns:
        One :class:`ContentFeatures` (or error, with ``errors="return"``) per item, in order.
    """
    results: list[ContentFeatures | ContentError] = []
    bs = pipe.profile.batch_size
    pool = ThreadPoolExecutor(decode_workers) if decode_workers > 1 else None
    try:
        for start in range(0, len(items), bs):
            batch = list(items[start : start + bs])
            t0 = time.perf_counter()
            if pool is not None:
                decoded = list(pool.map(lambda it: _decode_one(it, pipe), batch))
            else:
                decoded = [_decode_one(it, pipe) for it in batch]
            t1 = time.perf_counter()
            bad = {i: d for i, d in enumerate(decoded) if isinstance(d, ContentError)}
            if bad and errors == "raise":
                raise next(iter(bad.values()))
            good = [i for i in range(len(batch)) if i not in bad]
            feats = encode_decoded([batch[i] for i in good], [decoded[i] for i in good], pipe)  # type: ignore[misc]
            by_index: dict[int, ContentFeatures | ContentError] = dict(bad)
            by_index.update(zip(good, feats, strict=True))
            results.extend(by_index[i] for i in range(len(batch)))
            pipe.timings.decode_s += t1 - t0
            pipe.timings.encode_s += time.perf_counter() - t1
            pipe.timings.videos += len(batch)
    finally:
        if pool is not None:
            pool.shutdown()
    return results
