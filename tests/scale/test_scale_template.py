"""The scale instance template on the real PostgreSQL server, and the choice of executor."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from orchestration.executors import (
    EXECUTOR_ENV_VAR,
    QUEUE_PREFIX_ENV_VAR,
    ExecutorSettingError,
    celery_settings,
    project_celery_app,
    project_executor,
    queue_name,
)
from tests.scale.cluster import dagster_home, private_databases
from tests.scale.conftest import require_peers


@pytest.mark.postgres
def test_scale_template_is_postgres_queued_op_pools_monitoring_and_retries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_peers()
    with private_databases("template") as db:
        for key, value in dagster_home(tmp_path / "home", db["template"]).items():
            monkeypatch.setenv(key, value)
        with dg.DagsterInstance.get() as instance:
            assert "Postgres" in type(instance.run_storage).__name__
            assert "Postgres" in type(instance.event_log_storage).__name__
            assert "Postgres" in type(instance.schedule_storage).__name__
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            pools = instance.get_concurrency_config().pool_config
            assert pools.default_pool_limit == 1  # one C-MOVE destination port per AE title
            assert pools.pool_granularity is not None and pools.pool_granularity.value == "op"
            assert instance.run_monitoring_enabled
            assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
            # A limit set for the archive's pool is kept in the instance database.
            instance.event_log_storage.set_concurrency_slots("pacs", 3)
            assert instance.event_log_storage.get_concurrency_info("pacs").slot_count == 3


def test_the_executor_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EXECUTOR_ENV_VAR, raising=False)
    assert project_executor() is None
    monkeypatch.setenv(EXECUTOR_ENV_VAR, "celery")
    executor = project_executor()
    assert executor is not None and executor.name == "dicom_lake_celery"
    monkeypatch.setenv(EXECUTOR_ENV_VAR, "dask")
    with pytest.raises(ExecutorSettingError, match="DICOM_LAKE_EXECUTOR"):
        project_executor()


def test_both_sides_declare_the_same_queues_and_late_acknowledgement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(QUEUE_PREFIX_ENV_VAR, "staging-")
    assert queue_name("pacs") == "staging-pacs"
    app = project_celery_app("amqp://guest:guest@127.0.0.1:5672//", "rpc://", "staging-")
    names = {q.name for q in app.conf.task_queues}
    assert names == {"staging-pacs", "staging-cpu", "staging-dagster"}
    assert app.conf.task_default_queue == "staging-dagster"
    # A step survives its worker: acknowledged when it ends, given back when its worker dies.
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.worker_prefetch_multiplier == 1
    assert celery_settings()["task_acks_late"] is True
