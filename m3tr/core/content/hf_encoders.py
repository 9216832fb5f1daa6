"""The paper profile's encoders (§3.3, App. E), each loaded by hub id or local folder:

- :class:`VisualEncoder`: ViT per key frame -> E^v (K, d_v), the [CLS] token.
- :class:`AudioEncoder`: AST on each aligned segment's log-mel -> E^a (K, d_a), the pooled output.
- :class:`FrameCaptioner`: BLIP-2 captions of frames (greedy decoding).
- :class:`AudioTagger`: CLAP zero-shot tags for audio against a tag vocabulary (AudioSet's labels).

All take many videos at once and batch across them; outputs are float32 numpy arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from transformers import (
    AutoFeatureExtractor,
    AutoImageProcessor,
    AutoModel,
    AutoProcessor,
    AutoTokenizer,
    Blip2ForConditionalGeneration,
    ClapModel,
)

from m3tr.core.content.audio import resample
from m3tr.core.content.loading import load_component, load_model, model_dtype

logger = logging.getLogger(__name__)


def _split(rows: np.ndarray, counts: Sequence[int]) -> list[np.ndarray]:
    """(sum(counts), d) -> one (count_i, d) array per video."""
    return [part.copy() for part in np.split(rows, np.cumsum(counts)[:-1])] if counts else []


class VisualEncoder:
    """ViT over frames: E^v[k] = last_hidden_state[:, 0] of frame k."""

    def __init__(self, name: str, device: torch.device, batch_frames: int = 64) -> None:
        self.device, self.batch_frames = device, batch_frames
        self.processor = load_component("visual", name, AutoImageProcessor)
        self.model = load_model("visual", name, AutoModel, device)
        self.dim = int(self.model.config.hidden_size)

    @torch.inference_mode()
    def encode(self, videos: Sequence[np.ndarray]) -> list[np.ndarray]:
        """videos: list of (K_i, H, W, 3) uint8 -> list of (K_i, d_v) float32."""
        images = [frame for frames in videos for frame in frames]
        out: list[np.ndarray] = []
        for i in range(0, len(images), self.batch_frames):
            px = self.processor(images=images[i : i + self.batch_frames], return_tensors="pt")
            pixel_values = px["pixel_values"].to(
                self.device, model_dtype(self.device)
            )  # (B, 3, h, w)
            hidden = self.model(pixel_values=pixel_values).last_hidden_state  # (B, 1+P, d_v)
            out.append(hidden[:, 0].float().cpu().numpy())  # (B, d_v)
        rows = np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)
        return _split(rows, [len(v) for v in videos])


class AudioEncoder:
    """AST over each segment's log-mel filterbank: E^a[k] = pooled output of segment k."""

    def __init__(self, name: str, device: torch.device, batch_segments: int = 32) -> None:
        self.device, self.batch_segments = device, batch_segments
        self.extractor = load_component("audio", name, AutoFeatureExtractor)
        self.model = load_model("audio", name, AutoModel, device)
        self.sample_rate = int(self.extractor.sampling_rate)
        self.dim = int(self.model.config.hidden_size)

    @torch.inference_mode()
    def encode(self, videos: Sequence[np.ndarray], sample_rate: int) -> list[np.ndarray]:
        """videos: list of (K_i, S_i) float32 segments at ``sample_rate`` -> list of (K_i, d_a)."""
        segments = [seg for segs in videos for seg in resample(segs, sample_rate, self.sample_rate)]
        out: list[np.ndarray] = []
        for i in range(0, len(segments), self.batch_segments):
            feats = self.extractor(
                segments[i : i + self.batch_segments],
                sampling_rate=self.sample_rate,
                return_tensors="pt",
            )
            values = feats["input_values"].to(self.device, model_dtype(self.device))  # (B, T, mel)
            pooled = self.model(input_values=values).pooler_output  # (B, d_a)
            out.append(pooled.float().cpu().numpy())
        rows = np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)
        return _split(rows, [len(v) for v in videos])


class FrameCaptioner:
    """BLIP-2 image captioning (greedy, so batched and one-by-one captions agree)."""

    def __init__(
        self, name: str, device: torch.device, max_new_tokens: int = 20, batch_images: int = 16
    ) -> None:
        self.device, self.max_new_tokens, self.batch_images = device, max_new_tokens, batch_images
        self.processor = load_component("caption", name, AutoProcessor)
        self.model = load_model("caption", name, Blip2ForConditionalGeneration, device)

    @torch.inference_mode()
    def caption(self, images: Sequence[np.ndarray]) -> list[str]:
        """images: list of (H, W, 3) uint8 -> one caption per image."""
        captions: list[str] = []
        for i in range(0, len(images), self.batch_images):
            px = self.processor(images=list(images[i : i + self.batch_images]), return_tensors="pt")
            pixel_values = px["pixel_values"].to(
                self.device, model_dtype(self.device)
            )  # (B, 3, h, w)
            ids = self.model.generate(
                pixel_values=pixel_values, max_new_tokens=self.max_new_tokens, do_sample=False
            )  # (B, L)
            texts = self.processor.tokenizer.batch_decode(ids, skip_special_tokens=True)
            captions.extend(t.strip() for t in texts)
        return captions


class AudioTagger:
    """CLAP zero-shot tagging: cosine similarity of audio and tag-text embeddings, softmax over
    the vocabulary (scaled by the model's logit scale), averaged over a video's segments.
    """

    def __init__(
        self, name: str, tags: Sequence[str], device: torch.device, batch_segments: int = 16
    ) -> None:
        if not tags:
            raise ValueError("AudioTagger needs a non-empty tag vocabulary")
        self.device, self.batch_segments, self.tags = device, batch_segments, list(tags)
        self.extractor = load_component("audio tags", name, AutoFeatureExtractor)
        self.tokenizer = load_component("audio tags", name, AutoTokenizer)
        self.model = load_model("audio tags", name, ClapModel, device)
        self.sample_rate = int(self.extractor.sampling_rate)
        # "fusion" input (4 stacked views) only for checkpoints trained with feature fusion
        fused = bool(getattr(self.model.config.audio_config, "enable_fusion", False))
        self.truncation = "fusion" if fused else "rand_trunc"
        self.tag_embeddings = self._embed_tags([f"the sound of {t.lower()}" for t in self.tags])

    @torch.inference_mode()
    def _embed_tags(self, phrases: list[str]) -> torch.Tensor:
        chunks = []
        for i in range(0, len(phrases), 64):
            enc = self.tokenizer(phrases[i : i + 64], padding=True, return_tensors="pt").to(
                self.device
            )
            chunks.append(self.model.get_text_features(**enc).pooler_output.float())  # (b, D)
        return torch.cat(chunks)  # (T, D), unit norm

    @torch.inference_mode()
    def tag_probabilities(self, videos: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
        """videos: list of (K_i, S_i) float32 -> (B, n_tags) mean tag probabilities per video."""
        segments = [seg for segs in videos for seg in resample(segs, sample_rate, self.sample_rate)]
        scale = self.model.logit_scale_a.exp().float()
        probs: list[torch.Tensor] = []
        for i in range(0, len(segments), self.batch_segments):
            feats = self.extractor(
                segments[i : i + self.batch_segments],
                sampling_rate=self.sample_rate,
                truncation=self.truncation,
                return_tensors="pt",
            )
            inputs = {k: v.to(self.device) for k, v in feats.items()}
            inputs["input_features"] = inputs["input_features"].to(model_dtype(self.device))
            emb = self.model.get_audio_features(**inputs).pooler_output.float()  # (b, D)
            probs.append(torch.softmax(scale * emb @ self.tag_embeddings.T, dim=-1))  # (b, T)
        rows = (
            torch.cat(probs).cpu().numpy() if probs else np.zeros((0, len(self.tags)), np.float32)
        )
        return np.stack([p.mean(0) for p in _split(rows, [len(v) for v in videos])])

    def phrases(self, videos: Sequence[np.ndarray], sample_rate: int, top: int) -> list[str]:
        """The ``top`` most likely tags per video as a phrase: ``"sounds of music, speech"``."""
        out = []
        for p in self.tag_probabilities(videos, sample_rate):
            best = np.argsort(-p)[:top]
            out.append("sounds of " + ", ".join(self.tags[j].lower() for j in best))
        return out
