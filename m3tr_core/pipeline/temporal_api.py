"""Bridge to the temporal core (MHP signatures and forecasts) for trained model versions.

Used only when a temporal model version is active; without one the pipeline runs on the
cold-start stand-ins and never comes here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from m3tr_core.pipeline.context import PipelineContext
    from m3tr_core.pipeline.temporal import ActiveModel
    from m3tr_core.retrieval.similarity import RetrievalResult


class TemporalModelUnavailable(RuntimeError):
    """An active temporal model version cannot be used by this build."""


def _unavailable(model: ActiveModel) -> TemporalModelUnavailable:
    return TemporalModelUnavailable(
        f"model version {model.id} ({model.name!r}, kind {model.kind!r}) is active, but this "
        "build has no temporal-core API to load it; deactivate it to run on the cold-start path"
    )


def signature_dim(ctx: PipelineContext, model: ActiveModel) -> int:
    raise _unavailable(model)


def signature(
    ctx: PipelineContext, model: ActiveModel, t: np.ndarray, types: np.ndarray
) -> np.ndarray | None:
    raise _unavailable(model)


def forecast(
    ctx: PipelineContext,
    model: ActiveModel,
    t: np.ndarray,
    types: np.ndarray,
    neighbours: RetrievalResult,
) -> tuple[dict[str, Any], dict[str, Any]]:
    raise _unavailable(model)
