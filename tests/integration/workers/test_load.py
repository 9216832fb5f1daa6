"""Load: generated videos with event logs through the real pipeline on PostgreSQL + Redis.

200 videos by default (``M3TR_LOAD_N`` to change); it runs in CI (the issue asks for it there).
Throughput is recorded by ``m3tr bench ingestion`` in benchmarks/results/ingestion.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from m3tr.bench.ingestion import load_env, run_load
from tests.integration.workers.conftest import REDIS_URL, redis_or_skip

pytestmark = [pytest.mark.integration]


def test_generated_videos_all_ready_without_duplicates(pg_url: str, tmp_path: Path) -> None:
    from m3tr.app.migrate import upgrade

    redis_or_skip()
    upgrade(pg_url)
    n = int(os.environ.get("M3TR_LOAD_N", "200"))
    env = load_env(tmp_path / "home", pg_url, REDIS_URL)
    result = run_load(n, tmp_path, env, concurrency=2)
    print(result)
    assert result.ready == n and result.jobs_done == n and result.jobs_failed == 0
    assert result.predictions == n and result.duplicate_predictions == 0
    assert result.events == result.events_expected
    assert result.vectors == n
    assert result.videos_per_s > 0
