"""``evaluate_dataset``: load a dataset folder, embed its texts (cached), split, run every
method, write the report. What ``m3tr evaluate`` calls.

CED Weibo: the full comparison (M3TR, ablations, baselines). MicroLens (no events): the content
path alone: the fusion model on text with content retrieval, against the training mean and the
retrieval-only forecast (the mean of the neighbours' labels).

``device``: where the MHP and the fusion variants train and score (``cpu`` or ``cuda``); the
text embedding (lite profile), the tree and linear baselines and the per-video classical point
processes stay on the CPU.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from m3tr.core.evaluation.harness import run_methods, summarise
from m3tr.core.evaluation.methods.base import Method
from m3tr.core.evaluation.methods.gbdt import GBDT
from m3tr.core.evaluation.methods.knn import NeighbourMean
from m3tr.core.evaluation.methods.m3tr import M3TRMethod
from m3tr.core.evaluation.methods.point_process import PerVideoPointProcess
from m3tr.core.evaluation.methods.strong_features import KINDS as STRONG_KINDS
from m3tr.core.evaluation.methods.strong_features import StrongFeatures, StrongFitter
from m3tr.core.evaluation.methods.szabo_huberman import MeanBaseline, SzaboHuberman
from m3tr.core.evaluation.methods.text_ridge import TextFitter, TextRidge
from m3tr.core.evaluation.methods.trajectory import TrajectoryOnlyRetrieval
from m3tr.core.evaluation.report import write_json, write_report
from m3tr.core.evaluation.repro import reproducibility_info, reproducible
from m3tr.core.evaluation.resplit import split_spread
from m3tr.core.fusion.config import FusionConfig
from m3tr.core.task.spec import CED_EVENT_TYPES, TaskSpec
from m3tr.core.task.splits import DEFAULT_SPLIT_SEED, holdout_val, split_indices
from m3tr.core.training.content import embed_texts
from m3tr.core.training.data import DataSplit, TaskData, load_ced_weibo, load_microlens
from m3tr.core.training.features import count_profile
from m3tr.core.training.fusion_recipe import VARIANTS, M3TRVariant
from m3tr.core.training.shared_mhp import SharedMHP
from m3tr.core.training.trainer import FusionTrainConfig

logger = logging.getLogger(__name__)

CED_METHODS = (
    "m3tr",
    "no_retrieval",
    "no_temporal",
    "no_mhp",
    "content_only_retrieval",
    "trajectory_only_retrieval",
    "strong_features",
    "strong_features_gbdt",
    "strong_features_ridge",
    "szabo_huberman",
    "gbdt",
    "text_ridge",
    "classical_hawkes",
    "poisson",
    "mean",
)
MICROLENS_METHODS = ("m3tr", "content_only_retrieval", "text_ridge", "mean")


class EvaluationError(ValueError):
    """Bad evaluation request (unknown method, empty data, ...)."""


def _attach_content(
    data: TaskData,
    prefix: str,
    cache_dir: Path,
    progress: Callable[[str], None],
    fit_texts: list[str] | None = None,
) -> TaskData:
    t0 = time.perf_counter()
    keys = [f"{prefix}-{k}" for k in data.keys]
    content = embed_texts(
        keys,
        data.texts,
        cache_dir,
        progress=lambda done, total: progress(f"embedding texts {done}/{total}"),
        fit_texts=fit_texts,
    )
    logger.info("content for %d items in %.1f s", len(data), time.perf_counter() - t0)
    return data.with_content(content)


def bank_texts(train: TaskData, has_test: bool, split_seed: int = DEFAULT_SPLIT_SEED) -> list[str]:
    """Texts of the rows :func:`make_split` puts in the training bank: all a fitted text
    encoder (lite) may learn from (never the validation or test texts)."""
    n = len(train)
    idx = (
        holdout_val(n, 0.1, seed=split_seed)[0]
        if has_test
        else split_indices(n, seed=split_seed)[0]
    )
    return [train.texts[i] for i in idx]


def make_split(
    train: TaskData, test: TaskData | None, split_seed: int = DEFAULT_SPLIT_SEED
) -> tuple[DataSplit, dict[str, Any]]:
    """80/10/10 of ``train`` without ``test``; else (90/10 of ``train``, all of ``test``)."""
    if test is None:
        tr, va, te = split_indices(len(train), seed=split_seed)
        desc = {"kind": "80/10/10 of --train", "seed": split_seed}
        return DataSplit(train.subset(tr), train.subset(va), train.subset(te)), desc
    fit, va = holdout_val(len(train), 0.1, seed=split_seed)
    # test ids must never collide with bank ids (retrieval excludes by id)
    test = replace(test, video_ids=test.video_ids + int(train.video_ids.max()) + 1)
    desc = {
        "kind": "train on --train (10% held out for validation), score all of --test",
        "seed": split_seed,
    }
    return DataSplit(train.subset(fit), train.subset(va), test), desc


def build_methods(
    names: Sequence[str],
    split: DataSplit,
    max_epochs: int,
    content_only: bool,
    stack: bool = True,
    seeds: Sequence[int] = (0,),
    mhp_sizes: str | None = None,
    device: torch.device | str = "cpu",
) -> list[Method]:
    """The methods ``names``. CED: the fusion variants share one pre-trained MHP per seed
    (``SharedMHP``). With ``stack``, every fusion variant is stacked on validation with the
    text ridge and, where it sees events, the strong features; the strong-features methods
    share one fit, and so do the text ridge's users."""
    tr = split.train
    assert tr.content is not None
    spec = tr.spec
    base = FusionConfig(
        num_types=spec.num_types,
        d_text=tr.content.text.shape[2],
        d_av=tr.content.av.shape[2],
        d_side=tr.side.shape[1],
        d_profile=count_profile([], [], spec.num_types, spec.obs_window_s).shape[1],
        obs_window_s=spec.obs_window_s,
    )
    train_cfg = FusionTrainConfig(max_epochs=max_epochs)
    mhp = SharedMHP(int(seeds[0]), mhp_sizes, device)  # one MHP fit per split (the costly step)
    strong, text = StrongFitter(), TextFitter()

    def companions(variant: M3TRVariant) -> tuple[StrongFitter | TextFitter, ...]:
        if not stack:
            return ()
        return (text,) if content_only or variant.temporal == "none" else (strong, text)

    out: list[Method] = []
    for n in names:
        if content_only and n == "m3tr":
            variant = M3TRVariant("m3tr", temporal="none", retrieval="content_only")
            out.append(
                M3TRMethod(
                    variant, base, train_cfg, stack_with=companions(variant), device=device
                )
            )
        elif content_only and n == "content_only_retrieval":
            out.append(NeighbourMean("content_only_retrieval"))
        elif n in VARIANTS:
            out.append(
                M3TRMethod(
                    VARIANTS[n], base, train_cfg, mhp, stack_with=companions(VARIANTS[n]),
                    device=device,
                )
            )  # fmt: skip
        elif n == "trajectory_only_retrieval":
            out.append(TrajectoryOnlyRetrieval(mhp, VARIANTS["m3tr"].signature_length))
        elif n in STRONG_KINDS:
            out.append(StrongFeatures(n, strong))
        elif n == "szabo_huberman":
            out.append(SzaboHuberman())
        elif n == "text_ridge":
            out.append(TextRidge(text))
        elif n == "gbdt":
            out.append(GBDT())
        elif n in ("classical_hawkes", "poisson"):
            out.append(PerVideoPointProcess(n))
        elif n == "mean":
            out.append(MeanBaseline())
        else:
            raise EvaluationError(f"unknown method {n!r}")
    return out


def evaluate_dataset(
    dataset: str,
    train_dir: Path,
    test_dir: Path | None,
    out: Path,
    obs_window_s: float = 3600.0,
    horizon_s: float = 604800.0,
    seeds: Sequence[int] = (0, 1, 2),
    methods: Sequence[str] | None = None,
    max_epochs: int = 40,
    cache_dir: Path = Path("m3tr-data/features"),
    progress: Callable[[str], None] = lambda msg: None,
    limit: int | None = None,
    threads: int = 1,
    stack: bool = True,
    spread_splits: bool = True,
    mhp_sizes: str | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Run the evaluation and write OUT/report.json, OUT/report.md and plots.

    ``threads`` caps torch, BLAS and OpenMP (scikit-learn) threads for the whole run: the same
    command then gives the same numbers in every process, and OpenMP's busy waiting cannot
    stall a shared machine (one 400-tree boosting fit: 8 s on 1 thread, 353 s on 2 at load 18).
    """
    with reproducible(threads):
        return _evaluate(
            dataset, train_dir, test_dir, out, obs_window_s, horizon_s, seeds, methods,
            max_epochs, cache_dir, progress, limit, stack, spread_splits, mhp_sizes,
            torch.device(device),
        )  # fmt: skip


def _evaluate(
    dataset: str,
    train_dir: Path,
    test_dir: Path | None,
    out: Path,
    obs_window_s: float,
    horizon_s: float,
    seeds: Sequence[int],
    methods: Sequence[str] | None,
    max_epochs: int,
    cache_dir: Path,
    progress: Callable[[str], None],
    limit: int | None,
    stack: bool,
    spread_splits: bool,
    mhp_sizes: str | None,
    device: torch.device,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    if dataset == "ced-weibo":
        spec = TaskSpec(obs_window_s, horizon_s, CED_EVENT_TYPES)
        load: Callable[[Path], TaskData] = lambda p: load_ced_weibo(p, spec)  # noqa: E731
        allowed, content_only = CED_METHODS, False
    elif dataset == "microlens":
        load = load_microlens
        allowed, content_only = MICROLENS_METHODS, True
    else:
        raise EvaluationError(f"unknown dataset {dataset!r}: ced-weibo or microlens")
    names = list(methods) if methods else list(allowed)
    bad = [n for n in names if n not in allowed]
    if bad:
        raise EvaluationError(
            f"methods {bad} are not available for {dataset}; choose from {list(allowed)}"
        )
    progress(f"loading {train_dir}")
    train = load(train_dir)
    if limit is not None:
        train = train.subset(np.arange(min(limit, len(train))))
    test = load(test_dir) if test_dir is not None else None
    if len(train) < 10:
        raise EvaluationError(f"{train_dir}: only {len(train)} items, need at least 10")
    fit_texts = bank_texts(train, test is not None)
    train = _attach_content(train, dataset, cache_dir, progress, fit_texts)
    if test is not None:
        test = _attach_content(test, dataset, cache_dir, progress, fit_texts)
    t_content = time.perf_counter() - t0
    split, split_desc = make_split(train, test)
    runnable = build_methods(
        names, split, max_epochs, content_only, stack, seeds, mhp_sizes, device
    )
    result = run_methods(
        split, runnable, list(seeds), progress=lambda name, seed: progress(f"{name} (seed {seed})")
    )
    summary = summarise(result)
    t_spread = time.perf_counter()
    spread = (
        split_spread(train, names, split_desc["seed"]) if test is None and spread_splits else {}
    )
    t_spread = time.perf_counter() - t_spread
    notes = []
    for m in runnable:
        if isinstance(m, M3TRMethod) and m.variant.temporal == "mhp" and m.temporal_factory is None:
            notes.append(
                f"`{m.name}`: no point-process encoder supplied; temporal modality by pad-and-mask"
            )
    for m in runnable:
        if isinstance(m, PerVideoPointProcess):
            notes.append(
                f"`{m.name}`: fitted to each test video's own [0, T_obs] events, {m.n_paths} "
                f"simulated futures to H, each cut at {m.max_events} events (above every total in "
                "this data); median forecast, 10%-90% simulation interval"
            )
    heldout = _mhp_heldout(split, runnable, list(seeds), progress, device)
    meta = {
        "dataset": dataset,
        "train_dir": str(train_dir),
        "test_dir": None if test_dir is None else str(test_dir),
        "split": split_desc,
        "seeds": list(seeds),
        "reproducibility": reproducibility_info(),
        "split_spread": spread,
        "mhp_sizes": mhp_sizes or "recipe default",
        "device": str(device),
        "content_seconds": round(t_content, 1),
        "content_profile": None if train.content is None else train.content.profile_version,
        "notes": notes,
        "mhp_heldout_nll_per_event": heldout,
    }
    report = write_report(result, summary, meta, out)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    report["wall_seconds"] = {
        "total": report["seconds"],
        "content": round(t_content, 1),
        "methods": round(result.seconds, 1),
        "split_spread": round(t_spread, 1),
    }
    write_json(out / "report.json", report)
    return report


def _mhp_heldout(
    split: DataSplit,
    runnable: Sequence[Any],
    seeds: list[int],
    progress: Callable[[str], None],
    device: torch.device,
) -> dict[str, float] | None:
    """NLL per event on the test windows: the MHP the M3TR methods used (first seed, the same
    recipe and windows, so it is not trained again) beside neural Hawkes, classical Hawkes and
    Poisson (``m3tr.core.temporal.compare``). None when no method used the MHP."""
    from m3tr.core.fusion.mhp_adapter import pretrain_mhp, sequences_of
    from m3tr.core.temporal.compare import heldout_comparison

    uses_mhp = [
        m for m in runnable
        if isinstance(m, M3TRMethod) and m.variant.temporal == "mhp"
        and m.temporal_factory is not None
    ]  # fmt: skip
    if not uses_mhp or not seeds:
        return None
    tr, va, te = split.train, split.val, split.test
    spec = tr.spec
    progress("point-process likelihood on the test windows")
    factory = uses_mhp[0].temporal_factory
    if isinstance(factory, SharedMHP):  # the fit the methods used: not trained again
        mhp = factory.mhp(tr, spec.num_types, spec.obs_window_s, seeds[0])
    else:
        mhp = pretrain_mhp(
            tr.event_t, tr.event_k, spec.num_types, spec.obs_window_s, seeds[0], device=device
        )
    windows = [sequences_of(d.event_t, d.event_k, spec.obs_window_s) for d in (tr, va, te)]
    return heldout_comparison(mhp, *windows)
