"""``m3tr demo`` building blocks: import is idempotent and complete; the stage bar counts."""

from __future__ import annotations

from sqlalchemy import func, select

from m3tr.app.cli.demo import import_corpus, stage
from m3tr.core.db.models import Event, Label, Video
from m3tr.core.demo_corpus import make_corpus, write_clips
from tests.unit.ui.factories import make_services


def test_import_corpus_is_complete_and_idempotent(tmp_path):
    services, _ = make_services(tmp_path / "home")
    corpus = make_corpus(12, seed=5)
    paths = write_clips(corpus, tmp_path / "clips")
    seen: list[int] = []
    ids = import_corpus(services.sessions, corpus, paths, seed=5, progress=seen.append)
    assert len(ids) == 12 and seen[-1] == 12
    again = import_corpus(services.sessions, corpus, paths, seed=5, progress=lambda _: None)
    assert again == ids
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Video)) == 12
        assert s.scalar(select(func.count()).select_from(Event)) == sum(len(v.t) for v in corpus)
        assert s.scalar(select(func.count()).select_from(Label)) == 12 * 3
        video = s.get(Video, ids[0])
        assert video.matured and video.split in ("train", "test")
        assert video.extra["archetype"] == corpus[0].archetype
        assert video.media_path == str(paths[0].resolve())


def test_stage_accepts_a_total_found_later():
    with stage("steps", None) as advance:
        advance(3, 10)
        advance(10)
