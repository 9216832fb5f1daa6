"""End-to-end training of the fusion model: ``L = L_pred + gamma * L_mhp``.

L_pred is the nMSE of the log1p forecasts, averaged over the outputs (each type and the total),
with each output's squared error divided by the variance of that output on the training set.
L_mhp is the per-event point-process NLL of the temporal encoder (only for ``temporal="mhp"``).
AdamW, early stopping on the validation L_pred, the best weights restored at the end.

Neighbours are encoded as a memory bank: once per epoch (and before scoring) the whole
training bank is encoded without gradients, and batches read their neighbours' vectors from
it. The encoder learns through the targets; the label embedding, interactions and head learn
from the neighbours. This costs one bank pass per epoch instead of S encoder passes per target.

Device: everything runs on the model's device (the datasets are moved there once); the batch
order is drawn on the CPU, so a CUDA run sees the same batches as a CPU run of the same seed.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from m3tr.core.fusion.batch import FusionBatch, VideoTensors
from m3tr.core.fusion.model import M3TRFusion
from m3tr.core.training.neighbours import NeighbourIndex

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FusionTrainConfig:
    """Optimiser and loop settings."""

    lr: float = 1e-3
    weight_decay: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 40
    patience: int = 6
    seed: int = 0
    grad_clip: float = 1.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class FusionDataset:
    """Rows to train or score, with their neighbours in the bank (the training set).

    Attributes:
        videos: the rows' own tensors (N videos).
        y: (N, O) float32 log1p targets (zeros when unknown, e.g. serving).
        bank: the training set's tensors (neighbour features).
        bank_labels: (N_bank, O) float32 log1p targets of the bank.
        neighbours: (N, S) indices into the bank, or None (no retrieval).
    """

    videos: VideoTensors
    y: torch.Tensor
    bank: VideoTensors | None = None
    bank_labels: torch.Tensor | None = None
    neighbours: NeighbourIndex | None = None

    def __len__(self) -> int:
        return len(self.videos)

    @property
    def device(self) -> torch.device:
        return self.y.device

    def to(self, device: torch.device | str) -> FusionDataset:
        """The same rows with every tensor on ``device`` (neighbour indices stay numpy)."""
        return FusionDataset(
            videos=self.videos.to(device),
            y=self.y.to(device),
            bank=None if self.bank is None else self.bank.to(device),
            bank_labels=None if self.bank_labels is None else self.bank_labels.to(device),
            neighbours=self.neighbours,
        )

    def batch(self, idx: torch.Tensor, bank_vectors: torch.Tensor | None = None) -> FusionBatch:
        """The batch of rows ``idx`` (B,). ``bank_vectors`` (N_bank, 3, d): the bank encoded by
        ``M3TRFusion.encode``; without it the neighbours' raw tensors are passed instead.
        ``idx`` is on the dataset's device."""
        target = self.videos.index(idx)
        if self.neighbours is None or self.bank is None or self.bank_labels is None:
            return FusionBatch(target)
        dev = self.device
        nb = torch.as_tensor(self.neighbours.idx, device=dev)[idx]  # (B, S)
        common = {
            "nb_labels": self.bank_labels[nb],  # (B, S, O)
            "nb_mask": torch.as_tensor(self.neighbours.mask, device=dev)[idx],  # (B, S)
            "nb_floor": self.bank.floor[nb],  # (B, S, O)
        }
        if bank_vectors is not None:
            return FusionBatch(target=target, nb_vectors=bank_vectors[nb], **common)
        return FusionBatch(target=target, neighbours=self.bank.index(nb).flatten(2), **common)


@dataclass
class TrainResult:
    best_epoch: int
    best_val_loss: float
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's parameters."""
    return next(model.parameters()).device


def pred_loss(pred: torch.Tensor, y: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """nMSE averaged over outputs: mean_o( mean_b (pred - y)^2 / var_o ). pred, y (B, O)."""
    return (((pred - y) ** 2).mean(dim=0) / var).mean()


@torch.no_grad()
def encode_bank(
    model: M3TRFusion, data: FusionDataset, batch_size: int = 512
) -> torch.Tensor | None:
    """(N_bank, 3, d) the bank's vectors under the current weights (eval mode), or None; on
    the model's device."""
    if data.bank is None or data.neighbours is None:
        return None
    dev = model_device(model)
    bank = data.bank.to(dev)
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(bank), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(bank)), device=dev)
        out.append(model.encode(bank.index(idx)))
    model.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def predict(
    model: M3TRFusion,
    data: FusionDataset,
    batch_size: int = 256,
    bank_vectors: torch.Tensor | None = None,
) -> np.ndarray:
    """(N, O) log1p forecasts (the bank is encoded first unless ``bank_vectors`` is given),
    computed on the model's device."""
    dev = model_device(model)
    data = data.to(dev)
    if bank_vectors is None:
        bank_vectors = encode_bank(model, data)
    model.eval()
    out = []
    for start in range(0, len(data), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(data)), device=dev)
        out.append(model(data.batch(idx, bank_vectors)).pred)
    return torch.cat(out).cpu().numpy().astype(np.float64)


def train_fusion(
    model: M3TRFusion,
    train: FusionDataset,
    val: FusionDataset,
    cfg: FusionTrainConfig,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train in place on the model's device; the model ends with the weights of its best
    validation epoch."""
    torch.manual_seed(cfg.seed)
    dev = model_device(model)
    train, val = train.to(dev), val.to(dev)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)  # the batch order, as on the CPU
    var = train.y.var(dim=0, unbiased=False).clamp(min=1e-6)  # (O,)
    growth = (train.y - (train.videos.floor if model.cfg.uses_events else 0)).mean(dim=0)
    model.set_growth_prior(growth)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best = (float("inf"), -1, copy.deepcopy(model.state_dict()))
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    bank_vectors = encode_bank(model, train)
    for epoch in range(cfg.max_epochs):
        model.train()
        perm = torch.randperm(len(train), generator=gen, device="cpu").to(dev)  # (N,)
        tot, tot_mhp, nb = 0.0, 0.0, 0
        for start in range(0, len(train), cfg.batch_size):
            idx = perm[start : start + cfg.batch_size]
            out = model(train.batch(idx, bank_vectors))
            loss = pred_loss(out.pred, train.y[idx], var)
            l_mhp = out.nll.mean() if out.nll is not None else torch.zeros((), device=dev)
            total = loss + model.cfg.mhp_weight * l_mhp
            opt.zero_grad()
            total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            tot += float(loss.detach())
            tot_mhp += float(l_mhp.detach())
            nb += 1
        bank_vectors = encode_bank(model, train)  # refreshed: scores val, then the next epoch
        val_pred = torch.from_numpy(predict(model, val, bank_vectors=bank_vectors)).float().to(dev)
        val_loss = float(pred_loss(val_pred, val.y, var))
        rec = {
            "epoch": float(epoch),
            "train_pred": tot / max(nb, 1),
            "train_mhp": tot_mhp / max(nb, 1),
            "val_pred": val_loss,
        }
        history.append(rec)
        logger.debug("epoch %d %s", epoch, rec)
        if progress is not None:
            progress(epoch, rec)
        if val_loss < best[0] - 1e-5:
            best = (val_loss, epoch, copy.deepcopy(model.state_dict()))
        elif epoch - best[1] >= cfg.patience:
            break
    model.load_state_dict(best[2])
    return TrainResult(best[1], best[0], history, time.perf_counter() - t0)
