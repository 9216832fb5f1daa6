"""Issue 18 one-off probe (run as it was
log in /work/notes/issue18-exp-*.log): see
benchmarks/results/evaluation.md, section issue 18."""

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge

from m3tr.core.task.spec import CED_EVENT_TYPES, TaskSpec
from m3tr.core.task.splits import split_indices
from m3tr.core.training.data import load_ced_weibo, load_microlens

ds = sys.argv[1]
if ds == "ml":
    d = load_microlens(Path("/work/shared/data/microlens"))
else:
    d = load_ced_weibo(
        Path("/work/shared/data/ced-weibo"), TaskSpec(3600.0, 604800.0, CED_EVENT_TYPES)
    )
y = np.log1p(d.targets.sum(1).astype(float))
tr, va, te = split_indices(len(d))
texts = np.array(d.texts, dtype=object)


def nmse(a, b):
    return float(((a - b) ** 2).mean() / b.var())


def knn(Z, k=10):
    Zn = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-9)
    S = Zn[te] @ Zn[tr].T
    idx = np.argpartition(-S, k, axis=1)[:, :k]
    return y[tr][idx].mean(1)


for an, ng in [("char", (1, 3)), ("char_wb", (1, 3)), ("char", (1, 4)), ("char_wb", (2, 4))]:
    for dim in [128, 256, 384]:
        t0 = time.time()
        vec = TfidfVectorizer(
            analyzer=an,
            ngram_range=ng,
            min_df=2,
            sublinear_tf=True,
            max_features=int(sys.argv[2]) if len(sys.argv) > 2 else None,
        )
        X = vec.fit_transform(texts[tr])
        svd = TruncatedSVD(dim, random_state=0, algorithm="randomized", n_iter=5).fit(X)
        Z = svd.transform(vec.transform(texts))
        t1 = time.time()
        Xall = vec.transform(texts)
        for a in [1.0, 10.0]:
            r = Ridge(alpha=a).fit(Z[tr], y[tr])
            p = r.predict(Z[te])
            print(
                ds,
                an,
                ng,
                dim,
                "vocab",
                len(vec.vocabulary_),
                f"fit {t1 - t0:.1f}s",
                "ridge a",
                a,
                "svd",
                round(nmse(p, y[te]), 3),
                "val",
                round(nmse(r.predict(Z[va]), y[va]), 3),
                flush=True,
            )
        print(ds, an, ng, dim, "knn10 svd", round(nmse(knn(Z), y[te]), 3), flush=True)
    r = Ridge(alpha=3.0).fit(Xall[tr], y[tr])
    print(ds, an, ng, "ridge on full tfidf", round(nmse(r.predict(Xall[te]), y[te]), 3), flush=True)
