"""The instance templates: the default (SQLite) and the PostgreSQL one on the real server."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from orchestration.sensors import evaluate_arrivals
from resources.site_config import load_site_config
from resources.site_resource import SiteConfigResource
from resources.spool.store import SpoolStore
from tests.dicom_builder import CT_IMAGE
from tests.listener_site import write_site
from tests.orchestration import stub_graph
from tests.orchestration.sites import PG_HOST, PG_PORT, PG_USER, TEMPLATES


def _home_with(template: str, tmp_path: Path) -> Path:
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copyfile(TEMPLATES / template, home / "dagster.yaml")
    return home


def test_default_template_is_local_sqlite_queued_with_telemetry_off(tmp_path: Path) -> None:
    home = _home_with("dagster.yaml", tmp_path)
    assert yaml.safe_load((home / "dagster.yaml").read_text())["telemetry"] == {"enabled": False}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert "Sqlite" in type(instance.run_storage).__name__
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        assert instance.run_monitoring_enabled


@pytest.mark.postgres
def test_postgres_template_runs_jobs_and_keeps_sensor_state_in_postgres(
    tmp_path: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg2

    for key, value in {
        "DAGSTER_PG_HOST": PG_HOST,
        "DAGSTER_PG_PORT": str(PG_PORT),
        "DAGSTER_PG_USER": PG_USER,
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": postgres_database,
    }.items():
        monkeypatch.setenv(key, value)
    home = _home_with("dagster-postgres.yaml", tmp_path)
    config_path = write_site(tmp_path / "site")
    defs = stub_graph.stub_definitions(str(config_path))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert "Postgres" in type(instance.run_storage).__name__
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 1
        assert concurrency.run_queue_config is not None
        assert concurrency.run_queue_config.max_concurrent_runs == 8
        limits = {
            (t["key"], str(t.get("value"))) for t in concurrency.run_queue_config.tag_concurrency_limits
        }
        assert ("dicom-lake/path", "retrospective") in limits
        assert instance.run_monitoring_enabled

        # A pool limit set for `pacs` lives in the instance database.
        instance.event_log_storage.set_concurrency_slots("pacs", 2)
        assert instance.event_log_storage.get_concurrency_info("pacs").slot_count == 2

        job = defs.resolve_job_def("retrospective_pull_job")
        result = job.execute_in_process(partition_key="2026-11-09", instance=instance)
        assert result.success
        run_id = result.run_id

        # The prospective path on this instance: an arrival, a sensor tick, the requested run.
        spool = SpoolStore(load_site_config(config_path).paths.spool, fsync=False)
        spool.store(
            b"DICM",
            sop_instance_uid="1.2.3.1",
            sop_class_uid=CT_IMAGE,
            study_uid="1.2.3",
            series_uid="1.2.3.0",
            partition_key="2026-11-10",
            source="listener",
        )
        spool.close()
        context = dg.build_sensor_context(instance=instance)
        tick = evaluate_arrivals(
            context,
            SiteConfigResource(config_path=str(config_path)),
            now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
        )
        request = (tick.run_requests or [])[0]
        prospective = defs.resolve_job_def("prospective_processing_job").execute_in_process(
            partition_key=request.partition_key, instance=instance, tags=dict(request.tags)
        )
        assert prospective.success
    connection = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=postgres_database)
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
            assert cur.fetchone() == ("SUCCESS",)
            cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (run_id,))
            assert cur.fetchone()[0] > 0
            cur.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'")
            assert cur.fetchone() == (2,)
    finally:
        connection.close()
