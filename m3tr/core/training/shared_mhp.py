"""The point-process encoder of the fusion model: an MHP pre-trained on the training windows.

``SharedMHP`` pre-trains it once per (training set, seed) and hands each caller its own copy,
so a model, its ablations and trajectory-only retrieval share one fit and its trajectory
vectors. ``seed_everything`` seeds torch, numpy and ``random`` before every random step, so a
run's numbers do not depend on what ran before it in the process.

Device: a factory is called with the device the fusion model trains on and returns its encoder
there; ``SharedMHP`` pre-trains on its own ``device`` (the evaluation passes the same one).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from m3tr.core.fusion.mhp_adapter import MHPTemporalEncoder, pretrain_mhp, signature_vectors
from m3tr.core.training.data import TaskData

# builds a point-process temporal encoder on a device for
# (num_types, d_model, obs_window_s, train, seed, device)
TemporalFactory = Callable[[int, int, float, TaskData, int, torch.device], nn.Module]


def seed_everything(seed: int) -> None:
    """Seed torch, numpy's global generator and ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def mhp_encoder(
    num_types: int,
    d_model: int,
    obs_window_s: float,
    train: TaskData,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> nn.Module:
    """The default point-process encoder: an MHP pre-trained on the training windows, on
    ``device``."""
    mhp = pretrain_mhp(train.event_t, train.event_k, num_types, obs_window_s, seed, device=device)
    return MHPTemporalEncoder(mhp, d_model, obs_window_s).to(device)


class SharedMHP:
    """A ``TemporalFactory`` that pre-trains the MHP once per (training set, seed) and hands
    each caller its own copy (the fusion model fine-tunes it), so ``m3tr``, its ablations and
    ``trajectory_only_retrieval`` share one fit and its trajectory vectors.

    ``mhp_sizes``: the recipe's candidate model sizes (default: the recipe's own).
    ``fit_seed``: pre-train once per training set with this seed for every run seed (the
    fusion model's training still follows the run seed). The MHP recipe (several sizes, early
    stopping on whole windows) is the costliest step of an evaluation; one fit per split keeps
    the whole evaluation within its time budget.
    ``device``: where the shared MHP is pre-trained and its trajectory vectors computed.
    """

    def __init__(
        self,
        fit_seed: int | None = None,
        mhp_sizes: str | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.fit_seed = fit_seed
        self.mhp_sizes = mhp_sizes
        self.device = torch.device(device)
        self._mhp: dict[tuple[int, int], nn.Module] = {}
        self._vectors: dict[tuple[int, int, int, int], np.ndarray] = {}

    def mhp(self, train: TaskData, num_types: int, obs_window_s: float, seed: int) -> nn.Module:
        """The pre-trained MHP (shared; do not train it in place)."""
        seed = seed if self.fit_seed is None else self.fit_seed
        key = (id(train), seed)
        if key not in self._mhp:
            seed_everything(seed)
            extra = {}
            if self.mhp_sizes:  # candidate sizes of the shared recipe ("16-8-1,32-16-2")
                from m3tr.core.temporal.recipe import MHPRecipe, parse_sizes

                extra["recipe"] = MHPRecipe(seed=seed, sizes=parse_sizes(self.mhp_sizes))
            self._mhp = {key: pretrain_mhp(train.event_t, train.event_k, num_types,
                                           obs_window_s, seed, device=self.device,
                                           **extra)}  # fmt: skip
            self._vectors = {}
        return self._mhp[key]

    def __call__(
        self,
        num_types: int,
        d_model: int,
        obs_window_s: float,
        train: TaskData,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> nn.Module:
        mhp = copy.deepcopy(self.mhp(train, num_types, obs_window_s, seed))
        seed_everything(seed)
        return MHPTemporalEncoder(mhp, d_model, obs_window_s).to(device)

    def vectors(self, data: TaskData, train: TaskData, seed: int, length: int) -> np.ndarray:
        """(N, d_s) trajectory vectors of ``data`` under the MHP of (``train``, ``seed``)."""
        # the split's parts live for the whole evaluation: their ids are stable keys
        key = (id(train), id(data), seed if self.fit_seed is None else self.fit_seed, length)
        if key not in self._vectors:
            mhp = self.mhp(train, train.spec.num_types, train.spec.obs_window_s, seed)
            self._vectors[key] = signature_vectors(
                mhp, data.event_t, data.event_k, train.spec.obs_window_s, length, seed=seed
            )
        return self._vectors[key]
