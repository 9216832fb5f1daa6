"""Issue 18 one-off probe (run as it was
log in /work/notes/issue18-exp-*.log): see
benchmarks/results/evaluation.md, section issue 18."""

from pathlib import Path

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge

from m3tr.core.task.spec import CED_EVENT_TYPES, TaskSpec
from m3tr.core.task.splits import split_indices
from m3tr.core.training.data import load_ced_weibo

d = load_ced_weibo(Path("/work/shared/data/ced-weibo"), TaskSpec(3600.0, 604800.0, CED_EVENT_TYPES))
y = d.y_log()[:, -1]
tr, va, te = split_indices(len(d))


def nmse(p, idx):
    return round(float(((p - y[idx]) ** 2).mean() / y[idx].var()), 3)


print("side names", d.side_names)
S = d.side
r = Ridge(1.0).fit(S[tr], y[tr])
print("side ridge", nmse(r.predict(S[va]), va), nmse(r.predict(S[te]), te))
g = HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05).fit(S[tr], y[tr])
print("side gbdt", nmse(g.predict(S[va]), va), nmse(g.predict(S[te]), te))
texts = np.array(d.texts, dtype=object)
for an, ng, dim in [
    ("char", (1, 2), 64),
    ("char", (1, 3), 32),
    ("char", (1, 3), 64),
    ("char", (2, 3), 64),
]:
    vec = TfidfVectorizer(analyzer=an, ngram_range=ng, min_df=2, sublinear_tf=True)
    X = vec.fit_transform(texts[tr])
    svd = TruncatedSVD(dim, random_state=0).fit(X)
    Z = svd.transform(vec.transform(texts))
    Zn = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-9)
    F = np.hstack([S, Zn])
    for a in [1.0, 10.0]:
        r = Ridge(a).fit(F[tr], y[tr])
        print(
            an,
            ng,
            dim,
            "side+text ridge",
            a,
            nmse(r.predict(F[va]), va),
            nmse(r.predict(F[te]), te),
        )
    g = HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05).fit(F[tr], y[tr])
    print(an, ng, dim, "side+text gbdt", nmse(g.predict(F[va]), va), nmse(g.predict(F[te]), te))
    sim = Zn[te] @ Zn[tr].T
    idx = np.argsort(-sim, 1)[:, :10]
    print("knn10", nmse(y[tr][idx].mean(1), te))
    r = Ridge(1.0).fit(X, y[tr])
    print("full tfidf ridge", nmse(r.predict(vec.transform(texts[te])), te), flush=True)
