"""``m3tr bench retrieval`` and ``m3tr bench retrieval-prefetch``: speed and recall of Eq. 3.

retrieval: banks of random-but-clustered vectors (semantic 384-d, temporal 64-d) at each size;
for each store: build time, memory, Eq. 3 top-10 latency (one query; batches), recall@10 vs the
exact Eq. 3 over the whole bank, with the service filter (matured only, 95% of the bank).
retrieval-prefetch: recall@10 of prefetch-N vs exact Eq. 3 on ../shared/data (CED Weibo posts:
MiniLM text vectors as R, log-binned early event counts as the trajectory), to choose N.
Results: benchmarks/results/retrieval.md.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import typer

from m3tr_core.retrieval.exact import exact_eq3_top, recall_at
from m3tr_core.retrieval.faiss_store import FaissConfig, FaissStore
from m3tr_core.retrieval.numpy_store import NumpyStore
from m3tr_core.retrieval.qdrant_store import QdrantConfig, QdrantStore
from m3tr_core.retrieval.similarity import (
    DEFAULT_PREFETCH_N,
    joint_vectors,
    retrieve,
    retrieve_batch,
)
from m3tr_core.retrieval.store import Filter, VectorStore
from m3tr_core.retrieval.synthetic_bank import ClusteredSpec, clustered_vectors

logger = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT.parent / "shared" / "data"
COLLECTION = "bench"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_bandwidth_gbs(n_bytes: int = 1 << 30) -> dict[str, float]:
    """Read bandwidth of a plain reduction, and of the exact-scan matvec itself, in GB/s."""
    a = np.ones(n_bytes // 4, dtype=np.float32)
    a.sum()
    t0 = time.perf_counter()
    for _ in range(3):
        a.sum()
    read = 3 * a.nbytes / (time.perf_counter() - t0) / 1e9
    m = a[: (a.size // 384) * 384].reshape(-1, 384)  # (n, 384)
    q = np.ones(384, dtype=np.float32)
    m @ q
    t0 = time.perf_counter()
    for _ in range(3):
        m @ q
    scan = 3 * a.nbytes / (time.perf_counter() - t0) / 1e9
    return {"read_gbs": round(read, 2), "matvec_gbs": round(scan, 2)}


def _open(name: str, ivfpq_min_size: int) -> VectorStore:
    if name == "numpy":
        return NumpyStore()
    if name == "faiss":
        return FaissStore(None, FaissConfig(ivfpq_min_size=ivfpq_min_size))
    if name == "qdrant":
        return QdrantStore(QdrantConfig())  # in memory: the same scan as local mode on disk
    raise typer.BadParameter(f"unknown store {name!r}")


def _build(store: VectorStore, sem: np.ndarray, tem: np.ndarray, matured: np.ndarray) -> float:
    t0 = time.perf_counter()
    d_r, d_s = sem.shape[1], tem.shape[1]
    store.create_collection(COLLECTION, {"semantic": d_r, "temporal": d_s, "joint": d_r + d_s})
    step = 20_000
    for start in range(0, sem.shape[0], step):
        stop = min(start + step, sem.shape[0])
        payloads = [{"split": "train", "matured": bool(m)} for m in matured[start:stop]]
        s_, t_ = sem[start:stop], tem[start:stop]
        joint = joint_vectors(s_, t_, np.ones(len(s_), dtype=bool))  # (b, d_r + d_s)
        store.upsert(
            COLLECTION,
            list(range(start, stop)),
            {"semantic": s_, "temporal": t_, "joint": joint},
            payloads,
        )
    return time.perf_counter() - t0


def _bench_store(
    name: str,
    sem: np.ndarray,
    tem: np.ndarray,
    matured: np.ndarray,
    qs: np.ndarray,
    qt: np.ndarray,
    truth: list[list[int]],
    *,
    n_single: int,
    batch: int,
    prefetch_n: int,
    ivfpq_min_size: int,
    use_filter: bool = True,
) -> dict[str, Any]:
    gc.collect()
    rss0 = _rss_mb()
    store = _open(name, ivfpq_min_size)
    build_s = _build(store, sem, tem, matured)
    mem_mb = _rss_mb() - rss0
    flt = Filter(matured_only=True) if use_filter else None
    index = "exact scan"
    if isinstance(store, FaissStore):
        index = store.index_kind(COLLECTION, "semantic")
    lat, got = [], []
    for i in range(n_single):
        t0 = time.perf_counter()
        res = retrieve(store, COLLECTION, qs[i], qt[i], top_s=10, prefetch_n=prefetch_n, filter=flt)
        lat.append((time.perf_counter() - t0) * 1e3)
        got.append(res.video_ids)
    n_batch = min(len(qs), max(batch, n_single)) if name != "qdrant" else n_single
    t0 = time.perf_counter()
    for start in range(0, n_batch, batch):
        retrieve_batch(
            store,
            COLLECTION,
            qs[start : min(start + batch, n_batch)],
            qt[start : min(start + batch, n_batch)],
            top_s=10,
            prefetch_n=prefetch_n,
            filter=flt,
        )
    batch_ms = (time.perf_counter() - t0) * 1e3 / n_batch
    store.close()
    del store
    gc.collect()
    return {
        "store": name,
        "size": int(sem.shape[0]),
        "index": index,
        "build_s": round(build_s, 2),
        "mem_mb": round(mem_mb, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 3),
        "p99_ms": round(float(np.percentile(lat, 99)), 3),
        "batch_ms_per_query": round(batch_ms, 3),
        "batch_size": batch,
        "recall_at_10": round(recall_at(got, truth[:n_single]), 4),
        "n_queries": n_single,
        "prefetch_n": prefetch_n,
        "filter": "matured_only" if use_filter else None,
    }


def retrieval(
    sizes: str = typer.Option("10000,100000,1000000", help="Bank sizes, comma-separated."),
    json_path: Path | None = typer.Option(None, "--json", help="Write results here (JSON)."),
    stores: str = typer.Option("numpy,faiss,qdrant", help="Stores to measure."),
    queries: int = typer.Option(200, min=1, help="Single queries timed per store and size."),
    batch: int = typer.Option(64, min=1, help="Queries per batch for the batched timing."),
    prefetch_n: int = typer.Option(DEFAULT_PREFETCH_N, min=1, help="Top-N per named vector."),
    ivfpq_min_size: int = typer.Option(200_000, help="FAISS switches to IVF-PQ from this size."),
    qdrant_max: int = typer.Option(100_000, help="Skip Qdrant local above this bank size."),
    qdrant_queries: int = typer.Option(50, min=1, help="Queries (single and batched) for Qdrant."),
    threads: int = typer.Option(1, min=1, help="BLAS/OpenMP threads (1: one core per query)."),
    use_filter: bool = typer.Option(
        True, "--filter/--no-filter", help="Service filter (matured only, 95% of the bank)."
    ),
    seed: int = typer.Option(0),
) -> None:
    """Eq. 3 top-10 latency, recall@10, build time and memory for each store and bank size."""
    import faiss
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    faiss.omp_set_num_threads(threads)
    size_list = [int(s) for s in sizes.split(",") if s.strip()]
    store_list = [s.strip() for s in stores.split(",") if s.strip()]
    bw = memory_bandwidth_gbs()
    print(f"memory bandwidth: {bw}")
    results: list[dict[str, Any]] = []
    spec = ClusteredSpec()
    for n in size_list:
        n_q = max(queries, batch)
        sem, tem, qs, qt = clustered_vectors(n, spec, seed=seed, n_queries=n_q)
        matured = np.random.default_rng(seed + 1).random(n) < 0.95
        allowed = matured if use_filter else np.ones(n, dtype=bool)
        t0 = time.perf_counter()
        truth = exact_eq3_top(sem, tem, np.ones(n, bool), np.arange(n), qs, qt, allowed, 10)
        exact_ms = (time.perf_counter() - t0) * 1e3 / n_q
        floor_ms = n * (spec.semantic_dim + spec.temporal_dim) * 4 / (bw["matvec_gbs"] * 1e9) * 1e3
        print(
            f"n={n}: exact Eq.3 reference {exact_ms:.1f} ms/query (batched 16); "
            f"bandwidth floor of one exact scan {floor_ms:.1f} ms"
        )
        for name in store_list:
            if name == "qdrant" and n > qdrant_max:
                results.append(
                    {"store": name, "size": n, "skipped": f"above --qdrant-max {qdrant_max}"}
                )
                print(f"  {name}: skipped above {qdrant_max}")
                continue
            row = _bench_store(
                name,
                sem,
                tem,
                matured,
                qs,
                qt,
                truth,
                n_single=min(queries, qdrant_queries) if name == "qdrant" else queries,
                batch=batch,
                prefetch_n=prefetch_n,
                ivfpq_min_size=ivfpq_min_size,
                use_filter=use_filter,
            )
            row["exact_scan_floor_ms"] = round(floor_ms, 2)
            results.append(row)
            print(f"  {json.dumps(row)}")
        del sem, tem
        gc.collect()
    out = {
        "benchmark": "retrieval",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "memory_bandwidth": bw,
        "threads": threads,
        "load_average_at_end": list(__import__("os").getloadavg()),
        "spec": spec.__dict__,
        "results": results,
    }
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(out, indent=2))
        print(f"wrote {json_path}")


def ced_vectors(data_dir: Path, obs_window_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CED Weibo posts: MiniLM R (n, 384) of the post text (the lite profile's text encoder),
    event-bin trajectories (n, 64) over the first ``obs_window_s``, has_temporal (n,)."""
    import pandas as pd
    import torch

    from m3tr_core.content.loading import bundled_minilm_path
    from m3tr_core.content.text import SentenceEncoder
    from m3tr_core.retrieval.standin_temporal import event_bin_signature

    posts = pd.read_csv(data_dir / "ced-weibo" / "posts.csv", dtype={"post_id": str})
    events = pd.read_csv(data_dir / "ced-weibo" / "events.csv.gz", dtype={"post_id": str})
    torch.set_num_threads(2)
    enc = SentenceEncoder(str(bundled_minilm_path()), "mean", 128, torch.device("cpu"), 64)
    _, sem = enc.encode(posts["text"].fillna("").astype(str).tolist())  # (n, 384)
    by_post = {k: g for k, g in events.groupby("post_id", sort=False)}
    tem = np.zeros((len(posts), 64), dtype=np.float32)  # (n, 64)
    has_t = np.zeros(len(posts), dtype=bool)
    for i, pid in enumerate(posts["post_id"]):
        g = by_post.get(pid)
        if g is None:
            continue
        sig = event_bin_signature(
            g["t"].to_numpy(), g["type"].to_numpy(), ("comment", "repost"), obs_window_s
        )
        if sig is not None:
            tem[i] = sig / np.linalg.norm(sig)
            has_t[i] = True
    return sem.astype(np.float32), tem, has_t


def retrieval_prefetch(
    json_path: Path | None = typer.Option(None, "--json", help="Write results here (JSON)."),
    ns: str = typer.Option("10,20,30,50,75,100,150,200", help="Prefetch N values to try."),
    obs_window_s: float = typer.Option(3600.0, help="Observation window for the trajectory."),
    target: float = typer.Option(0.99, help="Recall@10 the chosen N must reach."),
    cache: Path | None = typer.Option(None, help="Cache the CED vectors in this .npz file."),
) -> None:
    """Choose the prefetch N: recall@10 vs exact Eq. 3 over the whole CED Weibo bank."""
    from m3tr_core.retrieval.exact import prefetch_recall_curve

    if not (DATA_DIR / "ced-weibo" / "posts.csv").is_file():
        raise typer.BadParameter(f"CED Weibo data not found under {DATA_DIR}")
    t0 = time.perf_counter()
    if cache is not None and cache.is_file():
        z = np.load(cache)
        sem, tem, has_t = z["sem"], z["tem"], z["has_t"]
    else:
        sem, tem, has_t = ced_vectors(DATA_DIR, obs_window_s)
        if cache is not None:
            np.savez(cache, sem=sem, tem=tem, has_t=has_t)
    embed_s = time.perf_counter() - t0
    n_list = [int(x) for x in ns.split(",") if x.strip()]
    curve = prefetch_recall_curve(sem, tem, has_t, n_list, top_s=10, norm="bank")
    curve_axes = prefetch_recall_curve(sem, tem, has_t, n_list, 10, norm="bank", joint=False)
    curve_cand = prefetch_recall_curve(sem, tem, has_t, n_list, 10, norm="candidates", joint=False)
    chosen = next((n for n in sorted(curve) if curve[n] >= target), None)
    for n in sorted(curve):
        print(
            f"N={n:4d}  recall@10 bank+joint {curve[n]:.4f}  bank, axes only "
            f"{curve_axes[n]:.4f}  candidates {curve_cand[n]:.4f}"
        )
    print(
        f"bank {len(sem)} posts ({int(has_t.sum())} with a trajectory); smallest N with "
        f"recall@10 >= {target}: {chosen}; vectors in {embed_s:.0f} s"
    )
    out = {
        "benchmark": "retrieval-prefetch",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "data": "ced-weibo posts.csv/events.csv.gz (60% dev split)",
        "bank_size": int(len(sem)),
        "queries": int(has_t.sum()),
        "obs_window_s": obs_window_s,
        "recall_at_10": {str(k): round(v, 4) for k, v in curve.items()},
        "recall_at_10_axes_only": {str(k): round(v, 4) for k, v in curve_axes.items()},
        "recall_at_10_norm_candidates": {str(k): round(v, 4) for k, v in curve_cand.items()},
        "chosen_n": chosen,
        "target": target,
    }
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(out, indent=2))
        print(f"wrote {json_path}")


def register(app: typer.Typer) -> None:
    app.command("retrieval")(retrieval)
    app.command("retrieval-prefetch")(retrieval_prefetch)
