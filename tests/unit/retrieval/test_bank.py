"""Bank versions: build beside the live bank, switch in one row, refuse mixing, clean failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from m3tr.core.db.models import BankVersion, Base
from m3tr.core.db.session import make_engine, make_session_factory
from m3tr.core.retrieval.bank import (
    BankError,
    BankItem,
    add_to_bank,
    build_bank,
    delete_bank,
    list_banks,
    live_bank,
    remove_from_bank,
    set_live,
)
from m3tr.core.retrieval.edge_store import EdgeStore
from m3tr.core.retrieval.numpy_store import NumpyStore
from m3tr.core.retrieval.similarity import retrieve

DIMS = {"semantic": 8, "temporal": 4}


@pytest.fixture
def factory(tmp_path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bank.db'}")
    Base.metadata.create_all(engine)
    return make_session_factory(engine)


def _items(n: int, seed: int, start: int = 1, cold_every: int = 0) -> list[BankItem]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        tem = None if cold_every and i % cold_every == 0 else rng.standard_normal(4) * 3
        out.append(
            BankItem(
                start + i,
                rng.standard_normal(8) * 5,
                tem,
                {"split": "train", "matured": True, "labels": {"like": i}},
            )
        )
    return out


def test_build_is_not_live_and_counts_are_recorded(factory: sessionmaker[Session]) -> None:
    store = NumpyStore()
    info = build_bank(factory, store, _items(30, 0, cold_every=5), profile="lite", dims=DIMS)
    assert info.collection == f"bank_v{info.id}_lite" and not info.is_live
    other = build_bank(factory, store, [], profile="lite-v1+eventbins", dims=DIMS)
    assert other.collection == f"bank_v{other.id}_lite-v1_eventbins"
    assert other.encoder_profile == "lite-v1+eventbins"
    assert (info.n_videos, info.n_semantic, info.n_temporal) == (30, 30, 24)
    assert info.backend == "numpy"
    vec, _ = store.get_vectors(info.collection, [1, 2], "semantic")
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), 1.0, rtol=1e-6)  # normalised
    assert store.get_payloads(info.collection, [1])[0]["profile"] == "lite"
    assert live_bank(factory) is None


@pytest.mark.parametrize("backend", ["numpy", "qdrant-edge"])
def test_new_bank_never_mixes_with_live_and_switch_is_one_flip(
    factory: sessionmaker[Session], backend: str, tmp_path: Path
) -> None:
    store = NumpyStore() if backend == "numpy" else EdgeStore(tmp_path / "edge")
    old = build_bank(factory, store, _items(20, 0), profile="lite", dims=DIMS)
    set_live(factory, old.id)
    new = build_bank(factory, store, _items(10, 1, start=100), profile="paper", dims=DIMS)
    assert store.count(old.collection) == 20  # untouched by the new build
    assert live_bank(factory).id == old.id
    set_live(factory, new.id)
    assert live_bank(factory).id == new.id
    with factory() as s:
        assert [r.id for r in s.query(BankVersion).filter(BankVersion.is_live)] == [new.id]
    assert {b.id for b in list_banks(factory)} == {old.id, new.id}  # old stays until deleted
    q = _items(1, 9)[0]
    res = retrieve(store, live_bank(factory).collection, q.semantic, q.temporal, top_s=5)
    assert all(vid >= 100 for vid in res.video_ids)
    with pytest.raises(BankError, match="live"):
        delete_bank(factory, store, new.id)
    delete_bank(factory, store, old.id)
    assert not store.has_collection(old.collection)
    assert [b.id for b in list_banks(factory)] == [new.id]


def test_writing_another_profile_or_model_is_refused(factory: sessionmaker[Session]) -> None:
    store = NumpyStore()
    info = build_bank(factory, store, _items(5, 0), profile="lite", dims=DIMS)
    set_live(factory, info.id)
    with pytest.raises(BankError, match="profile 'paper'"):
        add_to_bank(factory, store, info.id, _items(2, 1, start=50), profile="paper")
    with pytest.raises(BankError, match="model"):
        add_to_bank(
            factory, store, info.id, _items(2, 1, start=50), profile="lite", model_version_id=7
        )
    mixed = BankItem(60, np.ones(8), None, {"profile": "paper"})
    with pytest.raises(BankError, match="cannot go into"):
        add_to_bank(factory, store, info.id, [mixed], profile="lite")
    assert store.count(info.collection) == 5
    grown = add_to_bank(factory, store, info.id, _items(3, 2, start=50), profile="lite")
    assert grown.n_videos == 8
    assert remove_from_bank(factory, store, info.id, [50, 51]).n_videos == 6


def test_failed_build_leaves_nothing(factory: sessionmaker[Session], tmp_path: Path) -> None:
    store = NumpyStore(tmp_path / "np")
    items = _items(10, 0)
    items.append(BankItem(999, np.zeros(8), None, {}))  # zero vector: cannot be normalised
    with pytest.raises(BankError, match="video 999"):
        build_bank(factory, store, iter(items), profile="lite", dims=DIMS, batch_size=4)
    assert list_banks(factory) == []
    assert store.list_collections() == []
    with pytest.raises(BankError, match="exactly"):
        build_bank(factory, store, items, profile="lite", dims={"semantic": 8})
