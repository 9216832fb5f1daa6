"""The model registry: one active version per kind, activation with a live bank, rollback."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from m3tr.app import migrate
from m3tr.core.db import registry
from m3tr.core.db.models import BankVersion, ModelVersion
from m3tr.core.db.session import make_engine, make_session_factory, transaction


def _factory(url: str):  # noqa: ANN202
    migrate.upgrade(url)
    return make_session_factory(make_engine(url))


def _exercise(url: str) -> None:
    factory = _factory(url)
    with transaction(factory) as s:
        a = registry.register(s, name="a", kind="m3tr", checkpoint_path="/m/a")
        b = registry.register(s, name="b", kind="m3tr", checkpoint_path="/m/b")
        t = registry.register(s, name="t", kind="mhp", checkpoint_path="/m/t")
        bank = BankVersion(collection="bank_t", backend="numpy", encoder_profile="lite",
                           model_version_id=t.id, is_live=False)  # fmt: skip
        s.add(bank)
        s.flush()
        bank_id = bank.id
    with transaction(factory) as s:
        assert registry.active(s, "m3tr") is None
        with pytest.raises(registry.RegistryError, match="nothing to roll back"):
            registry.rollback(s, "m3tr")
        with pytest.raises(registry.RegistryError, match="exists"):
            registry.register(s, name="a", kind="m3tr", checkpoint_path=None)
        with pytest.raises(registry.RegistryError, match="of kind 'mhp'"):
            registry.activate(s, "m3tr", t.id)
    with transaction(factory) as s:
        registry.activate(s, "m3tr", a.id)
    with transaction(factory) as s:
        registry.activate(s, "m3tr", b.id)
        registry.activate(s, "mhp", t.id, live_bank=registry.bank_for(s, t.id))
    with factory() as s:
        assert registry.active(s, "m3tr") == b and registry.active(s, "mhp") == t
        assert s.get(BankVersion, bank_id).is_live
        assert [v.name for v in registry.list_versions(s) if v.is_active] == ["t", "b"]
        assert registry.list_versions(s, "mhp")[0].live_bank == "bank_t"
    with transaction(factory) as s:
        assert registry.rollback(s, "m3tr") == a
    with transaction(factory) as s:  # a second rollback goes back again
        assert registry.rollback(s, "m3tr") == b
    with factory() as s:
        active = s.scalars(select(ModelVersion.name).where(ModelVersion.is_active)).all()
        assert sorted(active) == ["b", "t"]
    # the schema itself refuses a second active version of a kind, whoever writes it
    with pytest.raises(IntegrityError), transaction(factory) as s:
        s.get(ModelVersion, a.id).is_active = True
    with transaction(factory) as s:
        registry.deactivate(s, b.id)
    with factory() as s:
        assert registry.active(s, "m3tr") is None


def test_registry_on_sqlite(sqlite_url: str) -> None:
    _exercise(sqlite_url)


@pytest.mark.integration
def test_registry_on_postgres(pg_url: str) -> None:
    _exercise(pg_url)
