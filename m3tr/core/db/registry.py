"""Model versions: the ONE writer of ``model_versions.is_active``.

Rules, in one place:
- ``register`` adds a version, never active;
- ``activate(kind, id, live_bank=None)`` makes it the only active version of its kind (the
  others of that kind are switched off first; a partial unique index in the schema holds
  "one active version per kind" even against concurrent writers) and, with ``live_bank``, makes
  that bank live in the SAME transaction, so ingestion never sees a live bank of another model;
- ``active(kind)`` reads the active version; ``rollback(kind)`` re-activates the version that
  was active before the current one (the most recently activated other version of the kind;
  like ``kubectl rollout undo``, a second rollback goes back again);
- ``deactivate(id)`` switches a version off (its kind then has none active).

Every function takes the caller's session: the caller owns the transaction and commits.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from m3tr.core.db.models import BankVersion, ModelVersion, utcnow

log = logging.getLogger(__name__)


class RegistryError(LookupError):
    """A model version that does not exist, is of another kind, or has nothing to roll back to."""


@dataclass(frozen=True)
class ActiveModel:
    """A detached reference to one model version (safe after the session closes)."""

    id: int
    name: str
    kind: str
    checkpoint_path: str | None

    @classmethod
    def of(cls, row: ModelVersion) -> ActiveModel:
        return cls(int(row.id), row.name, row.kind, row.checkpoint_path)


@dataclass(frozen=True)
class VersionView:
    """One model version as listed by the CLI, the REST API and the Model tab."""

    id: int
    name: str
    kind: str
    is_active: bool
    created_at: dt.datetime | None
    activated_at: dt.datetime | None
    checkpoint_path: str | None
    metrics: dict[str, Any]
    config: dict[str, Any]
    live_bank: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "is_active": self.is_active,
            "created_at": None if self.created_at is None else self.created_at.isoformat(),
            "activated_at": None if self.activated_at is None else self.activated_at.isoformat(),
            "checkpoint_path": self.checkpoint_path,
            "metrics": self.metrics,
            "live_bank": self.live_bank,
        }


def register(
    session: Session,
    *,
    name: str,
    kind: str,
    checkpoint_path: str | None,
    config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> ActiveModel:
    """Add an inactive model version named ``name`` (unique) of ``kind``.

    Raises:
        RegistryError: a version with this name exists.
    """
    if session.scalar(select(ModelVersion.id).where(ModelVersion.name == name)) is not None:
        raise RegistryError(f"a model version named {name!r} exists; choose another name")
    row = ModelVersion(
        name=name,
        kind=kind,
        config=dict(config or {}),
        metrics=dict(metrics or {}),
        checkpoint_path=checkpoint_path,
        is_active=False,
    )
    session.add(row)
    session.flush()
    log.info("registered model version %s (%s, id %d)", name, kind, row.id)
    return ActiveModel.of(row)


def find(session: Session, ref: int | str) -> ModelVersion:
    """A model version by id (an integer, or digits) or by name.

    Raises:
        RegistryError: no such version.
    """
    row = None
    if isinstance(ref, int) or str(ref).isdigit():
        row = session.get(ModelVersion, int(ref))
    if row is None:
        row = session.scalars(select(ModelVersion).where(ModelVersion.name == str(ref))).first()
    if row is None:
        raise RegistryError(f"no model version with id or name {str(ref)!r}")
    return row


def activate(
    session: Session, kind: str, model_id: int, live_bank: int | None = None
) -> ActiveModel:
    """Make ``model_id`` the only active version of ``kind`` (and ``live_bank`` live).

    Raises:
        RegistryError: the version does not exist or is of another kind, or the bank does not.
    """
    row = session.get(ModelVersion, model_id)
    if row is None:
        raise RegistryError(f"no model version with id {model_id}")
    if row.kind != kind:
        raise RegistryError(f"model version {row.name} is of kind {row.kind!r}, not {kind!r}")
    bank = None
    if live_bank is not None:
        bank = session.get(BankVersion, live_bank)
        if bank is None:
            raise RegistryError(f"no bank version with id {live_bank}")
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.kind == kind, ModelVersion.id != model_id, ModelVersion.is_active)
        .values(is_active=False)
    )
    session.flush()
    row.is_active = True
    row.activated_at = utcnow()
    if bank is not None:
        session.execute(
            update(BankVersion)
            .where(BankVersion.id != bank.id, BankVersion.is_live)
            .values(is_live=False)
        )
        session.flush()
        bank.is_live = True
    session.flush()
    log.info(
        "model version %s active for %s%s",
        row.name,
        kind,
        "" if bank is None else f" with live bank {bank.collection}",
    )
    return ActiveModel.of(row)


def deactivate(session: Session, model_id: int) -> None:
    """Switch ``model_id`` off (its kind then has no active version)."""
    row = session.get(ModelVersion, model_id)
    if row is None:
        raise RegistryError(f"no model version with id {model_id}")
    row.is_active = False
    session.flush()


def active(session: Session, kind: str | tuple[str, ...]) -> ActiveModel | None:
    """The active version of ``kind`` (or of one of several kinds, newest first), or None."""
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    row = session.scalars(
        select(ModelVersion)
        .where(ModelVersion.is_active.is_(True), ModelVersion.kind.in_(kinds))
        .order_by(ModelVersion.id.desc())
    ).first()
    return None if row is None else ActiveModel.of(row)


def previous(session: Session, kind: str) -> ModelVersion | None:
    """The version ``rollback(kind)`` would activate: the most recently activated other one."""
    return session.scalars(
        select(ModelVersion)
        .where(
            ModelVersion.kind == kind,
            ModelVersion.is_active.is_(False),
            ModelVersion.activated_at.is_not(None),
        )
        .order_by(ModelVersion.activated_at.desc(), ModelVersion.id.desc())
    ).first()


def bank_for(session: Session, model_id: int) -> int | None:
    """The newest bank version built with ``model_id``'s trajectory vectors, if any."""
    return session.scalar(
        select(BankVersion.id)
        .where(BankVersion.model_version_id == model_id)
        .order_by(BankVersion.id.desc())
        .limit(1)
    )


def rollback(session: Session, kind: str, live_bank: int | None = None) -> ActiveModel:
    """Re-activate the version of ``kind`` that was active before the current one.

    Raises:
        RegistryError: no other version of ``kind`` has ever been active.
    """
    prev = previous(session, kind)
    if prev is None:
        raise RegistryError(
            f"no earlier {kind} model version was ever active: nothing to roll back to"
        )
    return activate(session, kind, int(prev.id), live_bank=live_bank)


def list_versions(session: Session, kind: str | None = None) -> list[VersionView]:
    """Every model version (of ``kind``), newest first, with the live bank built on it."""
    q = select(ModelVersion).order_by(ModelVersion.id.desc())
    if kind is not None:
        q = q.where(ModelVersion.kind == kind)
    live = session.execute(
        select(BankVersion.model_version_id, BankVersion.collection).where(BankVersion.is_live)
    ).first()
    return [
        VersionView(
            id=int(m.id),
            name=m.name,
            kind=m.kind,
            is_active=bool(m.is_active),
            created_at=m.created_at,
            activated_at=m.activated_at,
            checkpoint_path=m.checkpoint_path,
            metrics=dict(m.metrics or {}),
            config=dict(m.config or {}),
            live_bank=live[1] if live is not None and live[0] == m.id else None,
        )
        for m in session.scalars(q)
    ]


def switch(session: Session, ref: int | str | None = None, kind: str | None = None) -> ActiveModel:
    """What an operator means by "use this version" (``ref``: id or name) or "roll ``kind``
    back": activate it, and for a temporal model (kind ``mhp``) make the newest bank built on
    its trajectory vectors live with it, so retrieval never mixes trajectory spaces (the live
    bank stays when none was built for it).

    Raises:
        RegistryError: no such version, or nothing to roll back to.
    """
    if ref is not None:
        row = find(session, ref)
        kind, target = row.kind, int(row.id)
    else:
        if kind is None:
            raise RegistryError("name a model version, or a kind to roll back")
        prev = previous(session, kind)
        if prev is None:
            raise RegistryError(
                f"no earlier {kind} model version was ever active: nothing to roll back to"
            )
        target = int(prev.id)
    bank = bank_for(session, target) if kind == "mhp" else None
    return activate(session, kind, target, live_bank=bank)
