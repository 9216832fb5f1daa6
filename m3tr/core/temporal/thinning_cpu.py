"""Ogata thinning of the MHP as a compiled CPU kernel (Numba): one pass per simulated path.

The batched PyTorch loop (:func:`m3tr.core.temporal.thinning.simulate_from`) issues about 150
small tensor ops per candidate event, so a forecast (64 paths, up to 2000 events each, one
candidate per path per iteration) spends seconds in dispatch overhead on a CPU. This kernel
walks each path's candidates with its state in a few small arrays, like
:mod:`m3tr.core.temporal.scan_cpu` does for the scan. The algorithm and the model's arithmetic
are the same as the PyTorch loop's (:meth:`MHP.sim_bound`, :meth:`MHP.sim_intensity`,
:meth:`MHP.sim_append`, computed here in float64); per path and candidate ``j``::

    bound = sum_k softplus(mu_k + sum_m max(alpha_km, 0) R_km(t) + f_max_k)
    t_cand = t + E_j / bound                         (probes <= t_cand read from this state)
    accept if t_cand < stop and U_j * bound <= lambda(t_cand), type k: first with
        cumsum(lambda)_k > V_j * lambda(t_cand)      (inverse CDF; same law as multinomial)

``E`` (Exp(1)), ``U`` and ``V`` (U(0, 1)) are drawn from the caller's torch generator in blocks
of :data:`BLOCK` candidates per path (:func:`draw_block`), so a seed gives the same forecast on
every run and any number of threads. The bound is checked at every candidate, as in the PyTorch
loop (:class:`~m3tr.core.temporal.thinning.ThinningBoundError`).

Deviations (stated, all far below float32's 6e-8 where it matters): decays ``exp(x <= 0)``,
softplus and sigmoid use vectorisable polynomial forms (:func:`_exp_neg`, relative error < 1e-9;
a decay below ``exp(-80)`` stays at ``exp(-80)``), so LLVM can vectorise the ``D x N`` loops.
The bound stays valid whatever the error: ``|f_k| <= f_max_k`` holds by construction, and the
Hawkes decays are computed by the same function in the bound and the intensity.

Only an :class:`~m3tr.core.temporal.mhp.MHP` with the Mamba context qualifies
(:func:`supports`); anything else uses the PyTorch loop. Compiled on first use and cached
(``cache=True``), like the scan kernel: the first forecast of a fresh install pays ~15-40 s of
compilation (measured on the 2-core VM), later processes load it in ~1 s.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

try:
    import numba
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency; kept optional for odd platforms
    numba = None

BLOCK = 512  # candidates per path drawn at once (3 x B x BLOCK numbers per block)
# LLVM may reorder sums and fuse multiply-adds (so the loops over channels vectorise); no
# "nnan"/"ninf": times may be +inf (no stop)
FAST = {"nsz", "arcp", "contract", "reassoc"}


def available() -> bool:
    """Whether Numba imported (the kernel can run)."""
    return numba is not None


def warm_up() -> float:
    """Compile the kernel (or load it from Numba's cache) by simulating a few events of a tiny
    MHP, so that a server's first forecast does not pay the compilation; seconds taken (0 when
    Numba is missing). Safe to run in a background thread."""
    import time

    from m3tr.core.temporal.batch import EventSequence, make_batch
    from m3tr.core.temporal.config import MHPConfig
    from m3tr.core.temporal.mhp import MHP

    if not available():
        return 0.0
    t0 = time.perf_counter()
    cfg = MHPConfig(n_types=2, context="mamba", d_model=8, d_state=2, n_layers=1, dt_rank=2)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = MHP(cfg).eval()
    batch = make_batch([EventSequence([1.0, 2.0], [0, 1], 10.0, "warm-up")], 2, 3600.0)
    with torch.no_grad():
        state = model.sim_init(batch)
        gen = torch.Generator().manual_seed(0)
        simulate_mhp(
            model, state, batch.t_end, torch.tensor([3]), torch.tensor([1.0]), gen, 1000,
            torch.tensor([0.5]),
        )  # fmt: skip
    return time.perf_counter() - t0


def supports(model: Any, state: Any) -> bool:
    """Whether the kernel can simulate ``model`` from ``state``: an MHP with the Mamba context,
    float32 parameters and a state on the CPU."""
    from m3tr.core.temporal.mamba import TimeAwareMamba
    from m3tr.core.temporal.mhp import MHP, SimState

    return (
        available()
        and isinstance(model, MHP)
        and isinstance(model.context, TimeAwareMamba)
        and isinstance(state, SimState)
        and state.t_last.device.type == "cpu"
        and all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())
    )


def draw_block(generator: torch.Generator | None, bsz: int) -> Tensor:
    """(3, B, BLOCK) float64 draws for the next :data:`BLOCK` candidates of every path:
    Exp(1) for the waiting times, U(0, 1) for acceptance, U(0, 1) for the type (on the CPU,
    where the kernel runs)."""
    e = torch.empty(bsz, BLOCK, device="cpu").exponential_(1.0, generator=generator)  # (B, BLOCK)
    uv = torch.rand(2, bsz, BLOCK, generator=generator, device="cpu")  # (2, B, BLOCK)
    return torch.cat([e[None], uv]).double()  # (3, B, BLOCK)


def _np(x: Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().to(torch.float64).numpy())


def _weights(model: Any) -> tuple[np.ndarray, ...]:
    """The MHP's parameters as float64 arrays, in the order the kernel takes them; the layers'
    stacked on a first axis (n_layers)."""
    hp, ctx = model.hawkes, model.context
    layers = list(ctx.layers)

    def stack(fn: Any) -> np.ndarray:
        return _np(torch.stack([fn(layer) for layer in layers]))

    return (
        _np(hp.mu), _np(hp.alpha), _np(hp.decay), _np(model.f_max()),  # (K,), (K, K) x2, (K,)
        _np(model.f_head.weight), _np(model.f_head.bias),  # (K, d_model), (K,)
        _np(ctx.norm_f.weight), _np(ctx.norm_f.bias),  # (d_model,)
        _np(ctx.inputs.embed.weight),  # (K+1, d_model)
        _np(ctx.inputs.time.weight), _np(ctx.inputs.time.bias),  # (d_model, 2), (d_model,)
        stack(lambda m: m.norm.weight), stack(lambda m: m.norm.bias),  # (nl, d_model)
        stack(lambda m: m.in_proj.weight), stack(lambda m: m.in_proj.bias),  # (nl, 2D, dm), (nl, 2D)
        stack(lambda m: m.x_proj.weight),  # (nl, r + 2N, D)
        stack(lambda m: m.dt_proj.weight), stack(lambda m: m.dt_proj.bias),  # (nl, D, r), (nl, D)
        stack(lambda m: m.A), stack(lambda m: m.D),  # (nl, D, N), (nl, D)
        stack(lambda m: m.out_proj.weight), stack(lambda m: m.out_proj.bias),  # (nl, dm, D), (nl, dm)
    )  # fmt: skip


def _readout_cache(model: Any, last: Any) -> tuple[np.ndarray, ...]:
    """What reading ``h(t)`` between events needs of the last layer's cache ``last``
    (:class:`~m3tr.core.temporal.mamba.LayerCache`), fixed until the next event::

        h(t) = norm_f(xb + out_proj_W (gate * (sum_n exp(ar * e) * pc + base))),  e = min(tau, max_step)

    xb = x_in + out_proj bias (B, d_model); pc = state * C (B, D, N); ar = rate * A (B, D, N);
    base = u * D_skip (B, D); gate = silu(z) (B, D). :func:`_append` keeps them up to date.
    """
    layer = model.context.layers[-1]
    xb = last.x_in + layer.out_proj.bias  # (B, d_model)
    pc = last.state * last.C[:, None, :]  # (B, D, N)
    ar = last.rate[..., None] * layer.A  # (B, D, N)
    return _np(xb), _np(pc), _np(ar), _np(last.u * layer.D), _np(F.silu(last.z))


@torch.no_grad()
def simulate_mhp(
    model: Any,
    state: Any,
    t_start: Tensor,
    target: Tensor,
    stop: Tensor,
    generator: torch.Generator | None,
    max_iter: int,
    probe: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor, int, int, Tensor, Tensor | None, Tensor | None]:
    """Thinning of ``model`` (an MHP, :func:`supports`) from ``state`` (``SimState``, B rows).

    Args:
        t_start, stop: (B,) model time units; target: (B,) long, events to add at most.
        probe: (G,) increasing times at which to record the intensity, or None.
    Returns:
        times (B, M) (+inf padding), types (B, M), counts (B,), iterations (the most candidates
        of one path), candidates (all paths), truncated (B,) and, with ``probe``, the total and
        classical intensities (B, G, K) at the probes (NaN before ``t_start``).
    Raises:
        ThinningBoundError: an intensity above its bound.
    """
    from m3tr.core.temporal.thinning import ThinningBoundError

    cfg = model.config
    bsz, k = t_start.shape[0], cfg.n_types
    caches = state.context
    last = caches[-1]
    width = max(int(target.max()) if bsz else 0, 1)
    grid = np.zeros(0) if probe is None else _np(probe)
    g = grid.shape[0]
    # per-path state, updated in place by the kernel
    t = _np(t_start)  # (B,)
    t_last = _np(state.t_last)  # (B,)
    hawkes = _np(state.hawkes)  # (B, K, K)
    ssm = _np(torch.stack([c.state for c in caches], 1))  # (B, nl, D, N)
    readout = _readout_cache(model, last)  # (B, d_model), (B, D, N) x2, (B, D) x2
    done = np.zeros(bsz, np.int64)
    cand = np.zeros(bsz, np.int64)
    nxt = np.searchsorted(grid, t, side="left").astype(np.int64)  # (B,) first unread probe
    stop_np, target_np = _np(stop), target.cpu().numpy().astype(np.int64)
    active = (done < target_np) & (t < stop_np)
    out_t = np.full((bsz, width), np.inf)
    out_k = np.zeros((bsz, width), np.int64)
    p_total = np.full((bsz, g, k), np.nan)
    p_hawkes = np.full((bsz, g, k), np.nan)
    err = np.zeros(4)  # path, intensity, bound, time of a bound violation (path -1: none)
    weights = _weights(model)
    scalars = np.array(
        [model.context.norm_f.eps, model.context.layers[0].norm.eps, cfg.max_step, cfg.event_step]
    )
    dims = np.array([cfg.dt_rank, cfg.d_state], np.int64)
    st = (t, t_last, hawkes, ssm, *readout, done, cand, nxt, active)
    while (active & (cand < max_iter)).any():
        draws = draw_block(generator, bsz).numpy()  # (3, B, BLOCK)
        err[0] = -1.0
        _run(weights, scalars, dims, st, draws, grid, stop_np, target_np, max_iter,
             out_t, out_k, p_total, p_hawkes, err)  # fmt: skip
        if err[0] >= 0:
            raise ThinningBoundError(
                f"intensity {err[1]:.6g} exceeds its bound {err[2]:.6g} at t={err[3]:.6g} "
                f"(sequence {int(err[0])})"
            )
    truncated = active.copy()
    if probe is not None:  # paths that stopped early (event cap, max_iter): last state holds
        _read_rest(weights, scalars, dims, st, grid, p_total, p_hawkes)

    def back(x: np.ndarray, dtype: torch.dtype = torch.float32) -> Tensor:
        return torch.from_numpy(x).to(dtype)

    return (
        back(out_t), back(out_k, torch.long), back(done, torch.long), int(cand.max(initial=0)),
        int(cand.sum()), back(truncated, torch.bool),
        None if probe is None else back(p_total), None if probe is None else back(p_hawkes),
    )  # fmt: skip


if numba is not None:

    @njit(fastmath=FAST, cache=True, inline="always")
    def _exp_neg(x):  # noqa: ANN001, ANN202
        """exp(x) for x <= 0, vectorisable (libm's exp is a call per element): exp(x / 256)
        by Taylor to degree 9, squared 8 times; relative error < 1e-9 on [-80, 0]. Below -80 it
        gives exp(-80) ~ 1.8e-35 instead of smaller (no denormals); used only to decay states."""
        y = (x if x > -80.0 else -80.0) * 0.00390625  # [-0.3125, 0]
        e = 1.0 + y * (1.0 + y * (1 / 2 + y * (1 / 6 + y * (1 / 24 + y * (1 / 120 + y * (
            1 / 720 + y * (1 / 5040 + y * (1 / 40320 + y * (1 / 362880)))))))))  # fmt: skip
        e = e * e
        e = e * e
        e = e * e
        e = e * e  # ^16
        e = e * e
        e = e * e
        e = e * e
        return e * e  # ^256

    @njit(fastmath=FAST, cache=True, inline="always")
    def _softplus(x):  # noqa: ANN001, ANN202
        """torch's softplus, vectorisable: max(x, 0) + log1p(w), w = exp(-|x|) in (0, 1], with
        log1p(w) = 2 atanh(s), s = w / (2 + w) <= 1/3, by its series to s^21 (error < 1e-11);
        torch returns x itself above 20, where the two differ by < 3e-9."""
        w = _exp_neg(-abs(x))
        s = w / (2.0 + w)
        q = s * s
        series = 1 / 19 + q * (1 / 21)
        series = 1 / 17 + q * series
        series = 1 / 15 + q * series
        series = 1 / 13 + q * series
        series = 1 / 11 + q * series
        series = 1 / 9 + q * series
        series = 1 / 7 + q * series
        series = 1 / 5 + q * series
        series = 1 / 3 + q * series
        return max(x, 0.0) + 2.0 * s * (1.0 + q * series)

    @njit(fastmath=FAST, cache=True)
    def _layer_norm(x, w, b, eps, out):  # noqa: ANN001, ANN202
        """out (d,) = LayerNorm(x (d,)) with weight w, bias b (biased variance, as torch)."""
        n = x.shape[0]
        mean = 0.0
        for i in range(n):
            mean += x[i]
        mean /= n
        var = 0.0
        for i in range(n):
            var += (x[i] - mean) ** 2
        inv = 1.0 / math.sqrt(var / n + eps)
        for i in range(n):
            out[i] = (x[i] - mean) * inv * w[i] + b[i]

    @njit(fastmath=FAST, cache=True)
    def _matvec(w, x, b, out):  # noqa: ANN001, ANN202
        """out (m,) = w (m, n) @ x (n,) + b (m,)."""
        for i in range(w.shape[0]):
            acc = b[i]
            for j in range(w.shape[1]):
                acc += w[i, j] * x[j]
            out[i] = acc

    @njit(fastmath=FAST, cache=True)
    def _bound(weights, st, p, tau):  # noqa: ANN001, ANN202
        """:meth:`MHP.sim_bound` of path p, ``tau`` after its last event."""
        mu, alpha, decay, f_max = weights[0], weights[1], weights[2], weights[3]
        hawkes = st[2]
        k = mu.shape[0]
        total = 0.0
        for i in range(k):
            pre = mu[i] + f_max[i]
            for m in range(k):
                if alpha[i, m] > 0.0:
                    pre += alpha[i, m] * hawkes[p, i, m] * _exp_neg(-decay[i, m] * tau)
            total += _softplus(pre)
        return total

    @njit(fastmath=FAST, cache=True, inline="always")
    def _sigmoid(x):  # noqa: ANN001, ANN202
        """1 / (1 + exp(-x)), vectorisable (:func:`_exp_neg` of -|x|)."""
        e = _exp_neg(-abs(x))
        return (1.0 if x >= 0.0 else e) / (1.0 + e)

    @njit(fastmath=FAST, cache=True)
    def _intensity(weights, scalars, st, p, tau, lam, pre, buf_d, buf_m, buf_h, buf_dn):  # noqa: ANN001, ANN202
        """:meth:`MHP.sim_intensity` of path p, ``tau`` after its last event: lam (K,) the
        intensity, pre (K,) the classical pre-link part; returns sum(lam).

        buf_d (D,), buf_m, buf_h (d_model,), buf_dn (D * N,): scratch."""
        mu, alpha, decay, f_max, f_w, f_b, nf_w, nf_b = weights[:8]
        out_w = weights[20]
        hawkes, xb, pc, ar, base, gate = st[2], st[4], st[5], st[6], st[7], st[8]
        k = mu.shape[0]
        n_d, n_n = pc.shape[1], pc.shape[2]
        elapsed = min(tau, scalars[2])
        ar_p, pc_p = ar[p].reshape(n_d * n_n), pc[p].reshape(n_d * n_n)  # (D * N,) views
        for i in range(n_d * n_n):  # the last layer's state decayed by elapsed, read with C
            buf_dn[i] = _exp_neg(ar_p[i] * elapsed) * pc_p[i]
        for d in range(n_d):  # its gated output
            acc = base[p, d]
            for n in range(n_n):
                acc += buf_dn[d * n_n + n]
            buf_d[d] = acc * gate[p, d]
        last_w = out_w[out_w.shape[0] - 1]
        for i in range(buf_m.shape[0]):
            acc = xb[p, i]
            for d in range(n_d):
                acc += last_w[i, d] * buf_d[d]
            buf_m[i] = acc
        _layer_norm(buf_m, nf_w, nf_b, scalars[0], buf_h)  # h(t)
        total = 0.0
        for i in range(k):
            exc = 0.0
            for m in range(k):
                exc += alpha[i, m] * hawkes[p, i, m] * _exp_neg(-decay[i, m] * tau)
            pre[i] = mu[i] + exc
            corr = f_b[i]
            for j in range(buf_h.shape[0]):
                corr += f_w[i, j] * buf_h[j]
            lam[i] = _softplus(pre[i] + f_max[i] * math.tanh(corr))
            total += lam[i]
        return total

    @njit(fastmath=FAST, cache=True)
    def _append(weights, scalars, dims, st, p, tau, t_new, kind, bufs):  # noqa: ANN001, ANN202
        """:meth:`MHP.sim_append` of path p: an event of type ``kind`` ``tau`` after the last
        one, at ``t_new``. bufs: scratch (x, xn (d_model,), proj (2D,), xp (r+2N,), y, rate (D,),
        dn (D * N,))."""
        decay = weights[2]
        embed, time_w, time_b = weights[8], weights[9], weights[10]
        ln_w, ln_b, in_w, in_b, xp_w, dt_w, dt_b = weights[11:18]
        a_dn, skip, out_w, out_b = weights[18], weights[19], weights[20], weights[21]
        t_last, hawkes, ssm, xb, pc, ar, base, gate = st[1:9]
        x, xn, proj, xp, y, rt, dn = bufs
        k = hawkes.shape[1]
        nl, n_d, n_n = ssm.shape[1], ssm.shape[2], ssm.shape[3]
        r = dims[0]
        for i in range(k):  # Hawkes states: decay, then the new event's column
            for m in range(k):
                hawkes[p, i, m] *= _exp_neg(-decay[i, m] * tau)
            hawkes[p, i, kind] += 1.0
        f0, f1 = math.log1p(max(tau, 0.0)), math.log1p(max(t_new, 0.0))
        for i in range(x.shape[0]):  # event input
            x[i] = embed[kind, i] + time_w[i, 0] * f0 + time_w[i, 1] * f1 + time_b[i]
        clock = min(max(tau, 0.0), scalars[2]) + scalars[3]
        for layer in range(nl):
            top = layer == nl - 1
            if top:
                for i in range(x.shape[0]):
                    xb[p, i] = x[i] + out_b[layer, i]
            _layer_norm(x, ln_w[layer], ln_b[layer], scalars[1], xn)
            _matvec(in_w[layer], xn, in_b[layer], proj)  # u | z
            for d in range(n_d):
                proj[d] = proj[d] * _sigmoid(proj[d])  # u = silu(u)
            for i in range(xp.shape[0]):  # x_proj (no bias): low | B | C
                acc = 0.0
                for d in range(n_d):
                    acc += xp_w[layer, i, d] * proj[d]
                xp[i] = acc
            for d in range(n_d):
                acc = dt_b[layer, d]
                for j in range(r):
                    acc += dt_w[layer, d, j] * xp[j]
                rt[d] = _softplus(acc)
            for d in range(n_d):
                for n in range(n_n):
                    dn[d * n_n + n] = rt[d] * clock * a_dn[layer, d, n]
            for i in range(n_d * n_n):  # exp(delta A), (D * N,) at once
                dn[i] = _exp_neg(dn[i])
            for d in range(n_d):
                delta = rt[d] * clock
                ud = proj[d]
                read = 0.0
                for n in range(n_n):
                    s = dn[d * n_n + n] * ssm[p, layer, d, n] + delta * ud * xp[r + n]
                    ssm[p, layer, d, n] = s
                    read += s * xp[r + n_n + n]
                zd = proj[n_d + d]
                y[d] = (read + ud * skip[layer, d]) * zd * _sigmoid(zd)
            if top:
                for d in range(n_d):
                    for n in range(n_n):
                        pc[p, d, n] = ssm[p, layer, d, n] * xp[r + n_n + n]
                        ar[p, d, n] = rt[d] * a_dn[layer, d, n]
                    base[p, d] = proj[d] * skip[layer, d]
                    zd = proj[n_d + d]
                    gate[p, d] = zd * _sigmoid(zd)
            else:
                for i in range(x.shape[0]):  # residual: next layer's input
                    acc = out_b[layer, i]
                    for d in range(n_d):
                        acc += out_w[layer, i, d] * y[d]
                    x[i] += acc
        t_last[p] = t_new

    @njit(fastmath=FAST, cache=True)
    def _read_probe(weights, scalars, st, p, grid, idx, p_total, p_hawkes, lam, pre, scratch):  # noqa: ANN001, ANN202
        """Record the intensity of path p at probe ``grid[idx]`` (its state holds there)."""
        tau = max(grid[idx] - st[1][p], 0.0)
        _intensity(weights, scalars, st, p, tau, lam, pre, *scratch)
        for i in range(lam.shape[0]):
            p_total[p, idx, i] = lam[i]
            p_hawkes[p, idx, i] = _softplus(pre[i])

    @njit(fastmath=FAST, cache=True)
    def _scratch(weights, dims):  # noqa: ANN001, ANN202
        k, dm = weights[0].shape[0], weights[6].shape[0]
        n_d = weights[19].shape[1]
        lam, pre = np.empty(k), np.empty(k)
        bd, bm, bh = np.empty(n_d), np.empty(dm), np.empty(dm)
        bdn = np.empty(n_d * dims[1])
        bufs = (np.empty(dm), np.empty(dm), np.empty(2 * n_d), np.empty(dims[0] + 2 * dims[1]),
                np.empty(n_d), np.empty(n_d), np.empty(n_d * dims[1]))  # fmt: skip
        return lam, pre, (bd, bm, bh, bdn), bufs

    @njit(fastmath=FAST, cache=True)
    def _run(weights, scalars, dims, st, draws, grid, stop, target, max_iter,  # noqa: ANN001, ANN202
             out_t, out_k, p_total, p_hawkes, err):  # fmt: skip
        """Up to ``draws.shape[2]`` more candidates of every active path (in place)."""
        t, t_last, done, cand, nxt, active = st[0], st[1], st[9], st[10], st[11], st[12]
        g = grid.shape[0]
        for p in range(t.shape[0]):
            lam, pre, scratch, bufs = _scratch(weights, dims)
            for j in range(draws.shape[2]):
                if not active[p] or cand[p] >= max_iter:
                    break
                bound = _bound(weights, st, p, max(t[p] - t_last[p], 0.0))
                t_cand = t[p] + draws[0, p, j] / bound
                cand[p] += 1
                until = min(t_cand, stop[p])
                while nxt[p] < g and grid[nxt[p]] <= until:  # the state holds until t_cand
                    _read_probe(
                        weights, scalars, st, p, grid, nxt[p], p_total, p_hawkes, lam, pre, scratch
                    )
                    nxt[p] += 1
                tau = max(t_cand - t_last[p], 0.0)
                total = _intensity(weights, scalars, st, p, tau, lam, pre, *scratch)
                if total > bound * (1 + 1e-4) + 1e-6:
                    err[0], err[1], err[2], err[3] = p, total, bound, t_cand
                    active[p] = False
                    break
                if t_cand < stop[p] and draws[1, p, j] * bound <= total:
                    kind, acc, level = lam.shape[0] - 1, 0.0, draws[2, p, j] * total
                    for i in range(lam.shape[0]):  # inverse CDF of the type
                        acc += lam[i]
                        if acc > level:
                            kind = i
                            break
                    out_t[p, done[p]] = t_cand
                    out_k[p, done[p]] = kind
                    _append(weights, scalars, dims, st, p, tau, t_cand, kind, bufs)
                    done[p] += 1
                t[p] = t_cand
                active[p] = done[p] < target[p] and t[p] < stop[p]

    @njit(fastmath=FAST, cache=True)
    def _read_rest(weights, scalars, dims, st, grid, p_total, p_hawkes):  # noqa: ANN001, ANN202
        """Every probe not yet read, from each path's last state."""
        nxt = st[11]
        lam, pre, scratch, _ = _scratch(weights, dims)
        for p in range(nxt.shape[0]):
            while nxt[p] < grid.shape[0]:
                _read_probe(
                    weights, scalars, st, p, grid, nxt[p], p_total, p_hawkes, lam, pre, scratch
                )
                nxt[p] += 1
