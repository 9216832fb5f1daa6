"""The MHP recipe on CED Weibo first-hour windows against classical Hawkes and Poisson on a held-out 20 % (benchmarks/results/temporal.md). Usage: python m3tr/bench/mhp_recipe_check.py SIZES MAX_EPOCHS TIME_UNIT_S LR BATCH (e.g. 16-8-1 5 3600 5e-3 32)."""

import logging
import sys
import time

import numpy as np
import torch

from m3tr.core.datasets.ced_weibo import read_ced_weibo
from m3tr.core.temporal.baselines import ClassicalHawkes
from m3tr.core.temporal.baselines.poisson import HomogeneousPoisson as Poisson
from m3tr.core.temporal.batch import EventSequence, EventVocab, make_batch, sequences_from_frame
from m3tr.core.temporal.recipe import MHPRecipe, ModelSize, split_validation, train_mhp
from m3tr.core.temporal.training import heldout_nll

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
torch.set_num_threads(1)
posts, events = read_ced_weibo("../shared/data/ced-weibo")
print(events.columns.tolist(), len(events))
vocab = EventVocab(tuple(sorted(events["type"].unique())))
seqs = sequences_from_frame(events, vocab, id_col="post_id", window_s=3600.0)
seqs = [EventSequence(s.times_s, s.types, 3600.0, s.key) for s in seqs]
print(
    len(seqs), "median events", np.median([len(s) for s in seqs]), "max", max(len(s) for s in seqs)
)
rest, test = split_validation(seqs, 0.2, 99)
t = time.time()
res = train_mhp(
    rest,
    vocab,
    MHPRecipe(
        sizes=tuple(ModelSize(*map(int, x.split("-"))) for x in sys.argv[1].split(",")),
        max_epochs=int(sys.argv[2]),
        time_unit_s=float(sys.argv[3]),
        lr=float(sys.argv[4]),
        batch_size=int(sys.argv[5]),
        patience=3,
    ),
)
print("recipe", res.record(), "s", time.time() - t)
print("mhp test", heldout_nll(res.model, test, float(sys.argv[3])))
ch = ClassicalHawkes(vocab.n_types)
ch.fit_batch(make_batch(rest, vocab.n_types, float(sys.argv[3]), 512))
print("hawkes test", heldout_nll(ch, test, float(sys.argv[3])))
po = Poisson(vocab.n_types)
po.fit_batch(make_batch(rest, vocab.n_types, float(sys.argv[3]), 512))
print("poisson test", heldout_nll(po, test, float(sys.argv[3])))
