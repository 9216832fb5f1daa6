"""One-off probe (issue 18): the same retrieval forecast over dense SVD projections of the
TF-IDF (n-gram family x dimension), similarity-weighted, on the evaluation's split of MicroLens.
Run: .venv/bin/python benchmarks/text_probes/dense_dims_microlens.py"""

import time

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
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


def feats(kws):
    mats = []
    for kw in kws:
        v = TfidfVectorizer(sublinear_tf=True, min_df=2, **kw)
        mats.append([v.fit_transform(tr.texts), v.transform(va.texts), v.transform(te.texts)])
    return [normalize(sp.hstack([m[i] for m in mats]).tocsr()) for i in range(3)]


def ev(zs, name):
    zs = [normalize(z) for z in zs]
    res = []
    for q, y in ((zs[1], yva), (zs[2], yte)):
        s = q @ zs[0].T
        r = {}
        for k in (20, 30, 50):
            idx = np.argpartition(-s, k, axis=1)[:, :k]
            w = np.clip(np.take_along_axis(s, idx, 1), 0, None) + 1e-9
            r[k] = round(nm(y, (ytr[idx] * w).sum(1) / w.sum(1)), 4)
        res.append(r)
    print(name, "val", res[0], "test", res[1], flush=True)


C13 = dict(analyzer="char", ngram_range=(1, 3))
WB = dict(analyzer="char_wb", ngram_range=(2, 4))
W12 = dict(analyzer="word", ngram_range=(1, 2))
for name, kws, dim in (
    ("char13", [C13], 512),
    ("charwb24", [WB], 512),
    ("char13+word12", [C13, W12], 512),
    ("wb+word", [WB, W12], 384),
    ("wb+word", [WB, W12], 768),
):
    xs = feats(kws)
    t0 = time.time()
    svd = TruncatedSVD(dim, random_state=0, n_iter=5).fit(xs[0])
    ev(
        [svd.transform(x) for x in xs],
        f"{name} svd{dim} V={xs[0].shape[1]} ({time.time() - t0:.0f}s)",
    )
