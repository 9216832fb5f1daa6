"""``m3tr bench temporal --json FILE``: scan speed, thinning speed, held-out likelihood.

1. Scan: forward+backward of the chunked PyTorch scan vs the naive step-by-step recurrence,
   batch 256 x 512 events, d_model (channels) 64, d_state 16.
2. Thinning: events/s of the batched sampler vs one candidate at a time in a Python loop
   (MHP), and for the classical exponential Hawkes vs tick's ``SimuHawkesExpKernels`` if tick
   imports.
3. Held-out log-likelihood per event on ../shared/data/ced-weibo (events within 24 h of
   publication, random post split): MHP, Poisson, classical Hawkes, neural Hawkes (GRU).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import typer

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"


def bench_scan(
    batch: int = 256, length: int = 512, d: int = 64, n: int = 16, repeats: int = 3
) -> dict[str, Any]:
    """Forward+backward of the scans, interleaved (naive, kernel, chunked, naive, ...); medians.

    ``kernel`` is what :func:`selective_scan` runs on the CPU (the compiled Numba kernel when it
    imports), ``chunked`` the pure-PyTorch chunked scan, ``naive`` the step-by-step recurrence.
    The machine is shared, so each runs ``repeats`` times, alternating, and the medians are
    compared; the per-run wall and process-CPU seconds are kept in the result.
    """
    from m3tr.core.temporal.scan import scan_backend, selective_scan, selective_scan_ref

    g = torch.Generator().manual_seed(0)
    u = torch.randn(batch, d, length, generator=g).requires_grad_()
    delta = torch.randn(batch, d, length, generator=g).requires_grad_()
    A = (-torch.arange(1, n + 1, dtype=torch.float32).repeat(d, 1)).requires_grad_()
    B = torch.randn(batch, n, length, generator=g).requires_grad_()
    C = torch.randn(batch, n, length, generator=g).requires_grad_()
    fns = {
        "naive": selective_scan_ref,
        "kernel": selective_scan,
        "chunked": lambda *a, **k: selective_scan(*a, backend="torch", **k),
    }

    def run(fn: Any) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        y = fn(u, delta, A, B, C, delta_softplus=True)
        y.square().mean().backward()
        return time.perf_counter() - t0, time.process_time() - c0

    run(fns["kernel"])  # compiles (or loads the cached compilation) outside the timing
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            runs[name].append(run(fn))
    wall = {k: float(np.median([w for w, _ in v])) for k, v in runs.items()}
    cpu = {k: float(np.median([c for _, c in v])) for k, v in runs.items()}
    return {
        "shape": {"batch": batch, "length": length, "d_model": d, "d_state": n},
        "repeats": repeats,
        "backend": scan_backend("cpu"),
        "kernel_s": wall["kernel"],
        "chunked_s": wall["chunked"],
        "naive_s": wall["naive"],
        "speedup": wall["naive"] / wall["kernel"],
        "chunked_speedup": wall["naive"] / wall["chunked"],
        "kernel_cpu_s": cpu["kernel"],
        "chunked_cpu_s": cpu["chunked"],
        "naive_cpu_s": cpu["naive"],
        "cpu_speedup": cpu["naive"] / cpu["kernel"],
        "runs_wall_cpu_s": runs,
        "loadavg": list(os.getloadavg()),
    }


def bench_thinning(n_seq: int = 512, n_events: int = 200, loop_seq: int = 4) -> dict[str, Any]:
    from m3tr.core.temporal.baselines import ClassicalHawkes
    from m3tr.core.temporal.batch import EventSequence, make_batch
    from m3tr.core.temporal.config import MHPConfig
    from m3tr.core.temporal.mhp import MHP
    from m3tr.core.temporal.thinning import simulate, simulate_one_at_a_time

    torch.manual_seed(0)
    mhp = MHP(MHPConfig(n_types=2, d_model=16, d_state=4, n_layers=1, dt_rank=4)).eval()
    with torch.no_grad():
        mhp.f_head.weight.normal_(0, 0.5)
        mhp.hawkes.mu_raw.fill_(0.0)
        mhp.hawkes.alpha_raw.copy_(torch.tensor([[0.8, -0.4], [0.3, 0.5]]))
    rng = np.random.default_rng(0)
    seqs = [
        EventSequence(np.sort(rng.uniform(0, 3600, 10)), rng.integers(0, 2, 10), 3600.0)
        for _ in range(n_seq)
    ]
    batch = make_batch(seqs, 2, 3600.0)
    t0 = time.perf_counter()
    sim = simulate(mhp, batch, n_events, generator=torch.Generator().manual_seed(0))
    t_batched = time.perf_counter() - t0
    ev_batched = int(sim.counts.sum()) / t_batched
    small = make_batch(seqs[:loop_seq], 2, 3600.0)
    t0 = time.perf_counter()
    res = simulate_one_at_a_time(mhp, small, n_events, generator=torch.Generator().manual_seed(0))
    t_loop = time.perf_counter() - t0
    ev_loop = sum(len(t) for t, _ in res) / t_loop
    out: dict[str, Any] = {
        "mhp_batched_events_per_s": ev_batched,
        "mhp_loop_events_per_s": ev_loop,
        "speedup": ev_batched / ev_loop,
        "batched": {"sequences": n_seq, "events_each": n_events},
    }
    # classical exponential Hawkes: ours (batched) vs tick
    mu = np.array([0.3, 0.2])
    adj = np.array([[0.3, 0.15], [0.1, 0.25]])  # tick's adjacency = alpha / delta
    dec = np.array([[2.0, 1.0], [1.5, 3.0]])
    hawkes = ClassicalHawkes(2)
    hawkes.set_params(torch.tensor(mu), torch.tensor(adj * dec), torch.tensor(dec))
    end = 2000.0
    empty = make_batch([EventSequence([], [], 0.0)] * 64, 2, 1.0)
    t0 = time.perf_counter()
    hs = simulate(hawkes, empty, 100_000, t_stop=end, generator=torch.Generator().manual_seed(1))
    ours = int(hs.counts.sum()) / (time.perf_counter() - t0)
    out["hawkes_batched_events_per_s"] = ours
    try:
        from tick.hawkes import SimuHawkesExpKernels
    except ImportError:
        out["tick"] = "tick is not installed"
        return out
    n_tick, t_tick = 0, 0.0
    for seed in range(64):
        s = SimuHawkesExpKernels(
            adjacency=adj, decays=dec, baseline=mu, end_time=end, verbose=False, seed=seed
        )
        t0 = time.perf_counter()
        s.simulate()
        t_tick += time.perf_counter() - t0
        n_tick += sum(len(x) for x in s.timestamps)
    out["tick_events_per_s"] = n_tick / t_tick
    out["hawkes_vs_tick_ratio"] = ours / out["tick_events_per_s"]
    return out


def load_ced(window_h: float = 24.0) -> list:
    import pandas as pd

    from m3tr.core.temporal.batch import EventVocab, sequences_from_frame

    path = DATA / "ced-weibo" / "events.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (see ../shared/data/README.md)")
    ev = pd.read_csv(path, usecols=["post_id", "t", "type"])
    vocab = EventVocab(("comment", "repost"))
    return sequences_from_frame(ev, vocab, id_col="post_id", window_s=window_h * 3600.0)


def bench_heldout(
    n_train: int = 400, n_test: int = 300, epochs: int = 12, seed: int = 0
) -> dict[str, Any]:
    from m3tr.core.temporal.config import TrainConfig
    from m3tr.core.temporal.models import build_model

    seqs = load_ced()
    idx = np.random.default_rng(seed).permutation(len(seqs))
    train = [seqs[i] for i in idx[:n_train]]
    test = [seqs[i] for i in idx[n_train : n_train + n_test]]
    small = dict(d_model=16, d_state=4, n_layers=1, dt_rank=4)
    cfg = TrainConfig(epochs=epochs, batch_size=16, lr=1e-2, max_len=512, n_mc=1, seed=seed)
    scores, times = {}, {}
    for name in ("poisson", "classical_hawkes", "neural_hawkes", "mhp"):
        t0 = time.perf_counter()
        model = build_model(name, 2, 3600.0, **(small if name in ("mhp", "neural_hawkes") else {}))
        model.fit(train, cfg)
        scores[name] = model.loglik(test, n_mc=16, seed=seed).per_event
        times[name] = time.perf_counter() - t0
        log.info("%s: held-out loglik/event %.4f (%.1fs)", name, scores[name], times[name])
    return {
        "heldout_loglik": scores,
        "fit_seconds": times,
        "split": {
            "train_posts": len(train),
            "test_posts": len(test),
            "window_h": 24.0,
            "seed": seed,
        },
        "train_events": int(sum(len(s) for s in train)),
        "test_events": int(sum(len(s) for s in test)),
        "unit": "nats per event, intensities per hour",
    }


def register(app: typer.Typer) -> None:
    @app.command("temporal")
    def temporal(
        json_out: Path = typer.Option(..., "--json", help="write the results here"),
        threads: int = typer.Option(0, help="compute threads (0: the thread policy's)"),
        skip_heldout: bool = typer.Option(False, help="skip the CED-Weibo likelihood benchmark"),
        device: str = typer.Option(
            "cpu", help="cuda: the MHP on the GPU (m3tr.bench.temporal_gpu)"
        ),
    ) -> None:
        """Scan and thinning speed, held-out log-likelihood on CED-Weibo (CPU); with
        ``--device cuda`` the GPU benchmark instead (kernel vs PyTorch scan inside the MHP)."""
        from m3tr.app.threads import apply, plan

        apply(plan("bench", threads))
        if device != "cpu":
            from m3tr.bench.temporal_gpu import bench_mhp_device

            gpu = bench_mhp_device(device)
            typer.echo(json.dumps(gpu, indent=2, default=float))
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(gpu, indent=2, default=float))
            return
        t0 = time.perf_counter()
        scan = bench_scan()
        typer.echo(
            f"scan (medians of {scan['repeats']}, backend {scan['backend']}): "
            f"kernel {scan['kernel_s']:.2f}s chunked {scan['chunked_s']:.2f}s "
            f"naive {scan['naive_s']:.2f}s: x{scan['speedup']:.1f} "
            f"(process CPU x{scan['cpu_speedup']:.1f}; chunked x{scan['chunked_speedup']:.1f})"
        )
        thin = bench_thinning()
        typer.echo(
            f"thinning: x{thin['speedup']:.1f} ({thin['mhp_batched_events_per_s']:.0f} ev/s)"
        )
        result: dict[str, Any] = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
            "scan_speedup": scan["speedup"],
            "thinning_speedup": thin["speedup"],
            "scan": scan,
            "thinning": thin,
        }
        if not skip_heldout:
            held = bench_heldout()
            typer.echo(f"held-out loglik/event: {json.dumps(held['heldout_loglik'])}")
            result.update(held)
        result["total_seconds"] = time.perf_counter() - t0
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2, default=float))
        typer.echo(f"wrote {json_out}")
