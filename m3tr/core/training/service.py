"""Service training (``m3tr train``): the fusion model on the database's matured videos.

Videos with events and content features are split 90/10 (fit/validation, fixed seed); the
bank is the fit part; the 80% interval is calibrated on the validation part. The checkpoint
goes to ``<model_dir>/<name>/`` and one ``model_versions`` row (kind ``m3tr``) records its
config, validation metrics and path; with ``activate`` it becomes the only active ``m3tr``.
Nothing is registered unless the checkpoint was written.

Trajectory space: when an MHP version (kind ``mhp``) is active, the training neighbours are
retrieved (Eq. 3) with that version's trajectory vectors (``training.bank_space``: its
signatures through its transform), the space of the live bank it builds; the checkpoint records
it, so serving takes the live bank's Eq. 3 neighbours as they are. Without one, the fused
model's own MHP signs its training rows; serving then retrieves its neighbours by content only
(the summary's ``serving_neighbours`` says which).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from m3tr.core.db import registry
from m3tr.core.db.models import ModelVersion, Video
from m3tr.core.db.session import transaction
from m3tr.core.fusion.config import FusionConfig
from m3tr.core.fusion.predictor import save_predictor
from m3tr.core.task import metrics
from m3tr.core.task.intervals import ResidualInterval
from m3tr.core.task.spec import TaskSpec
from m3tr.core.task.splits import holdout_val
from m3tr.core.task.trajectory_space import TrajectorySpace
from m3tr.core.training.bank_space import BankSpaceVectors, mhp_vocabulary
from m3tr.core.training.content import arrays_from_features, embed_texts
from m3tr.core.training.data import VIDEO_SIDE_COLUMNS, DataSplit, TaskData, load_from_db
from m3tr.core.training.features import count_profile
from m3tr.core.training.fusion_recipe import VARIANTS, FusionRecipe
from m3tr.core.training.trainer import FusionTrainConfig

logger = logging.getLogger(__name__)


class ServiceTrainError(RuntimeError):
    """Not enough usable data, or a name already taken."""


def attach_content(
    data: TaskData, factory: sessionmaker[Session], feature_dir: Path, profile: str
) -> TaskData:
    """Attach stored content features; text-only videos without any are embedded now (the
    same computation as the content pipeline); videos with media but no features are left out."""
    from m3tr.core.content import FeatureStore, get_profile
    from m3tr.core.content.db_embed import fit_database_text
    from m3tr.core.content.fitting import resolve_profile

    store = FeatureStore(feature_dir)
    prof = resolve_profile(get_profile(profile), store)  # the text fit in use
    if prof.needs_text_fit:
        prof = fit_database_text(factory, store, prof)
    pv = prof.profile_version
    with factory() as session:
        media = dict(
            session.execute(
                select(Video.id, Video.media_path).where(Video.id.in_(data.video_ids.tolist()))
            ).all()
        )
    keys = [str(int(v)) for v in data.video_ids]
    missing_text = [
        i
        for i, k in enumerate(keys)
        if not store.has(k, pv) and media.get(int(data.video_ids[i])) is None
    ]
    if missing_text:
        embed_texts(
            [keys[i] for i in missing_text],
            [data.texts[i] for i in missing_text],
            feature_dir,
            profile=prof,
        )
    keep = np.array([store.has(k, pv) for k in keys], dtype=bool)
    if not keep.all():
        logger.warning(
            "%d videos have media but no content features yet: left out", int((~keep).sum())
        )
    data = data.subset(np.flatnonzero(keep))
    feats = [store.get(str(int(v)), pv) for v in data.video_ids]
    return data.with_content(arrays_from_features(feats))


def train_service_model(
    factory: sessionmaker[Session],
    model_dir: Path,
    name: str,
    obs_window_s: float,
    horizon_s: float,
    event_types: tuple[str, ...],
    top_s: int,
    feature_dir: Path,
    profile: str = "lite",
    source: str | None = None,
    seed: int = 0,
    max_epochs: int = 40,
    activate: bool = True,
    progress: Callable[[str], None] = lambda msg: None,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Train, save and register; returns the model version's summary. ``device``: where the
    MHP and the fusion model train (the checkpoint is written with CPU tensors)."""
    with factory() as session:
        if session.scalars(select(ModelVersion).where(ModelVersion.name == name)).first():
            raise ServiceTrainError(f"a model version named {name!r} exists; choose another --name")
    bank_space = active_bank_space(factory, tuple(event_types), device)  # checked up front
    with factory() as session:
        data = load_from_db(
            session,
            TaskSpec(obs_window_s, horizon_s, tuple(event_types)),
            source,
            VIDEO_SIDE_COLUMNS,
        )
    present = (
        [t for j, t in enumerate(event_types) if data.targets[:, j].sum() > 0] if len(data) else []
    )
    if len(data) < 20 or not present:
        raise ServiceTrainError(
            f"{len(data)} matured videos with events of {list(event_types)} in the database; "
            "need at least 20 (import a dataset or ingest event logs first)"
        )
    if len(present) < len(event_types):
        progress(f"types without any event are left out: {sorted(set(event_types) - set(present))}")
        with factory() as session:
            data = load_from_db(
                session,
                TaskSpec(obs_window_s, horizon_s, tuple(present)),
                source,
                VIDEO_SIDE_COLUMNS,
            )
    progress(f"{len(data)} videos; content features ({profile})")
    data = attach_content(data, factory, feature_dir, profile)
    fit, val = holdout_val(len(data), 0.1, seed=seed)
    split = DataSplit(data.subset(fit), data.subset(val), data.subset(val))
    spec = data.spec
    assert data.content is not None
    base = FusionConfig(
        num_types=spec.num_types,
        d_text=data.content.text.shape[2],
        d_av=data.content.av.shape[2],
        d_side=data.side.shape[1],
        d_profile=count_profile([], [], spec.num_types, spec.obs_window_s).shape[1],
        obs_window_s=spec.obs_window_s,
        top_s=min(top_s, len(fit) - 1),
    )
    progress(
        "training neighbours by Eq. 3 "
        + (
            f"in the active MHP's space ({bank_space.space})"
            if bank_space is not None
            else "with the fused model's own MHP (no active MHP version)"
        )
    )
    recipe = FusionRecipe(
        VARIANTS["m3tr"],
        base,
        FusionTrainConfig(max_epochs=max_epochs),
        device=device,
        space_vectors=bank_space,
    )
    progress(f"training on {len(fit)} videos, validating on {len(val)}")
    trained = recipe.fit(split, seed)
    space = trajectory_space(trained.record, bank_space)
    y_val = split.val.y_log()
    interval = ResidualInterval.fit(y_val, trained.val_pred, 0.8)
    total = spec.num_types
    val_scores = metrics.score(y_val[:, total], trained.val_pred[:, total]).to_dict()
    lo, hi = interval.apply(trained.val_pred)
    val_scores["coverage_in_sample"] = metrics.coverage(y_val[:, total], lo[:, total], hi[:, total])
    extra = {
        "profile": profile,
        "profile_version": data.content.profile_version,  # with its text fit
        "side_columns": list(VIDEO_SIDE_COLUMNS),  # served with the same videos.extra keys
        "trajectory_space": space,
        "val_metrics": val_scores,
    }
    path = save_predictor(Path(model_dir) / name, trained.model, spec, interval, extra)
    config = {
        "fusion": trained.config.to_dict(),
        "task": spec.to_dict(),
        "train": FusionTrainConfig(max_epochs=max_epochs, seed=seed).to_dict(),
        "n_fit": len(fit),
        "n_val": len(val),
        "source": source,
        "info": trained.record,
    }
    try:
        version_id = _register(factory, name, config, val_scores, path, activate)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # nothing half-written
        raise
    return {
        "model_version_id": version_id,
        "name": name,
        "checkpoint": str(path),
        "val": val_scores,
        "trajectory_space": space,
        "serving_neighbours": (
            "Eq. 3 on the live bank (content and trajectory)"
            if bank_space is not None and space == bank_space.space.to_dict()
            else "content only (the training neighbours' trajectory vectors are not the "
            "live bank's: no MHP version was active)"
        ),
    }


def active_bank_space(
    factory: sessionmaker[Session], event_types: tuple[str, ...], device: torch.device | str
) -> BankSpaceVectors | None:
    """The trajectory vectors of the active MHP version (the live bank's space), or None when
    no MHP version is active.

    Raises:
        ServiceTrainError: the active version's checkpoint does not load, or it knows none of
            ``event_types``.
    """
    with factory() as session:
        active = registry.active(session, ("mhp",))
    if active is None:
        return None
    if not active.checkpoint_path:
        raise ServiceTrainError(f"the active MHP version {active.id} has no checkpoint path")
    try:
        vectors = BankSpaceVectors.load(active.checkpoint_path, active.id, device)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ServiceTrainError(
            f"the active MHP version {active.id} ({active.name!r}) does not load from "
            f"{active.checkpoint_path}: {exc}"
        ) from exc
    known = set(mhp_vocabulary(vectors.mhp, event_types))
    if not known & set(event_types):
        raise ServiceTrainError(
            f"the active MHP version {active.id} signs types {sorted(known)}, none of "
            f"{list(event_types)}"
        )
    return vectors


def trajectory_space(
    record: dict[str, Any], bank_space: BankSpaceVectors | None = None
) -> dict[str, str] | None:
    """The space the recipe retrieved its neighbours in (``FusionFit.record``): the active MHP
    version's (``bank_space``, given to the recipe), else the trajectory vectors of the fused
    model's own MHP (or its count profile); None when it retrieved by content only."""
    if record.get("retrieval_mode") != "temporal_aware":
        return None
    if bank_space is not None:
        return bank_space.space.to_dict()
    mhp = "the fused model's own" if record.get("temporal") == "mhp" else "none"
    return TrajectorySpace(mhp, str(record["trajectory_vector"])).to_dict()


def _register(
    factory: sessionmaker[Session],
    name: str,
    config: dict[str, Any],
    val_scores: dict[str, float],
    path: Path,
    activate: bool,
) -> int:
    with transaction(factory) as session:
        row = registry.register(
            session,
            name=name,
            kind="m3tr",
            config=config,
            metrics={"val": val_scores},
            checkpoint_path=str(path),
        )
        if activate:
            registry.activate(session, "m3tr", row.id)
        return row.id
