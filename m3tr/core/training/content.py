"""Content arrays for a set of videos: what the fusion model, gbdt and retrieval read.

Text-only items (CED Weibo posts, MicroLens titles) go through the content pipeline's lite
profile (character n-gram TF-IDF + SVD fitted on the bank's texts) with no media; the
audio-visual modality is then absent and masked. Features are cached in a
:class:`~m3tr.core.content.store.FeatureStore`, so a text is embedded once per profile version
(a new fit is a new version).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m3tr.core.content import FeatureStore, VideoInput, embed_videos, get_profile, load_profile
from m3tr.core.content.config import EncoderProfile
from m3tr.core.content.features import ContentFeatures
from m3tr.core.content.fitting import fit_text_profile, resolve_profile

logger = logging.getLogger(__name__)

DEFAULT_TEXT_TOKENS = 16


@dataclass
class ContentArrays:
    """Aligned content tensors of N videos.

    Attributes:
        R: (N, d_r) float32 unified semantic vectors, L2-normalised (retrieval).
        text: (N, n_w, d_t) float32 token embeddings, average-pooled to at most n_w segments.
        text_mask: (N, n_w) bool, True where ``text`` rows are real.
        av: (N, K, d_av) float32 audio-visual frames (visual and audio concatenated).
        av_mask: (N, K) bool, True where a frame has real visual or audio content.
        profile_version: which encoder profile made them.
    """

    R: np.ndarray
    text: np.ndarray
    text_mask: np.ndarray
    av: np.ndarray
    av_mask: np.ndarray
    profile_version: str

    def __len__(self) -> int:
        return int(self.R.shape[0])

    def subset(self, idx: np.ndarray) -> ContentArrays:
        idx = np.asarray(idx, dtype=np.int64)
        return ContentArrays(
            self.R[idx],
            self.text[idx],
            self.text_mask[idx],
            self.av[idx],
            self.av_mask[idx],
            self.profile_version,
        )


def pool_tokens(tokens: np.ndarray, n_w: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, d) token embeddings -> ((n_w, d) segment means in order, (n_w,) mask).

    Sequences of at most n_w tokens are kept as they are (padded with zeros, masked).
    """
    n, d = tokens.shape
    out = np.zeros((n_w, d), dtype=np.float32)
    mask = np.zeros(n_w, dtype=bool)
    if n <= n_w:
        out[:n] = tokens
        mask[:n] = True
        return out, mask
    edges = np.linspace(0, n, n_w + 1).round().astype(int)
    for j in range(n_w):
        out[j] = tokens[edges[j] : edges[j + 1]].mean(axis=0)
    mask[:] = True
    return out, mask


def arrays_from_features(
    feats: Sequence[ContentFeatures], n_w: int = DEFAULT_TEXT_TOKENS
) -> ContentArrays:
    """Stack per-video :class:`ContentFeatures` into :class:`ContentArrays`."""
    if not feats:
        raise ValueError("no content features to stack")
    text, text_mask = zip(*(pool_tokens(f.E_t, n_w) for f in feats), strict=True)
    av = np.stack([np.concatenate([f.E_v, f.E_a], axis=1) for f in feats]).astype(np.float32)
    av_mask = np.stack([f.video_mask | f.audio_mask for f in feats])  # (N, K)
    return ContentArrays(
        R=np.stack([f.R for f in feats]).astype(np.float32),
        text=np.stack(text),
        text_mask=np.stack(text_mask),
        av=av,
        av_mask=av_mask,
        profile_version=feats[0].profile_version,
    )


def embed_texts(
    keys: Sequence[str],
    texts: Sequence[str],
    cache_dir: str | Path,
    profile_name: str = "lite",
    n_w: int = DEFAULT_TEXT_TOKENS,
    progress: Callable[[int, int], None] | None = None,
    fit_texts: Sequence[str] | None = None,
    profile: EncoderProfile | None = None,
) -> ContentArrays:
    """Content arrays of text-only items, computing only what the cache lacks.

    Args:
        keys: feature-store keys (unique; letters, digits, ``_.-``).
        texts: the text of each item (used as its description).
        cache_dir: feature-store root.
        fit_texts: what a fitted text encoder (lite) learns from: the bank's texts, never the
            items it will be scored on (the fit is found on disk when made before). ``None``: the
            fit in use in ``cache_dir``, or, when there is none yet, a fit on ``texts`` that
            becomes the one in use (as the service's first embedding does).
        profile: the profile to embed with (default: ``get_profile(profile_name)``); one whose
            text encoder is already fitted is used as it is.
    """
    if len(keys) != len(texts):
        raise ValueError(f"{len(keys)} keys for {len(texts)} texts")
    store = FeatureStore(cache_dir)
    profile = profile or get_profile(profile_name)
    if profile.needs_text_fit and fit_texts is not None:
        profile = fit_text_profile(profile, list(fit_texts), store)
    elif profile.needs_text_fit:
        profile = resolve_profile(profile, store)
        if profile.needs_text_fit:
            profile = fit_text_profile(profile, list(texts), store, make_current=True)
    pv = profile.profile_version
    todo = [i for i, k in enumerate(keys) if not store.has(k, pv)]
    if todo:
        logger.info("embedding %d of %d texts with the %s profile", len(todo), len(keys), pv)
        chunk = 64
        pipe = load_profile(profile.with_overrides(batch_size=chunk))  # text only: big batches
        for start in range(0, len(todo), chunk):
            idx = todo[start : start + chunk]
            items = [VideoInput(key=keys[i], media_path=None, description=texts[i]) for i in idx]
            for i, f in zip(idx, embed_videos(items, pipe), strict=True):
                store.put(keys[i], pv, f)  # type: ignore[arg-type]
            if progress is not None:
                progress(min(start + chunk, len(todo)), len(todo))
    return arrays_from_features([store.get(k, pv) for k in keys], n_w=n_w)
