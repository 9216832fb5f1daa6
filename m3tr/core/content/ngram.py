"""The ``lite`` profile's text encoder: character n-gram TF-IDF reduced by a learned projection
(truncated SVD, i.e. latent semantic analysis) fitted on the bank's own texts.

Character n-grams read Chinese (where a character or two already carry meaning) as well as English
and need no download. The fitted state (n-gram vocabulary, idf weights, SVD components) is a model
like any other: :func:`fit_ngram_text` makes it, :meth:`NgramTextModel.save` writes it to one
safetensors file (no pickle), and its :attr:`~NgramTextModel.fit_id` (a hash of the settings and
of the texts it was fitted on) goes into the profile version, so vectors of different fits never
share a feature folder or a bank.

Output, per text, like :class:`~m3tr.core.content.text.SentenceEncoder`:
- tokens: (n_seg, d) the projection of up to ``segments`` contiguous pieces of the text, in order
  (what the fusion model's text tokens read);
- pooled: (d,) the L2-normalised projection of the whole text (the unified vector R, Eq. 3's
  content axis). A text with no known n-gram (empty, or only unseen characters) gets a fixed
  unit vector: such texts are each other's nearest neighbours and nobody else's.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from safetensors import SafetensorError, safe_open
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer

from m3tr.core.content.config import NgramConfig
from m3tr.core.content.errors import EncoderLoadError
from m3tr.core.content.store import write_safetensors_atomic

logger = logging.getLogger(__name__)

FIT_FORMAT = "m3tr-ngram-text-1"
MIN_PIECE_CHARS = 6


def _vectorizer(cfg: NgramConfig, vocabulary: dict[str, int] | None = None) -> CountVectorizer:
    return CountVectorizer(
        analyzer="char",
        ngram_range=(cfg.ngram_min, cfg.ngram_max),
        lowercase=True,
        vocabulary=vocabulary,
        dtype=np.float32,
    )


def _tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear tf (1 + log count) times idf, rows L2-normalised. (N, V) -> (N, V)."""
    x = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    x.data = (1.0 + np.log(x.data)) * idf[x.indices]  # (nnz,)
    lengths = np.diff(x.indptr)  # (N,) stored entries per row
    row_sq = np.zeros(x.shape[0], np.float32)  # (N,); empty rows stay 0
    nonempty = lengths > 0
    if x.nnz:
        row_sq[nonempty] = np.add.reduceat(x.data**2, x.indptr[:-1][nonempty])
    x.data /= np.repeat(np.sqrt(np.maximum(row_sq, 1e-24)), lengths)
    return x


def corpus_id(texts: Sequence[str], cfg: NgramConfig) -> str:
    """Hash of the settings and the fitting texts (in order): the fit's identity, known before
    fitting, so a fit already on disk is found instead of fitted again."""
    h = hashlib.sha256(json.dumps(asdict(cfg), sort_keys=True).encode())
    h.update(FIT_FORMAT.encode())
    for t in texts:
        h.update(b"\x00")
        h.update(t.encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:10]


class NgramTextModel:
    """A fitted character n-gram TF-IDF + SVD text encoder.

    Attributes:
        config: the settings it was fitted with.
        vocabulary: V n-grams, index order.
        idf: (V,) float32 inverse document frequencies.
        components: (d, V) float32 SVD components (rows beyond the fitted rank are zero).
        fit_id: 10 hex digits naming this fit (settings + fitting texts).
        n_fit_texts: how many texts it was fitted on.
        explained_variance: share of the TF-IDF variance its components keep.
    """

    def __init__(
        self,
        config: NgramConfig,
        vocabulary: list[str],
        idf: np.ndarray,
        components: np.ndarray,
        fit_id: str,
        n_fit_texts: int,
        explained_variance: float = float("nan"),
    ) -> None:
        v = len(vocabulary)
        if idf.shape != (v,) or components.shape != (config.dim, v):
            raise ValueError(
                f"NgramTextModel: vocabulary of {v}, idf {idf.shape}, components "
                f"{components.shape} (expected ({config.dim}, {v}))"
            )
        self.config = config
        self.vocabulary = vocabulary
        self.idf = idf.astype(np.float32)
        self.components = np.ascontiguousarray(components, dtype=np.float32)
        self._components_t = np.ascontiguousarray(self.components.T)  # (V, d) for sparse @ dense
        self.fit_id = fit_id
        self.n_fit_texts = n_fit_texts
        self.explained_variance = explained_variance
        self._vec = _vectorizer(config, {g: i for i, g in enumerate(vocabulary)})
        self._fallback = np.full(config.dim, 1.0 / np.sqrt(config.dim), np.float32)

    @property
    def dim(self) -> int:
        return self.config.dim

    def tfidf(self, texts: Sequence[str]) -> sp.csr_matrix:
        """(N, V) sublinear TF-IDF rows, L2-normalised (zero rows for texts with no known n-gram)."""
        return _tfidf(self._vec.transform(list(texts)), self.idf)

    def project(self, texts: Sequence[str]) -> np.ndarray:
        """(N, d) float32 projections of the texts' TF-IDF rows (not normalised)."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        unique = list(dict.fromkeys(texts))  # the same text once (metadata = R text, no media)
        proj = np.asarray(self.tfidf(unique) @ self._components_t, dtype=np.float32)  # (U, d)
        if len(unique) == len(texts):
            return proj
        row = {t: i for i, t in enumerate(unique)}
        return proj[[row[t] for t in texts]]  # (N, d)

    def _normalise(self, z: np.ndarray) -> np.ndarray:
        """(N, d) -> (N, d) unit rows; zero rows become the fixed fallback vector."""
        norms = np.linalg.norm(z, axis=1, keepdims=True)  # (N, 1)
        out = z / np.maximum(norms, 1e-12)
        out[norms[:, 0] < 1e-6] = self._fallback
        return out.astype(np.float32)

    def segments(self, text: str) -> list[str]:
        """Up to ``config.segments`` contiguous pieces of ``text`` (white space collapsed), each
        of about ``MIN_PIECE_CHARS`` characters or more, cut at spaces when there are enough."""
        text = " ".join(text.split())
        k = max(1, min(self.config.segments, len(text) // MIN_PIECE_CHARS))
        if k == 1:
            return [text]
        words = text.split(" ")
        if len(words) >= 2 * k:
            cuts = np.linspace(0, len(words), k + 1).round().astype(int)
            return [" ".join(words[a:b]) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
        cuts = np.linspace(0, len(text), k + 1).round().astype(int)  # Chinese: no spaces
        return [text[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]

    def encode(self, texts: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
        """Encode texts.

        Returns:
            tokens: one (n_seg, d) float32 array per text (its pieces' projections, in order).
            pooled: (B, d) float32, L2-normalised (R).
        """
        pooled = self._normalise(self.project(texts))  # (B, d)
        pieces = [self.segments(t) for t in texts]
        flat = [p for ps in pieces for p in ps]
        proj = self.project(flat)  # (sum n_seg, d)
        tokens: list[np.ndarray] = []
        start = 0
        for ps in pieces:
            tokens.append(proj[start : start + len(ps)].copy())
            start += len(ps)
        return tokens, pooled

    def save(self, path: str | Path) -> Path:
        """Write the fitted state to one safetensors file (atomically)."""
        vocab = np.frombuffer(
            json.dumps(self.vocabulary, ensure_ascii=False).encode("utf-8"), dtype=np.uint8
        )
        meta = {
            "format": FIT_FORMAT,
            "config": json.dumps(asdict(self.config)),
            "fit_id": self.fit_id,
            "n_fit_texts": str(self.n_fit_texts),
            "explained_variance": repr(self.explained_variance),
        }
        tensors = {"vocabulary_json": vocab.copy(), "idf": self.idf, "components": self.components}
        return write_safetensors_atomic(Path(path), tensors, meta)

    @classmethod
    def load(cls, path: str | Path) -> NgramTextModel:
        """Read a fit written by :meth:`save`.

        Raises:
            EncoderLoadError: missing file or not an n-gram text fit.
        """
        p = Path(path)
        if not p.is_file():
            raise EncoderLoadError("text", str(p), "no fitted n-gram text state at this path")
        try:
            with safe_open(str(p), framework="numpy") as f:
                meta = f.metadata() or {}
                if meta.get("format") != FIT_FORMAT:
                    raise ValueError(f"format {meta.get('format')!r}, expected {FIT_FORMAT!r}")
                vocab = json.loads(bytes(f.get_tensor("vocabulary_json")).decode("utf-8"))
                idf, comps = f.get_tensor("idf"), f.get_tensor("components")
            return cls(
                NgramConfig(**json.loads(meta["config"])),
                vocab,
                idf,
                comps,
                meta["fit_id"],
                int(meta["n_fit_texts"]),
                float(meta["explained_variance"]),
            )
        except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
            raise EncoderLoadError("text", str(p), f"not a valid n-gram text fit ({exc})") from exc


def fit_ngram_text(texts: Sequence[str], config: NgramConfig | None = None) -> NgramTextModel:
    """Fit the n-gram vocabulary, idf and SVD projection on ``texts`` (the bank's texts).

    Raises:
        ValueError: no text has any character to learn from.
    """
    cfg = config or NgramConfig()
    texts = [t if isinstance(t, str) else "" for t in texts]
    n = len(texts)
    if not any(t.strip() for t in texts):
        raise ValueError(f"cannot fit the n-gram text encoder: none of the {n} texts has any text")
    min_df = cfg.min_df if n >= 4 * cfg.min_df else 1
    vec = CountVectorizer(
        analyzer="char",
        ngram_range=(cfg.ngram_min, cfg.ngram_max),
        lowercase=True,
        min_df=min_df,
        max_features=cfg.max_features,
        dtype=np.float32,
    )
    counts = vec.fit_transform(texts)  # (n, V)
    vocabulary = [""] * len(vec.vocabulary_)
    for gram, i in vec.vocabulary_.items():
        vocabulary[i] = gram
    df = np.asarray((counts > 0).sum(axis=0)).ravel()  # (V,)
    idf = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)  # smooth idf, as sklearn
    x = _tfidf(counts, idf)  # (n, V)
    rank = min(cfg.dim, x.shape[1] - 1, n - 1)
    components = np.zeros((cfg.dim, x.shape[1]), np.float32)
    explained = float("nan")
    if rank >= 1:
        svd = TruncatedSVD(rank, n_iter=cfg.svd_iters, random_state=cfg.seed)
        svd.fit(x)
        components[:rank] = svd.components_
        explained = float(svd.explained_variance_ratio_.sum())
    else:  # one text or one n-gram: the normalised TF-IDF row itself is the only direction
        total = np.asarray(x.sum(axis=0)).ravel()  # (V,)
        components[0] = total / max(float(np.linalg.norm(total)), 1e-12)
    model = NgramTextModel(cfg, vocabulary, idf, components, corpus_id(texts, cfg), n, explained)
    logger.info(
        "fitted n-gram text encoder %s on %d texts: %d n-grams, rank %d of %d, %.0f%% variance",
        model.fit_id,
        n,
        len(vocabulary),
        max(rank, 1),
        cfg.dim,
        100 * explained if explained == explained else 0.0,
    )
    return model
