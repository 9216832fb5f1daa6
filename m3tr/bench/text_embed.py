"""Time the lite profile's text path on real titles: fit the character n-gram encoder on the
training bank's texts, embed every text into a fresh feature store (what ``m3tr evaluate`` does
before its methods run), and score simple probes of the vectors on the evaluation's split.

    .venv/bin/python m3tr/bench/text_embed.py microlens /work/shared/data/microlens
    .venv/bin/python m3tr/bench/text_embed.py ced-weibo /work/shared/data/ced-weibo

Probes (validation and test nMSE of log1p total): ridge on R; the mean label of the 10 nearest
training texts by R (what ``content_only_retrieval`` does).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset", choices=("microlens", "ced-weibo"))
    ap.add_argument("path", type=Path)
    ap.add_argument("--profile", default="lite")
    ap.add_argument("--cache", type=Path, default=None, help="feature store (default: a temp dir)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    from sklearn.linear_model import Ridge

    from m3tr.core.evaluation.run import bank_texts
    from m3tr.core.task.spec import CED_EVENT_TYPES, TaskSpec
    from m3tr.core.task.splits import split_indices
    from m3tr.core.training.content import embed_texts
    from m3tr.core.training.data import load_ced_weibo, load_microlens

    if args.dataset == "microlens":
        data = load_microlens(args.path)
    else:
        data = load_ced_weibo(args.path, TaskSpec(3600.0, 604800.0, CED_EVENT_TYPES))
    cache = args.cache or Path(tempfile.mkdtemp(prefix="m3tr_text_"))
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    content = embed_texts(
        [f"{args.dataset}-{k}" for k in data.keys],
        data.texts,
        cache,
        profile_name=args.profile,
        fit_texts=bank_texts(data, False) if args.profile == "lite" else None,
    )
    wall = time.perf_counter() - t0
    y = data.y_log()[:, -1]
    tr, va, te = split_indices(len(data))
    r = content.R

    def nmse(p: np.ndarray, idx: np.ndarray) -> float:
        return round(float(((p - y[idx]) ** 2).mean() / y[idx].var()), 3)

    def knn(idx: np.ndarray, k: int = 10) -> np.ndarray:
        sims = r[idx] @ r[tr].T  # (n, N_train)
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        return y[tr][top].mean(axis=1)

    ridge = Ridge(alpha=1.0).fit(r[tr], y[tr])
    out = {
        "dataset": args.dataset,
        "n_texts": len(data),
        "profile_version": content.profile_version,
        "d": int(r.shape[1]),
        "embed_wall_s": round(wall, 1),
        "load_1min_before": round(load0, 2),
        "load_1min_after": round(os.getloadavg()[0], 2),
        "ridge_on_R": {
            "val": nmse(ridge.predict(r[va]), va),
            "test": nmse(ridge.predict(r[te]), te),
        },
        "knn10_on_R": {"val": nmse(knn(va), va), "test": nmse(knn(te), te)},
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
