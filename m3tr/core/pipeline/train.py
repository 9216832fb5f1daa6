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

from sqlalchemy import select

from m3tr.core.db import registry
from m3tr.core.db.models import ModelVersion
from m3tr.core.db.registry import ActiveModel
from m3tr.core.db.session import transaction
from m3tr.core.pipeline.context import PipelineContext
from m3tr.core.pipeline.errors import BadInputError
from m3tr.core.pipeline.jobs import JobView

log = logging.getLogger(__name__)

RECIPE_PARAMS = (
    "max_epochs", "epochs", "patience", "batch_size", "lr", "max_events", "max_len", "seed",
    "sizes", "d_model", "d_state", "n_layers",
)  # fmt: skip  # job params passed to the MHP recipe (m3tr.core.temporal.recipe)


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
    from m3tr.core.temporal import EventVocab, load_sequences, save_mhp

    done = trained_model(ctx, job)
    if done is not None:
        log.info("job %d: model version %s already trained", job.id, done.name)
        return done
    from m3tr.core.temporal.recipe import recipe_from_params
    from m3tr.core.temporal.recipe import train_mhp as run_recipe

    recipe = recipe_from_params({k: v for k, v in job.params.items() if k in RECIPE_PARAMS})
    vocab = EventVocab(tuple(ctx.event_rules.vocabulary))
    window_s = float(job.params.get("window_s", ctx.obs_window_s))
    with ctx.session_factory() as session:
        seqs = load_sequences(session, vocab, window_s=window_s)
    if not seqs:
        raise BadInputError(
            f"no events of types {list(vocab.types)} within {window_s:g} s of publication"
        )
    result = run_recipe(seqs, vocab, recipe, progress=progress, device=ctx.device, t_obs_s=window_s)
    name = model_name(job)
    folder = ctx.model_dir / name
    shutil.rmtree(folder, ignore_errors=True)  # a checkpoint left by a killed attempt
    save_mhp(result.model, folder)
    with transaction(ctx.session_factory) as session:
        out = registry.register(
            session,
            name=name,
            kind="mhp",
            config={"mhp": result.model.config.to_dict(), "recipe": result.record()},
            metrics={
                "val_nll_per_event": result.val_nll_per_event,
                "epochs": result.epochs,
                "truncated_windows": result.truncated,
                "n_videos": len(seqs),
                "n_events": int(sum(len(q) for q in seqs)),
                "window_s": window_s,
                "job_id": job.id,
            },
            checkpoint_path=str(folder),
        )
    log.info(
        "job %d: trained %s on %d videos (validation nll/event %.4f)",
        job.id,
        name,
        len(seqs),
        result.val_nll_per_event,
    )
    return out
