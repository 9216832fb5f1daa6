"""``m3tr bench retrieval`` and ``m3tr bench retrieval-prefetch``: speed and recall of Eq. 3.

retrieval: banks of random-but-clustered vectors (semantic 384-d, temporal 64-d) at each size;
for each store: build time, memory, Eq. 3 top-10 latency (one query; batches), recall@10 vs the
exact Eq. 3 over the whole bank, with the service filter (matured only, 95% of the bank).
Built banks are cached under ``~/.cache/m3tr/bench-retrieval/<store>-n<size>-...`` (option
``--cache-dir``; ``--no-cache`` builds in memory / a temp dir), so a rerun does not rebuild.
retrieval-prefetch: recall@10 of prefetch-N vs exact Eq. 3 on ../shared/data (CED Weibo posts:
MiniLM text vectors as R, log-binned early event counts as the trajectory), to choose N.
Results: benchmarks/results/retrieval.md.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
import os
import platform
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import typer

from m3tr.core.retrieval.edge_store import EdgeStore, EdgeStoreConfig
from m3tr.core.retrieval.exact import exact_eq3_top, recall_at
from m3tr.core.retrieval.faiss_store import FaissConfig, FaissStore
from m3tr.core.retrieval.numpy_store import NumpyStore
from m3tr.core.retrieval.qdrant_store import QdrantConfig, QdrantStore
from m3tr.core.retrieval.similarity import (
    DEFAULT_PREFETCH_N,
    joint_vectors,
    retrieve,
    retrieve_batch,
)
from m3tr.core.retrieval.store import Filter, VectorStore
from m3tr.core.retrieval.synthetic_bank import ClusteredSpec, clustered_vectors

logger = logging.getLogger(__name__)
AUTO_POOL = -1  # --pool: the store's own rule (EdgeStore.rerank_pool)
REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT.parent / "shared" / "data"
COLLECTION = "bench"
DEFAULT_EDGE = EdgeStoreConfig()
_CPU_MS: list[float] = []  # process CPU ms of the last _time_queries call, one per query


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


STORES = ("qdrant-edge", "faiss", "numpy", "qdrant")
DEFAULT_CACHE = Path.home() / ".cache" / "m3tr" / "bench-retrieval"
_DONE = "bench-built.json"


def _open(name: str, path: Path | None, ivfpq_min_size: int, edge: EdgeStoreConfig) -> VectorStore:
    if name == "numpy":
        return NumpyStore(path)
    if name == "faiss":
        return FaissStore(path, FaissConfig(ivfpq_min_size=ivfpq_min_size))
    if name == "qdrant-edge":
        return EdgeStore(path, edge)
    if name == "qdrant":  # qdrant-client local mode, in memory: the same Python scan as on disk
        return QdrantStore(QdrantConfig())
    raise typer.BadParameter(f"unknown store {name!r}; use {', '.join(STORES)}")


def _build(store: VectorStore, sem: np.ndarray, tem: np.ndarray, matured: np.ndarray) -> float:
    """Create and fill the bench collection (and build its index); returns seconds."""
    t0 = time.perf_counter()
    d_r, d_s = sem.shape[1], tem.shape[1]
    store.create_collection(COLLECTION, {"semantic": d_r, "temporal": d_s, "joint": d_r + d_s})
    step = 10_000
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
        if stop % 100_000 == 0:
            logger.info("built %d / %d in %.0f s", stop, sem.shape[0], time.perf_counter() - t0)
    if isinstance(store, EdgeStore):
        store.optimize(COLLECTION)  # the HNSW build: part of the build time
    flush = getattr(store, "flush", None)
    if callable(flush):
        flush()
    return time.perf_counter() - t0


def _cached_store(
    name: str,
    cache: Path | None,
    key: str,
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    ivfpq_min_size: int,
    edge: EdgeStoreConfig,
) -> tuple[VectorStore, float, bool]:
    """The store holding the bench bank: (open store, build seconds, whether it was cached).

    With a cache folder the bank is built once into ``cache/key`` and reopened by later runs
    (the build time recorded then is reported again); the store is always reopened before it
    is measured, so memory is that of a store opened from disk.
    """
    sem, tem, matured = data
    if name == "qdrant" or cache is None:
        store = _open(name, None, ivfpq_min_size, edge)
        return store, _build(store, sem, tem, matured), False
    folder = cache / key
    done = folder / _DONE
    if done.is_file():
        return (
            _open(name, folder, ivfpq_min_size, edge),
            json.loads(done.read_text())["build_s"],
            True,
        )
    shutil.rmtree(folder, ignore_errors=True)
    store = _open(name, folder, ivfpq_min_size, edge)
    build_s = _build(store, sem, tem, matured)
    store.close()
    done.write_text(json.dumps({"build_s": build_s, "n": int(sem.shape[0])}))
    gc.collect()
    return _open(name, folder, ivfpq_min_size, edge), build_s, False


def _time_queries(
    store: VectorStore,
    qs: np.ndarray,
    qt: np.ndarray,
    n_single: int,
    prefetch_n: int,
    flt: Filter | None,
    pool: int,
) -> tuple[list[float], list[list[int]]]:
    """Latency (ms) and top-10 ids of ``n_single`` one-query Eq. 3 retrievals (re-score included)."""
    lat, cpu, got = [], [], []
    for i in range(n_single):
        t0, c0 = time.perf_counter(), time.process_time()
        res = retrieve(
            store, COLLECTION, qs[i], qt[i], top_s=10, prefetch_n=prefetch_n, filter=flt,
            pool=None if pool == AUTO_POOL else pool,
        )  # fmt: skip
        lat.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
        got.append(res.video_ids)
    _CPU_MS[:] = cpu
    return lat, got


def _bench_store(
    name: str,
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    qs: np.ndarray,
    qt: np.ndarray,
    truth: list[list[int]],
    *,
    n_single: int,
    batch: int,
    prefetch_n: int,
    ivfpq_min_size: int,
    edge: EdgeStoreConfig,
    cache: Path | None,
    cache_key: str,
    use_filter: bool = True,
    sweep: list[tuple[int, int, int | None, int]] | None = None,
    pool: int = AUTO_POOL,
) -> dict[str, Any]:
    gc.collect()
    rss0 = _rss_mb()
    store, build_s, cached = _cached_store(name, cache, cache_key, data, ivfpq_min_size, edge)
    flt = Filter(matured_only=True) if use_filter else None
    index = "exact scan"
    if isinstance(store, FaissStore):
        index = store.index_kind(COLLECTION, "semantic")
    if isinstance(store, EdgeStore):
        info = store.index_info(COLLECTION)
        index = f"hnsw m={edge.hnsw_m} ef_construct={edge.hnsw_ef_construct} ef={edge.hnsw_ef}"
        index += f" low_ef={edge.low_hnsw_ef or edge.hnsw_ef} {edge.quantization or 'float32'}"
        index += f" ({info['indexed_vectors']} indexed vectors, {info['segments']} segments)"
    _time_queries(store, qs, qt, min(5, n_single), prefetch_n, flt, pool)  # warm the pages
    load = os.getloadavg()[0]
    lat, got = _time_queries(store, qs, qt, n_single, prefetch_n, flt, pool)
    cpu_p50 = float(np.percentile(_CPU_MS, 50))
    rss_mb = _rss_mb() - rss0
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
            pool=None if pool == AUTO_POOL else pool,
        )
    batch_ms = (time.perf_counter() - t0) * 1e3 / n_batch
    pool_used = _pool_used(store, pool)
    trade = []
    for n_pf, ef, low_ef, s_pool in sweep or []:
        if isinstance(store, EdgeStore):
            store.config = replace(store.config, hnsw_ef=ef, low_hnsw_ef=low_ef)
        s_lat, s_got = _time_queries(store, qs, qt, n_single, n_pf, flt, s_pool)
        trade.append(
            {
                "prefetch_n": n_pf,
                "pool": _pool_used(store, s_pool),
                "hnsw_ef": ef if isinstance(store, EdgeStore) else None,
                "low_ef": (low_ef or ef) if isinstance(store, EdgeStore) else None,
                "p50_ms": round(float(np.percentile(s_lat, 50)), 3),
                "cpu_p50_ms": round(float(np.percentile(_CPU_MS, 50)), 3),
                "p99_ms": round(float(np.percentile(s_lat, 99)), 3),
                "recall_at_10": round(recall_at(s_got, truth[:n_single]), 4),
            }
        )
        print(f"    sweep {json.dumps(trade[-1])}")
    store.close()
    del store
    gc.collect()
    row = {
        "store": name,
        "size": int(data[0].shape[0]),
        "p50_ms": round(float(np.percentile(lat, 50)), 3),
        "p99_ms": round(float(np.percentile(lat, 99)), 3),
        "recall_at_10": round(recall_at(got, truth[:n_single]), 4),
        "build_s": round(build_s, 2),
        "cpu_p50_ms": round(cpu_p50, 3),  # process CPU per query: less moved by other load
        "rss_mb": round(rss_mb, 1),
        "cached": cached,
        "load_1min": round(load, 2),
        "index": index,
        "batch_ms_per_query": round(batch_ms, 3),
        "batch_size": batch,
        "n_queries": n_single,
        "prefetch_n": prefetch_n,
        "pool": pool_used,
        "filter": "matured_only" if use_filter else None,
    }
    if trade:
        row["tradeoff"] = trade
    return row


def _pool_used(store: VectorStore, pool: int) -> int | None:
    """The re-rank pool a setting means on ``store`` (None: the store does not re-rank)."""
    if not isinstance(store, EdgeStore):
        return None
    return store.rerank_pool(COLLECTION) if pool == AUTO_POOL else pool


def _pairs(
    ns: str, efs: str, low_efs: str = "", pools: str = "", pool: int = AUTO_POOL
) -> list[tuple[int, int, int | None, int]]:
    """(N, hnsw_ef, low_ef, pool) settings; low_ef None follows hnsw_ef; pools default to
    ``pool``."""
    n_list = [int(x) for x in ns.split(",") if x.strip()]
    ef_list = [int(x) for x in efs.split(",") if x.strip()]
    low_list: list[int | None] = [int(x) for x in low_efs.split(",") if x.strip()] or [None]
    pool_list = [int(x) for x in pools.split(",") if x.strip()] or [pool]
    return [
        (n, ef, low, p) for n in n_list for ef in ef_list for low in low_list for p in pool_list
    ]


def retrieval(
    sizes: str = typer.Option("100000,1000000", help="Bank sizes, comma-separated."),
    json_path: Path | None = typer.Option(None, "--json", help="Write results here (JSON)."),
    stores: str = typer.Option(
        "qdrant-edge,faiss,numpy", help="Stores to measure: qdrant-edge, faiss, numpy, qdrant."
    ),
    queries: int = typer.Option(200, min=1, help="Single queries timed per store and size."),
    batch: int = typer.Option(64, min=1, help="Queries per batch for the batched timing."),
    prefetch_n: int = typer.Option(DEFAULT_PREFETCH_N, min=1, help="Top-N per named vector."),
    ivfpq_min_size: int = typer.Option(200_000, help="FAISS switches to IVF-PQ from this size."),
    hnsw_ef: int = typer.Option(DEFAULT_EDGE.hnsw_ef or 0, help="Qdrant Edge search beam."),
    hnsw_m: int = typer.Option(DEFAULT_EDGE.hnsw_m, help="Qdrant Edge HNSW degree."),
    ef_construct: int = typer.Option(DEFAULT_EDGE.hnsw_ef_construct, help="HNSW build beam."),
    low_ef: int = typer.Option(0, help="Edge beam of the bank-minimum search (0: hnsw_ef)."),
    quantization: str = typer.Option(
        DEFAULT_EDGE.quantization or "none",
        help="Edge vectors: int8 (scalar quantization) or none.",
    ),
    segments: int = typer.Option(
        DEFAULT_EDGE.segments, help="Edge segments after optimize (0: Qdrant's, one per CPU)."
    ),
    pool: int = typer.Option(
        AUTO_POOL,
        min=-1,
        help="Edge: content top-k re-ranked by the joint proxy (0: none; -1: the store's rule, "
        "0.1% of the bank within 100-1000).",
    ),
    sweep_n: str = typer.Option("", help="Prefetch N values for the N x ef trade-off sweep."),
    sweep_ef: str = typer.Option("", help="hnsw_ef values for the trade-off sweep (Edge)."),
    sweep_low_ef: str = typer.Option(
        "", help="Bank-minimum beams for the sweep (Edge; default: each hnsw_ef)."
    ),
    sweep_pool: str = typer.Option("", help="Re-rank pools for the sweep (Edge; default --pool)."),
    cache_dir: Path | None = typer.Option(
        DEFAULT_CACHE, help="Built banks are kept here and reused by later runs."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Build every bank in a temp dir."),
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
    edge = EdgeStoreConfig(
        hnsw_m=hnsw_m,
        hnsw_ef_construct=ef_construct,
        hnsw_ef=hnsw_ef or None,
        low_hnsw_ef=low_ef or None,
        quantization=None if quantization == "none" else quantization,
        segments=segments,
        optimize_after=None,
        max_search_threads=threads,
    )
    sweep = None
    if sweep_n and sweep_ef:
        sweep = _pairs(sweep_n, sweep_ef, sweep_low_ef, sweep_pool, pool)
    cache = None if no_cache else cache_dir
    bw = memory_bandwidth_gbs()
    print(f"memory bandwidth: {bw}; bank cache: {cache}")
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
            key = f"{name}-n{n}-seed{seed}"
            if name == "qdrant-edge":
                key += f"-m{hnsw_m}-efc{ef_construct}"
                key += f"-{quantization}" if quantization != "none" else ""
                key += f"-seg{segments}" if segments else ""
            if name == "faiss":
                key += f"-ivfpq{ivfpq_min_size}"
            row = _bench_store(
                name,
                (sem, tem, matured),
                qs,
                qt,
                truth,
                n_single=min(queries, qdrant_queries) if name == "qdrant" else queries,
                batch=batch,
                prefetch_n=prefetch_n,
                ivfpq_min_size=ivfpq_min_size,
                edge=edge,
                cache=cache,
                cache_key=key,
                use_filter=use_filter,
                sweep=sweep if name == "qdrant-edge" else None,
                pool=pool,
            )
            row["exact_scan_floor_ms"] = round(floor_ms, 2)
            results.append(row)
            print(f"  {json.dumps(row)}")
            if json_path is not None:  # partial results survive a long run being stopped
                _write(json_path, results, bw, threads, spec)
        del sem, tem
        gc.collect()
    if json_path is not None:
        _write(json_path, results, bw, threads, spec)
        print(f"wrote {json_path}")


def _write(
    json_path: Path, results: list[dict[str, Any]], bw: dict[str, float], threads: int, spec: Any
) -> None:
    out = {
        "benchmark": "retrieval",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": os.cpu_count(),
        "memory_bandwidth": bw,
        "threads": threads,
        "load_average_at_end": list(os.getloadavg()),
        "spec": spec.__dict__,
        "results": results,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(out, indent=2))


def ced_vectors(data_dir: Path, obs_window_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CED Weibo posts: MiniLM R (n, 384) of the post text (the lite profile's text encoder),
    event-bin trajectories (n, 64) over the first ``obs_window_s``, has_temporal (n,)."""
    import pandas as pd
    import torch

    from m3tr.core.content.loading import bundled_minilm_path
    from m3tr.core.content.text import SentenceEncoder
    from m3tr.core.retrieval.standin_temporal import event_bin_signature

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
    from m3tr.core.retrieval.exact import prefetch_recall_curve

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
