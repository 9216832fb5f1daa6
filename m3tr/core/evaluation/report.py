"""report.json, report.md and plots of one evaluation."""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from m3tr.core.evaluation.harness import EvalResult  # noqa: E402

logger = logging.getLogger(__name__)

NMSE_DEFINITION = (
    "nMSE = mean((y - y_hat)^2) / Var(y), Var the population variance (ddof=0) of the test "
    "targets, y = log1p(total count at H) (App. K, Eq. 43). SRC = Spearman, PLCC = Pearson, "
    "MAE = mean |y - y_hat| in log1p units. Whole test set; the 'MMRA batch-mean' variant "
    "averages each metric over consecutive batches of 256 test samples."
)


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_json(path: Path, report: dict[str, Any]) -> None:
    """report.json, atomically."""
    _write_atomic(path, json.dumps(report, indent=2, default=float))


def _spread_lines(spread: dict[str, Any]) -> list[str]:
    if not spread:
        return []
    lines = [
        "",
        "## The same cheap methods on other splits (test nMSE, split seeds "
        f"{spread['split_seeds']})",
        "",
        "| method | mean | std | min | max | per split |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for n, e in spread["nmse"].items():
        lines.append(
            f"| {n} | {e['mean']:.3f} | {e['std']:.3f} | {e['min']:.3f} | {e['max']:.3f} "
            f"| {', '.join(f'{v:.3f}' for v in e['per_split'])} |"
        )
    return lines


def plot_all(result: EvalResult, methods: dict[str, Any], out: Path) -> list[str]:
    """scatter.png (predicted vs true per method), nmse.png (bars), coverage.png."""
    y = result.split.test.y_log()[:, -1]
    names = list(result.runs)
    files = []
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    lo, hi = float(y.min()), float(y.max())
    for ax, name in zip(axes.flat, names, strict=False):
        pred = result.runs[name].pred[:, :, -1].mean(axis=0)
        ax.scatter(y, pred, s=6, alpha=0.5)
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(f"{name}\nnMSE {methods[name]['nmse']:.3f}", fontsize=9)
        ax.set_xlabel("true log1p total")
        ax.set_ylabel("predicted")
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "scatter.png", dpi=90)
    plt.close(fig)
    files.append("scatter.png")

    order = sorted(names, key=lambda n: methods[n]["nmse"])
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(
        order,
        [methods[n]["nmse"] for n in order],
        yerr=[methods[n]["std"]["nmse"] for n in order],
        capsize=3,
    )
    ax.set_ylabel("nMSE (log1p total at H)")
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(out / "nmse.png", dpi=90)
    plt.close(fig)
    files.append("nmse.png")

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(names, [methods[n]["coverage"] for n in names])
    ax.axhline(result.interval, color="k", ls="--", lw=0.8, label=f"nominal {result.interval:.0%}")
    ax.set_ylabel("test coverage of the interval")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(out / "coverage.png", dpi=90)
    plt.close(fig)
    files.append("coverage.png")
    return files


def _task_line(task: dict[str, Any]) -> str:
    types = ", ".join(task["event_types"])
    if not task["obs_window_s"]:
        return f"Task: content only (no events observed); target = final count ({types})."
    return (
        f"Task: events in [0, {task['obs_window_s']:g}] s observed; target = count per type "
        f"at H = {task['horizon_s']:g} s ({types})."
    )


def markdown(report: dict[str, Any]) -> str:
    """report.md text from the report.json dict."""
    m = report["methods"]
    order = sorted(m, key=lambda n: m[n]["nmse"])
    lines = [
        f"# Evaluation: {report['dataset']}",
        "",
        _task_line(report["task"]),
        f"n_train = {report['n_train']}, n_val = {report['n_val']}, n_test = {report['n_test']}; "
        f"split: {report['split'].get('kind')} (seed {report['split'].get('seed')}); seeds {report['seeds']} (seeded methods: mean ± std).",
        f"Wall time of the methods: {report['seconds']:.0f} s (loading and content features "
        f"before them: {report.get('content_seconds', 0):.0f} s).",
        "",
        f"**Metric definitions.** {NMSE_DEFINITION}",
        "",
        "## log1p of the total count at H, whole test set",
        "",
        "| method | nMSE | SRC | PLCC | MAE | 80% coverage | interval from |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n in order:
        e, s = m[n], m[n]["std"]
        lines.append(
            f"| {n} | {_fmt(e['nmse'])} ± {_fmt(s['nmse'])} | {_fmt(e['src'])} ± {_fmt(s['src'])} "
            f"| {_fmt(e['plcc'])} ± {_fmt(s['plcc'])} | {_fmt(e['mae'])} ± {_fmt(s['mae'])} "
            f"| {_fmt(e['coverage'], 2)} | {e['interval_source']} |"
        )
    lines += [
        "",
        "## MMRA batch-mean variant (metrics averaged over batches of 256)",
        "",
        "| method | nMSE | SRC | PLCC | MAE |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n in order:
        b = m[n]["batch_mean_256"]
        lines.append(
            f"| {n} | {_fmt(b['nmse'])} | {_fmt(b['src'])} | {_fmt(b['plcc'])} | {_fmt(b['mae'])} |"
        )
    types = list(next(iter(m.values()))["per_type"])
    lines += ["", "## Per output (nMSE / SRC)", "", "| method | " + " | ".join(types) + " |"]
    lines.append("| --- |" + " --- |" * len(types))
    for n in order:
        pt = m[n]["per_type"]
        lines.append(
            f"| {n} | "
            + " | ".join(f"{_fmt(pt[t]['nmse'])} / {_fmt(pt[t]['src'])}" for t in types)
            + " |"
        )
    groups = list(next(iter(m.values()))["rank_groups"])
    lines += [
        "",
        "## Table 2 groups: mean predicted total count (true mean in the header)",
        "",
        "Videos ranked by their true total at H; seed-averaged forecasts, expm1 of log1p. "
        "Groups larger than the test set are clipped to the whole test set.",
        "",
        "| method | "
        + " | ".join(
            f"{g} (true {next(iter(m.values()))['rank_groups'][g]['true_mean']:.1f})"
            for g in groups
        )
        + " |",
        "| --- |" + " --- |" * len(groups),
    ]
    for n in order:
        rg = m[n]["rank_groups"]
        lines.append(f"| {n} | " + " | ".join(f"{rg[g]['pred_mean']:.1f}" for g in groups) + " |")
    lines += _spread_lines(report.get("split_spread") or {})
    lines += ["", "## Methods", ""]
    for n in order:
        info = m[n].get("info") or {}
        extra = ", ".join(f"{k}={v}" for k, v in info.items() if k != "train_seconds")
        lines.append(f"- `{n}`: {m[n]['seconds']:.0f} s for {len(m[n]['seeds'])} run(s). {extra}")
    for note in report.get("notes", []):
        lines.append(f"- {note}")
    lines += [
        "",
        "![nMSE](nmse.png)",
        "",
        "![scatter](scatter.png)",
        "",
        "![coverage](coverage.png)",
        "",
    ]
    return "\n".join(lines)


def write_report(
    result: EvalResult, methods: dict[str, Any], meta: dict[str, Any], out: Path
) -> dict[str, Any]:
    """Write OUT/report.json, OUT/report.md and the plots; returns the report dict."""
    out.mkdir(parents=True, exist_ok=True)
    split = result.split
    report = {
        **meta,
        "task": split.test.spec.to_dict(),
        "n_train": len(split.train),
        "n_val": len(split.val),
        "n_test": len(split.test),
        "interval_level": result.interval,
        "nmse_definition": NMSE_DEFINITION,
        "seconds": round(result.seconds, 1),
        "methods": methods,
    }
    report["plots"] = plot_all(result, methods, out)
    write_json(out / "report.json", report)
    _write_atomic(out / "report.md", markdown(report))
    logger.info("wrote %s", out / "report.md")
    return report
