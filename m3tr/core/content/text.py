"""Sentence encoders (AnglE/UAE and a Chinese model in the paper profile, MiniLM on request):
token-level embeddings E^t and a pooled, L2-normalised sentence vector (the unified semantic
vector R). :class:`LanguageRouter` sends each text to the encoder of its language.
"""

from __future__ import annotations

import logging
import re
from typing import Protocol

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from m3tr.core.content.config import PoolingMode
from m3tr.core.content.loading import load_component, load_model

logger = logging.getLogger(__name__)

# CJK ideographs (unified, extension A, compatibility), kana and hangul
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]")
CJK_SHARE = 0.3


class TextEncoder(Protocol):
    """What the content pipeline needs from a text encoder."""

    dim: int

    def encode(self, texts: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
        """(one (n_w, d) float32 array per text, (B, d) float32 L2-normalised pooled vectors)."""
        ...


def text_language(text: str) -> str:
    """``"zh"`` when at least 30% of the text's letters are CJK characters, else ``"en"``."""
    letters = len(_LETTER.findall(text))
    return "zh" if letters and len(_CJK.findall(text)) >= CJK_SHARE * letters else "en"


class SentenceEncoder:
    """A BERT-style encoder loaded by hub id or local folder.

    Args:
        name: Hugging Face id or local folder (tokenizer and weights).
        pooling: ``"mean"`` over tokens (sentence-transformers MiniLM) or ``"cls"`` (AnglE/UAE).
        max_tokens: longer texts are truncated.
        device: torch device; float16 on CUDA.
        batch_size: texts per forward pass.
    """

    def __init__(
        self,
        name: str,
        pooling: PoolingMode,
        max_tokens: int,
        device: torch.device,
        batch_size: int = 32,
    ) -> None:
        self.name = name
        self.pooling = pooling
        self.max_tokens = max_tokens
        self.device = device
        self.batch_size = batch_size
        self.tokenizer = load_component("text", name, AutoTokenizer)
        self.model = load_model("text", name, AutoModel, device)
        self.dim = int(self.model.config.hidden_size)

    @torch.inference_mode()
    def encode(self, texts: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
        """Encode texts.

        Returns:
            tokens: one (n_w, d) float32 array per text (special tokens included, no padding).
            pooled: (B, d) float32, L2-normalised.
        """
        tokens: list[np.ndarray] = []
        pooled: list[np.ndarray] = []
        for i in range(0, len(texts), self.batch_size):
            chunk = texts[i : i + self.batch_size]
            enc = self.tokenizer(
                chunk,
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                return_tensors="pt",
            ).to(self.device)
            hidden = self.model(**enc).last_hidden_state.float()  # (B, L, d)
            mask = enc["attention_mask"].unsqueeze(-1).float()  # (B, L, 1)
            if self.pooling == "cls":
                vec = hidden[:, 0]  # (B, d)
            else:
                vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, d)
            vec = torch.nn.functional.normalize(vec, dim=-1)  # (B, d)
            lengths = enc["attention_mask"].sum(1).tolist()
            hidden_np = hidden.cpu().numpy()
            tokens.extend(hidden_np[j, : int(n)].copy() for j, n in enumerate(lengths))
            pooled.append(vec.cpu().numpy())
        dim = self.dim
        return tokens, (np.concatenate(pooled) if pooled else np.zeros((0, dim), np.float32))


class LanguageRouter:
    """Encodes each text with the encoder of its language (:func:`text_language`).

    Args:
        encoders: language -> encoder; must hold ``"en"`` (the default for every other language),
            all of one output size.
    """

    def __init__(self, encoders: dict[str, TextEncoder]) -> None:
        if "en" not in encoders:
            raise ValueError("LanguageRouter needs an 'en' encoder (the default)")
        dims = {lang: enc.dim for lang, enc in encoders.items()}
        if len(set(dims.values())) != 1:
            raise ValueError(
                f"text encoders per language must give vectors of one size, got {dims}: "
                "pick a Chinese model of the English model's size"
            )
        self.encoders = encoders
        self.dim = dims["en"]

    def encode(self, texts: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
        """Same contract as :meth:`SentenceEncoder.encode`, order kept."""
        langs = [text_language(t) if t else "en" for t in texts]
        langs = [lang if lang in self.encoders else "en" for lang in langs]
        tokens: list[np.ndarray | None] = [None] * len(texts)
        pooled = np.zeros((len(texts), self.dim), np.float32)  # (B, d)
        for lang, enc in self.encoders.items():
            idx = [i for i, g in enumerate(langs) if g == lang]
            if not idx:
                continue
            tok, pool = enc.encode([texts[i] for i in idx])
            for j, i in enumerate(idx):
                tokens[i] = tok[j]
            pooled[idx] = pool
        return [t for t in tokens if t is not None], pooled
