from __future__ import annotations

import pytest

from m3tr.core.pipeline.plan import PlanError, next_step, plan_steps, step_progress


def test_ingest_plan_follows_params() -> None:
    full = {"upload_path": "a.mp4", "events_path": "a.csv"}
    assert plan_steps("ingest", full) == [
        "store_media",
        "store_events",
        "embed_content",
        "embed_temporal",
        "upsert_vectors",
        "predict",
    ]
    # an upload already stored by the web app (media and events in SQL), no prediction wanted
    assert plan_steps("ingest", {"predict": False}) == [
        "embed_content",
        "embed_temporal",
        "upsert_vectors",
    ]


def test_next_step_walks_the_plan_and_ends() -> None:
    params = {"events_path": "a.csv"}
    seen, step = [], next_step("ingest_events", params, None)
    while step is not None:
        seen.append(step)
        step = next_step("ingest_events", params, step)
    assert seen == plan_steps("ingest_events", params)
    assert step_progress("ingest_events", params, "upsert_vectors") == 0.5


def test_unknown_kinds_and_steps_are_refused() -> None:
    with pytest.raises(PlanError, match="no pipeline plan"):
        plan_steps("dance", {})
    with pytest.raises(PlanError, match="not part of"):
        next_step("predict", {}, "store_media")
    with pytest.raises(PlanError, match="events_path"):
        plan_steps("ingest_events", {})


def test_every_planned_step_is_in_the_step_table_with_a_queue_and_a_task() -> None:
    from m3tr.core.pipeline.steps import STEP_QUEUES, STEPS, task_name

    plans = [
        plan_steps("ingest", {"upload_path": "a.mp4", "events_path": "a.csv"}),
        plan_steps("ingest_events", {"events_path": "a.csv"}),
        plan_steps("predict", {}),
        plan_steps("reforecast", {}),
        plan_steps("rebuild_bank", {}),
        plan_steps("train", {}),
    ]
    assert {s for p in plans for s in p} == set(STEPS)  # every step is planned by some job
    assert set(STEP_QUEUES.values()) == {"cpu", "gpu"}
    assert task_name("embed_content") == "m3tr.embed_content"
    with pytest.raises(KeyError, match="unknown pipeline step"):
        task_name("embed_everything")
