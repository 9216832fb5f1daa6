"""One-off probe (issue 18): content retrieval as a forecast (mean label of the S nearest
training titles) over the FULL sparse TF-IDF (exact cosine), per n-gram family and S, on the
evaluation's 80/10/10 split of MicroLens. Run: .venv/bin/python benchmarks/text_probes/lexical_knn_microlens.py
(reads /work/shared/data/microlens)."""

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from m3tr.core.evaluation.run import make_split
from m3tr.core.training.data import load_microlens

d = load_microlens("/work/shared/data/microlens")
split, _ = make_split(d, None)
tr, va, te = split.train, split.val, split.test
ytr, yva, yte = (x.y_log()[:, -1] for x in (tr, va, te))


def nm(y, p):
    return float(np.mean((y - p) ** 2) / np.var(y))


V = {
    "char13": dict(analyzer="char", ngram_range=(1, 3)),
    "charwb24": dict(analyzer="char_wb", ngram_range=(2, 4)),
    "word12": dict(analyzer="word", ngram_range=(1, 2)),
}
mats = {}
for k, kw in V.items():
    v = TfidfVectorizer(sublinear_tf=True, min_df=2, **kw)
    mats[k] = [v.fit_transform(tr.texts), v.transform(va.texts), v.transform(te.texts)]
for combo in (
    ("char13",),
    ("charwb24",),
    ("word12",),
    ("charwb24", "word12"),
    ("char13", "word12"),
):
    xs = [normalize(sp.hstack([mats[c][i] for c in combo]).tocsr()) for i in range(3)]
    res = []
    for q, y in ((xs[1], yva), (xs[2], yte)):
        s = (q @ xs[0].T).toarray()
        r = {}
        for k in (10, 20, 30, 50):
            idx = np.argpartition(-s, k, axis=1)[:, :k]
            w = np.take_along_axis(s, idx, 1) + 1e-9
            r[k] = round(nm(y, (ytr[idx] * w).sum(1) / w.sum(1)), 4)
        res.append(r)
    print(combo, "val", res[0], "test", res[1], flush=True)
