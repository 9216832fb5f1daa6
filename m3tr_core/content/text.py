"""Sentence encoder (AnglE/UAE in the paper profile, MiniLM in lite): token-level embeddings E^t
and a pooled, L2-normalised sentence vector (used for the unified semantic vector R).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from m3tr_core.content.config import PoolingMode
from m3tr_core.content.loading import load_component, prepare_model

logger = logging.getLogger(__name__)


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
        self.model = prepare_model(load_component("text", name, AutoModel), device)
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
