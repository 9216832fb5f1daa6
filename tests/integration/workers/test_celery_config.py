"""The Celery configuration the deployment relies on (no broker needed)."""

from __future__ import annotations

from pathlib import Path

from m3tr.app.settings import Settings
from m3tr.workers.celery_app import TASK_QUEUES, celery_config, create_celery


def test_redis_deployment_acks_late_one_at_a_time_with_long_visibility(tmp_path: Path) -> None:
    conf = celery_config(
        Settings(home=tmp_path, broker_url="redis://redis:6379/0", visibility_timeout_s=21600)
    )
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["task_ignore_result"] and conf["result_backend"] is None
    assert conf["broker_transport_options"]["visibility_timeout"] == 21600
    assert conf["broker_url"] == "redis://redis:6379/0"
    assert "global_keyprefix" not in conf["broker_transport_options"]
    prefixed = celery_config(
        Settings(home=tmp_path, broker_url="redis://redis:6379/0", broker_key_prefix="site-a:")
    )
    assert prefixed["broker_transport_options"]["global_keyprefix"] == "site-a:"


def test_embedded_broker_is_the_filesystem_under_home(tmp_path: Path) -> None:
    conf = celery_config(Settings(home=tmp_path))
    assert conf["broker_url"] == "filesystem://"
    folder = Path(conf["broker_transport_options"]["data_folder_in"])
    assert folder.is_dir() and folder.is_relative_to(tmp_path.resolve())


def test_every_task_is_routed_and_registered(tmp_path: Path) -> None:
    app = create_celery(Settings(home=tmp_path))
    routes = app.conf.task_routes
    assert {routes[name]["queue"] for name in TASK_QUEUES} == {"cpu", "gpu"}
    assert routes["m3tr.embed_content"]["queue"] == "gpu"
    assert routes["m3tr.predict"]["queue"] == "cpu"
    assert set(TASK_QUEUES) <= set(app.tasks)


def test_tasks_and_queues_come_from_the_step_table() -> None:
    from m3tr.core.pipeline.steps import STEP_QUEUES, task_name
    from m3tr.workers.tasks import STEP_TASKS

    assert STEP_TASKS == {step: task_name(step) for step in STEP_QUEUES}
    assert TASK_QUEUES == {task_name(step): queue for step, queue in STEP_QUEUES.items()}
    assert TASK_QUEUES["m3tr.rebuild_bank"] == "gpu" and TASK_QUEUES["m3tr.store_media"] == "cpu"


def test_recovery_reads_waiting_job_ids_from_the_embedded_queue(workspace: Path) -> None:
    from m3tr.app.settings import get_settings
    from m3tr.workers.celery_app import broker_folders, reset_app
    from m3tr.workers.recovery import queued_job_ids
    from m3tr.workers.tasks import send_step

    reset_app()
    try:
        send_step(41, "predict")
        send_step(42, "embed_content")
        assert queued_job_ids(broker_folders(get_settings())["queue"]) == {41, 42}
    finally:
        reset_app()
