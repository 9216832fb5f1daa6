"""Issue 18 one-off probe (run as it was
log in /work/notes/issue18-exp-*.log): see
benchmarks/results/evaluation.md, section issue 18."""

import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
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


def knn(Z, idx, k=10):
    Zn = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-9)
    S = Zn[idx] @ Zn[tr].T
    top = np.argpartition(-S, k, axis=1)[:, :k]
    return y[tr][top].mean(1)


vc = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
vw = TfidfVectorizer(
    analyzer="word", ngram_range=(1, 2), min_df=2, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b|#"
)
Xc = vc.fit(texts[tr]).transform(texts)
Xw = vw.fit(texts[tr]).transform(texts)
for name, X in [("char+word", sp.hstack([Xc, Xw]).tocsr() / np.sqrt(2)), ("char", Xc)]:
    t0 = time.time()
    svd = TruncatedSVD(256, random_state=0, n_iter=5).fit(X[tr])
    U = svd.transform(X)  # U Sigma
    s = svd.singular_values_
    print(name, "svd s", round(time.time() - t0, 1), flush=True)
    for vn, Z in [("USigma", U), ("U", U / s), ("USigma^.5", U / np.sqrt(s))]:
        r = Ridge(1.0).fit(Z[tr] / np.linalg.norm(Z[tr], axis=1, keepdims=True).clip(1e-9), y[tr])
        Zn = Z / np.linalg.norm(Z, axis=1, keepdims=True).clip(1e-9)
        print(
            name,
            vn,
            "knn10 val",
            nmse(knn(Z, va), va),
            "test",
            nmse(knn(Z, te), te),
            "ridge(R) val",
            nmse(r.predict(Zn[va]), va),
            "test",
            nmse(r.predict(Zn[te]), te),
            flush=True,
        )
