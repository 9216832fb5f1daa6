"""``m3tr train`` and ``m3tr evaluate``: the fusion model on the database, and the benchmark
evaluation on dataset folders."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

from m3tr.app.cli.common import console, fail, session_factory, settings, use_threads

log = logging.getLogger(__name__)

DATASETS = ("ced-weibo", "microlens")


def _device(name: str):  # -> torch.device
    """``name`` as a torch device; a CUDA device this machine cannot use is refused at once."""
    import torch

    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        fail(f"--device / M3TR_DEVICE: {exc}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        fail(f"device {name!r}: torch sees no CUDA device here (torch {torch.__version__})")
    if dev.type not in ("cpu", "cuda"):
        fail(f"device {name!r}: choose cpu or cuda")
    return dev


def _set_threads(n: int) -> None:
    if n < 1:
        fail(f"--threads must be >= 1, got {n}")
    use_threads("evaluate", threads=n)


def evaluate(
    dataset: str = typer.Argument(..., help="ced-weibo or microlens"),
    train: Path = typer.Option(..., "--train", help="dataset folder to train on"),
    test: Path | None = typer.Option(
        None, "--test", help="dataset folder to score on (default: split --train 80/10/10)"
    ),
    obs_window: float = typer.Option(3600.0, "--obs-window", help="T_obs in seconds"),
    horizon: float = typer.Option(604800.0, "--horizon", help="H in seconds"),
    out: Path = typer.Option(Path("eval-out"), "--out", help="output folder"),
    seeds: str = typer.Option("0,1,2", "--seeds", help="seeds of the neural methods"),
    methods: str | None = typer.Option(None, "--methods", help="comma-separated subset"),
    max_epochs: int = typer.Option(40, "--max-epochs", help="epoch cap per training run"),
    cache: Path | None = typer.Option(
        None, "--cache", help="feature cache (default: <M3TR_HOME>/features)"
    ),
    limit: int | None = typer.Option(None, "--limit", help="use only the first N items of --train"),
    threads: int = typer.Option(
        1, "--threads", help="torch, BLAS and OpenMP threads (fixed: runs are bit-reproducible)"
    ),
    mhp_sizes: str | None = typer.Option(
        None,
        "--mhp-sizes",
        help="MHP sizes the recipe chooses from, d_model-d_state-layers[,...] (default: recipe's)",
    ),
    split_spread: bool = typer.Option(
        True,
        "--split-spread/--no-split-spread",
        help="also score the cheap methods on 4 further splits (how much the split moves them)",
    ),
    device: str | None = typer.Option(
        None,
        "--device",
        help="where the MHP and the fusion model train: cpu or cuda (default: M3TR_DEVICE)",
    ),
) -> None:
    """Evaluate M3TR, its ablations and the baselines; writes OUT/report.json and report.md."""
    from m3tr.core.datasets.base import DatasetError
    from m3tr.core.evaluation.run import EvaluationError, evaluate_dataset

    if dataset not in DATASETS:
        fail(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    for p in (train, test):
        if p is not None and not p.is_dir():
            fail(f"{p}: not a folder")
    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        fail(f"--seeds must be integers separated by commas, got {seeds!r}")
    if not seed_list:
        fail("--seeds: give at least one seed")
    cache_dir = cache or settings().feature_dir
    _set_threads(threads)  # before torch loads (thread policy)
    torch_device = _device(device or settings().device)
    try:
        report = evaluate_dataset(
            dataset,
            train,
            test,
            out,
            obs_window_s=obs_window,
            horizon_s=horizon,
            seeds=seed_list,
            methods=None if methods is None else [m.strip() for m in methods.split(",")],
            max_epochs=max_epochs,
            cache_dir=cache_dir,
            progress=lambda msg: console.print(f"[cyan]{msg}[/]"),
            limit=limit,
            threads=threads,
            mhp_sizes=mhp_sizes,
            spread_splits=split_spread,
            device=torch_device,
        )
    except (DatasetError, EvaluationError, ValueError) as exc:
        fail(str(exc))
    rows = sorted(report["methods"].items(), key=lambda kv: kv[1]["nmse"])
    for name, e in rows:
        console.print(
            f"{name:24s} nMSE {e['nmse']:.4f}  SRC {e['src']:.3f}  PLCC {e['plcc']:.3f}  "
            f"MAE {e['mae']:.3f}  cov {e['coverage']:.2f}"
        )
    console.print(
        f"wrote {out / 'report.json'} and {out / 'report.md'} ({report['seconds']:.0f} s)"
    )


def train(
    name: str = typer.Option("m3tr", "--name", help="model version name"),
    source: str | None = typer.Option(None, "--source", help="only videos of this source"),
    seed: int = typer.Option(0, "--seed"),
    max_epochs: int = typer.Option(40, "--max-epochs"),
    activate: bool = typer.Option(
        True, "--activate/--no-activate", help="make it the active model"
    ),
) -> None:
    """Train the fusion model on the database's matured videos; writes a model version."""
    from m3tr.core.training.service import ServiceTrainError, train_service_model

    s = settings()
    use_threads("train")
    torch_device = _device(s.device)
    try:
        info = train_service_model(
            session_factory(),
            model_dir=s.model_dir,
            name=name,
            obs_window_s=s.obs_window_s,
            horizon_s=s.horizon_s,
            event_types=tuple(s.event_types),
            top_s=s.top_s,
            feature_dir=s.feature_dir,
            profile=s.encoder_profile,
            source=source,
            seed=seed,
            max_epochs=max_epochs,
            activate=activate,
            progress=lambda msg: console.print(f"[cyan]{msg}[/]"),
            device=torch_device,
        )
    except (ServiceTrainError, ValueError) as exc:
        fail(str(exc))
    typer.echo(json.dumps(info, default=str))  # the result on stdout; progress went to stderr


def register(app: typer.Typer) -> None:
    """Add the top-level ``train`` and ``evaluate`` commands."""
    app.command("evaluate")(evaluate)
    app.command("train")(train)
