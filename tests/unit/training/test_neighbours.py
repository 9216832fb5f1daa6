"""Leakage: a training video never retrieves itself; evaluation only ever sees the training bank."""

import numpy as np

from m3tr.core.evaluation.methods.m3tr import M3TRMethod
from m3tr.core.fusion.config import FusionConfig
from m3tr.core.training.data import DataSplit
from m3tr.core.training.fusion_recipe import VARIANTS
from m3tr.core.training.neighbours import TrainingBank
from m3tr.core.training.trainer import FusionTrainConfig


def test_training_query_never_returns_itself():
    rng = np.random.default_rng(0)
    R = rng.normal(size=(30, 6)).astype(np.float32)
    R /= np.linalg.norm(R, axis=1, keepdims=True)
    ids = np.arange(500, 530)
    bank = TrainingBank(ids, R, R.copy())
    nb = bank.query(R, R, 5, ids, "train")  # each query's best match is itself
    rows = np.arange(30)[:, None]
    assert nb.mask.all()
    assert not (nb.idx == rows).any()
    # without the exclusion, the top hit would be the query itself: the test can fail
    nb_eval = bank.query(R, R, 5, None, "eval")
    assert (nb_eval.idx[:, 0] == np.arange(30)).all()


def test_evaluation_neighbours_come_from_train_only(task):
    tr, va, te = (
        task.subset(np.arange(0, 80)),
        task.subset(np.arange(80, 100)),
        task.subset(np.arange(100, 120)),
    )
    # plant exact copies: every test video's vectors equal a validation video's and vice versa,
    # so a bank that contained them would return them first
    te.content.R[:] = va.content.R
    split = DataSplit(tr, va, te)
    cfg = FusionConfig(num_types=2, d_text=8, d_av=3, top_s=4)
    method = M3TRMethod(VARIANTS["m3tr"], cfg, FusionTrainConfig())
    n_tr, n_va, n_te = method.neighbours(split, method.config(tr))
    for nb in (n_tr, n_va, n_te):
        assert nb.idx.max() < len(tr)  # rows of the training bank
    assert not (n_tr.idx == np.arange(len(tr))[:, None]).any()
    retrieved = set(tr.video_ids[n_te.idx[n_te.mask]].tolist())
    assert retrieved.isdisjoint(te.video_ids.tolist())
    assert retrieved.isdisjoint(va.video_ids.tolist())
