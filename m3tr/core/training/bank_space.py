"""Trajectory vectors in the live bank's space: those of an MHP model version (kind ``mhp``)
through its trajectory transform, computed exactly as the ``embed_temporal`` step signs a
video (``pipeline.mhp_bridge`` calls :func:`observed_sequence` and :func:`version_vectors`).

Service training retrieves its training neighbours with these when an MHP version is active,
so the fused model learns from neighbours ranked by Eq. 3 in the very space its serving
neighbours come from, and its checkpoint records that space (``TrajectorySpace.of_bank``).

Training rows hold the events of the task's types only (``rows_from_db``); serving signs every
event of the MHP's vocabulary, so the two agree when the task's types cover the MHP's (the
demo and ``m3tr train`` use the configured vocabulary for both). A training window without
any event is signed from the baseline intensity (serving leaves such a video's bank point
without a trajectory vector).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from m3tr.core.task.trajectory_space import BANK_SIGNATURE_LENGTH, TrajectorySpace

if TYPE_CHECKING:
    from m3tr.core.temporal import MHP, EventSequence
    from m3tr.core.temporal.trajectory import TrajectoryFeatures
    from m3tr.core.training.data import TaskData


def mhp_vocabulary(mhp: MHP, fallback: Sequence[str]) -> tuple[str, ...]:
    """The MHP's event type names (its checkpoint's), else the first ``n_types`` of ``fallback``."""
    names = tuple(mhp.config.type_names)
    return names or tuple(fallback)[: mhp.config.n_types]


def observed_sequence(
    mhp: MHP,
    t: np.ndarray,
    types: np.ndarray,
    obs_window_s: float,
    key: int,
    fallback_vocabulary: Sequence[str],
) -> EventSequence:
    """The events of one log in ``[0, obs_window_s)`` of the MHP's types, as an
    ``EventSequence``; t (n,) seconds, types (n,) names; other types are dropped."""
    from m3tr.core.temporal import EventSequence, EventVocab

    vocab = EventVocab(mhp_vocabulary(mhp, fallback_vocabulary))
    ids = vocab.encode(np.asarray(types).astype(str), where=f"video {key}", unknown="drop")  # (n,)
    t = np.asarray(t, dtype=np.float64)
    keep = (ids >= 0) & (t < obs_window_s)
    return EventSequence(t[keep], ids[keep], t_end_s=obs_window_s, key=key)


def version_vectors(
    mhp: MHP, sequences: Sequence[EventSequence], obs_window_s: float
) -> tuple[np.ndarray, TrajectoryFeatures]:
    """Retrieval vectors (B, d_s) through the version's trajectory transform, and the
    signatures (X^s over ``BANK_SIGNATURE_LENGTH`` times) they came from."""
    from m3tr.core.temporal.trajectory import trajectory_vectors

    return trajectory_vectors(mhp, sequences, obs_window_s, BANK_SIGNATURE_LENGTH)


class BankSpaceVectors:
    """Trajectory vectors of training rows in the space of MHP model version ``version_id``
    (a ``TrajectoryVectors`` for ``FusionRecipe``: called as ``(data, train)``)."""

    def __init__(self, mhp: MHP, version_id: int) -> None:
        self.mhp = mhp
        self.space = TrajectorySpace.of_bank(version_id)
        self.name = f"{self.space} (L={BANK_SIGNATURE_LENGTH})"

    @classmethod
    def load(
        cls, checkpoint_path: str, version_id: int, device: torch.device | str = "cpu"
    ) -> BankSpaceVectors:
        """The MHP of version ``version_id`` from its checkpoint folder, on ``device``."""
        from m3tr.core.temporal import load_mhp

        return cls(load_mhp(checkpoint_path, str(torch.device(device))), version_id)

    def __call__(self, data: TaskData, train: TaskData) -> np.ndarray:
        """(N, d_s) float32 vectors of ``data``'s observed windows (``train`` is not used: the
        version's transform was fitted when the MHP was trained)."""
        spec = data.spec
        names = np.asarray(spec.event_types, dtype=object)
        seqs = [
            observed_sequence(self.mhp, t, names[k], spec.obs_window_s, int(v), spec.event_types)
            for t, k, v in zip(data.event_t, data.event_k, data.video_ids, strict=True)
        ]
        vectors, _ = version_vectors(self.mhp, seqs, spec.obs_window_s)
        return vectors.astype(np.float32)
