"""Issue 18 one-off probe (run as it was
log in /work/notes/issue18-exp-*.log): see
benchmarks/results/evaluation.md, section issue 18."""

import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge

from m3tr.core.task.splits import split_indices
from m3tr.core.training.data import load_microlens

d = load_microlens(Path("/work/shared/data/microlens"))
y = d.y_log()[:, -1]
tr, va, te = split_indices(len(d))
texts = np.array(d.texts, dtype=object)


def nmse(p, idx):
    return round(float(((p - y[idx]) ** 2).mean() / y[idx].var()), 3)


def knn(Zq, Zb, k=10):
    out = []
    for s in range(0, Zq.shape[0], 500):
        S = Zq[s : s + 500] @ Zb.T
        S = S.toarray() if sp.issparse(S) else S
        idx = np.argpartition(-S, k, axis=1)[:, :k]
        out.append(y[tr][idx].mean(1))
    return np.concatenate(out)


for name, kw in [
    ("char13", dict(analyzer="char", ngram_range=(1, 3))),
    ("charwb24", dict(analyzer="char_wb", ngram_range=(2, 4))),
    ("word12", dict(analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b|#")),
]:
    t0 = time.time()
    vec = TfidfVectorizer(min_df=2, sublinear_tf=True, **kw)
    X = vec.fit_transform(texts[tr])
    Xa = vec.transform(texts)
    for a in [1.0, 3.0]:
        r = Ridge(alpha=a, solver="sparse_cg").fit(X, y[tr])
        print(
            name,
            len(vec.vocabulary_),
            "full ridge",
            a,
            "val",
            nmse(r.predict(Xa[va]), va),
            "test",
            nmse(r.predict(Xa[te]), te),
            flush=True,
        )
    for k in [10, 30]:
        print(
            name,
            "full-tfidf knn",
            k,
            "val",
            nmse(knn(Xa[va], Xa[tr], k), va),
            "test",
            nmse(knn(Xa[te], Xa[tr], k), te),
            flush=True,
        )
    print(name, time.time() - t0, flush=True)
