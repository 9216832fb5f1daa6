"""Job ``train``: fit the MHP on the events in SQL and register a model version (kind ``mhp``).

Idempotent: the version is named by the job (``params.name``, default ``mhp-job<id>``); a
redelivered task finds the registered version and does not train again. With
``params.activate`` (default true) the job's next step, ``rebuild_bank``, builds a bank of
the new model's signatures and then activates the model and makes the bank live together.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from m3tr_core.db import registry
from m3tr_core.db.models import ModelVersion
from m3tr_core.db.session import transaction
from m3tr_core.pipeline.context import PipelineContext
from m3tr_core.pipeline.errors import BadInputError
from m3tr_core.pipeline.jobs import JobView
from m3tr_core.pipeline.temporal import ActiveModel

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "epochs": 3,
    "batch_size": 16,
    "lr": 1e-2,
    "max_len": 512,
    "d_model": 16,
    "d_state": 4,
    "n_layers": 1,
    "seed": 0,
}


def model_name(job: JobView) -> str:
    return str(job.params.get("name") or f"mhp-job{job.id}")


def trained_model(ctx: PipelineContext, job: JobView) -> ActiveModel | None:
    """The version this job registered, if it did."""
    with ctx.session_factory() as session:
        row = session.scalars(
            select(ModelVersion).where(ModelVersion.name == model_name(job))
        ).first()
        return None if row is None else ActiveModel.of(row)


def train_mhp(
    ctx: PipelineContext, job: JobView, progress: Callable[[float], None] | None = None
) -> ActiveModel:
    """Train (unless this job already did) and register the model version, not active yet.

    Raises:
        BadInputError: no events of the vocabulary in the observation window.
    """
    from m3tr_core.temporal import EventVocab, MHPConfig, TrainConfig, load_sequences, save_mhp
    from m3tr_core.temporal.models import MHPModel

    done = trained_model(ctx, job)
    if done is not None:
        log.info("job %d: model version %s already trained", job.id, done.name)
        return done
    p = {**DEFAULTS, **{k: v for k, v in job.params.items() if k in DEFAULTS}}
    vocab = EventVocab(tuple(ctx.event_rules.vocabulary))
    window_s = float(job.params.get("window_s", ctx.obs_window_s))
    with ctx.session_factory() as session:
        seqs = load_sequences(session, vocab, window_s=window_s)
    if not seqs:
        raise BadInputError(
            f"no events of types {list(vocab.types)} within {window_s:g} s of publication"
        )
    cfg = MHPConfig(
        n_types=vocab.n_types,
        type_names=vocab.types,
        d_model=int(p["d_model"]),
        d_state=int(p["d_state"]),
        n_layers=int(p["n_layers"]),
        dt_rank=max(1, int(p["d_model"]) // 4),
    )
    train = TrainConfig(
        epochs=int(p["epochs"]),
        batch_size=int(p["batch_size"]),
        lr=float(p["lr"]),
        max_len=int(p["max_len"]),
        seed=int(p["seed"]),
    )
    model = MHPModel(cfg, max_len=train.max_len)
    report = model.fit(
        seqs,
        train,
        (lambda step, total, loss: progress(step / max(total, 1))) if progress else None,
    )
    name = model_name(job)
    folder = ctx.model_dir / name
    shutil.rmtree(folder, ignore_errors=True)  # a checkpoint left by a killed attempt
    save_mhp(model.module, folder)
    with transaction(ctx.session_factory) as session:
        out = registry.register(
            session,
            name=name,
            kind="mhp",
            config={
                "mhp": cfg.to_dict(),
                "train": {k: v for k, v in vars(train).items() if k != "extra"},
            },
            metrics={
                "train_nll_per_event": report.final_loss,
                "steps": report.steps,
                "n_videos": len(seqs),
                "n_events": int(sum(len(q) for q in seqs)),
                "window_s": window_s,
                "job_id": job.id,
            },
            checkpoint_path=str(folder),
        )
    log.info(
        "job %d: trained %s on %d videos (nll/event %.4f)",
        job.id,
        name,
        len(seqs),
        report.final_loss,
    )
    return out
