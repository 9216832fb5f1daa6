"""Model versions: list them, activate one, roll back (``m3tr.core.db.registry``'s rules)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, status

from m3tr.app.api.bodies import ModelList, ModelVersionOut
from m3tr.app.api.problems import ERROR_RESPONSES
from m3tr.app.services import Services
from m3tr.core.db import registry
from m3tr.core.db.session import transaction


def _out(v: registry.VersionView) -> ModelVersionOut:
    d = v.to_dict()
    d.pop("checkpoint_path", None)  # a server path: not for clients
    return ModelVersionOut(**d)


def switch(services: Services, ref: int | str | None, kind: str | None) -> registry.VersionView:
    """``registry.switch`` in one transaction; returns the version now active."""
    with transaction(services.sessions) as session:
        now = registry.switch(session, ref, kind)
    with services.sessions() as session:
        return next(v for v in registry.list_versions(session, now.kind) if v.id == now.id)


def build_model_router(services: Services) -> APIRouter:
    router = APIRouter(tags=["models"], responses=ERROR_RESPONSES)

    @router.get("/models", response_model=ModelList, summary="Model versions, newest first")
    def models(kind: str | None = Query(None, max_length=32, description="m3tr, mhp")) -> ModelList:
        with services.sessions() as session:
            return ModelList(items=[_out(v) for v in registry.list_versions(session, kind)])

    @router.post(
        "/models/{model_id}/activate",
        response_model=ModelVersionOut,
        summary="Make a model version the active one of its kind (the next forecasts use it)",
    )
    def activate(model_id: int) -> ModelVersionOut:
        try:
            return _out(switch(services, model_id, None))
        except registry.RegistryError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None

    @router.post(
        "/models/rollback",
        response_model=ModelVersionOut,
        summary="Re-activate the version of a kind that was active before the current one",
    )
    def rollback(
        kind: str = Query(..., max_length=32, description="m3tr or mhp"),
    ) -> ModelVersionOut:
        try:
            return _out(switch(services, None, kind))
        except registry.RegistryError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None

    return router
