"""Bank items from SQL: payloads with final labels, skipping videos without a content vector."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from m3tr.core.db.models import Base, Label, Video
from m3tr.core.db.session import make_engine, make_session_factory, transaction
from m3tr.core.retrieval.sources import SourceReport, iter_bank_items


def test_items_carry_payloads_and_skip_missing_vectors(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        for i in range(5):
            v = Video(
                source="t",
                external_id=f"e{i}",
                split="train" if i < 3 else "test",
                matured=i != 1,
                published_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            )
            s.add(v)
            s.flush()
            s.add(Label(video_id=v.id, type="like", horizon_s=None, count=10 * i))
            s.add(Label(video_id=v.id, type="like", horizon_s=3600.0, count=i))  # not final
    report = SourceReport()
    items = list(
        iter_bank_items(
            factory,
            lambda videos: [None if v.external_id == "e2" else np.ones(4) for v in videos],
            lambda ids: [np.ones(3) if i % 2 else None for i in ids],
            batch_size=2,
            report=report,
        )
    )
    assert [it.payload["external_id"] for it in items] == ["e0", "e1", "e3", "e4"]
    first = items[0].payload
    assert first["labels"] == {"like": 0} and first["split"] == "train" and first["matured"]
    assert first["published_at"] == dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()
    assert items[1].payload["matured"] is False
    assert (report.seen, report.skipped_no_semantic) == (5, 1)
    assert report.no_temporal == sum(it.temporal is None for it in items)
    matured = list(
        iter_bank_items(factory, lambda vs: [np.ones(4)] * len(vs), None, matured_only=True)
    )
    assert len(matured) == 4 and all(it.temporal is None for it in matured)
