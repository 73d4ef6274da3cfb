"""Jobs, schedule and sensors on the asset graph's contract (stand-in assets, real Dagster instance)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from orchestration.schedules import nightly_partition
from orchestration.sensors import (
    ARRIVAL_KEY_TAG,
    ATTEMPT_TAG,
    RUN_FAILURES_FILE,
    ArrivalCursor,
    evaluate_arrivals,
    run_failure_summary,
)
from resources.site_config import load_site_config
from resources.site_resource import SiteConfigResource
from resources.spool.store import SpoolStore
from tests.dicom_builder import CT_IMAGE
from tests.listener_site import write_site
from tests.orchestration import stub_graph

DAY = "20261109"
OTHER_DAY = "20261110"


@pytest.fixture()
def config_path(tmp_path: Path) -> Path:
    return write_site(tmp_path / "site", listener={"quiet_period_s": 60})


@pytest.fixture()
def defs(config_path: Path) -> dg.Definitions:
    return stub_graph.stub_definitions(str(config_path))


@pytest.fixture()
def spool(config_path: Path) -> Iterator[SpoolStore]:
    store = SpoolStore(load_site_config(config_path).paths.spool, fsync=False)
    yield store
    store.close()


@pytest.fixture(autouse=True)
def _fresh_state() -> Iterator[None]:
    from dagster._core.definitions.definitions_load_context import DefinitionsLoadContext

    # Some test helpers leave a process-wide load context / state storage pointing at a closed test
    # instance; a Definitions resolved in a later test would read from it.
    from dagster._core.storage.defs_state.base import _current_storage

    DefinitionsLoadContext._instance = None
    _current_storage.set(None)
    stub_graph.FAILING_PARTITIONS.clear()
    yield
    stub_graph.FAILING_PARTITIONS.clear()
    DefinitionsLoadContext._instance = None


def receive(spool: SpoolStore, study: str, n: int, date: str, source: str = "listener") -> None:
    for i in range(n):
        partition = f"{date[:4]}-{date[4:6]}-{date[6:]}"
        spool.store(
            b"DICM",
            sop_instance_uid=f"{study}.{i}",
            sop_class_uid=CT_IMAGE,
            study_uid=study,
            series_uid=f"{study}.1",
            partition_key=partition,
            source=source,
        )


def tick(
    instance: dg.DagsterInstance, config_path: Path, cursor: str | None, now: dt.datetime
) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return evaluate_arrivals(context, SiteConfigResource(config_path=str(config_path)), now=now)


def later(seconds: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


# -- definitions ---------------------------------------------------------------------------------------
def test_every_job_schedule_and_sensor_resolves(defs: dg.Definitions) -> None:
    jobs = {job.name: job for job in defs.resolve_all_job_defs()}
    retro = {k.to_user_string() for k in jobs["retrospective_pull_job"].asset_layer.executable_asset_keys}
    prosp = {k.to_user_string() for k in jobs["prospective_processing_job"].asset_layer.executable_asset_keys}
    reports = {k.to_user_string() for k in jobs["reports_job"].asset_layer.executable_asset_keys}
    assert retro == {name for name, _ in stub_graph.PARTITIONED_CHAIN}
    assert prosp == retro - {"pacs_study_index", "retrieved_instances"}
    assert reports == {"drl_audit", "patient_cumulative_dose"}
    assert jobs["retrospective_pull_job"].partitions_def is not None
    assert defs.resolve_schedule_def("nightly_retrospective_pull").job_name == "retrospective_pull_job"
    assert defs.resolve_sensor_def("prospective_arrivals").job_name == "prospective_processing_job"
    assert defs.resolve_sensor_def("run_failure_summary") is not None


def test_project_definitions_load_with_every_job_schedule_and_sensor() -> None:
    from orchestration.definitions import defs as project_defs

    names = {job.name for job in project_defs.resolve_all_job_defs()}
    assert {"retrospective_pull_job", "prospective_processing_job", "reports_job"} <= names
    project_defs.resolve_schedule_def("nightly_retrospective_pull")
    project_defs.resolve_sensor_def("prospective_arrivals")
    project_defs.resolve_sensor_def("run_failure_summary")


# -- schedule --------------------------------------------------------------------------------------------
def test_nightly_schedule_pulls_yesterday_by_default(defs: dg.Definitions, config_path: Path) -> None:
    schedule = defs.resolve_schedule_def("nightly_retrospective_pull")
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=dt.datetime(2026, 11, 22, 1, 0, tzinfo=dt.UTC),
            resources={"site": SiteConfigResource(config_path=str(config_path))},
            repository_def=defs.get_repository_def(),
        )
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests or []] == ["2026-11-21"]
    assert nightly_partition(dt.datetime(2026, 11, 22, 0, 30, tzinfo=dt.UTC), lag_days=2, timezone="UTC") == (
        "2026-11-20"
    )
    # Local midnight matters, not UTC's: 23:30 UTC on the 21st is already the 22nd in Berlin.
    assert nightly_partition(
        dt.datetime(2026, 11, 21, 23, 30, tzinfo=dt.UTC), lag_days=1, timezone="Europe/Berlin"
    ) == ("2026-11-21")


def test_nightly_schedule_skips_outside_the_allowed_window(tmp_path: Path) -> None:
    path = write_site(tmp_path / "site", retrieval={"allowed_windows": ["20:00-06:00"]})
    defs = stub_graph.stub_definitions(str(path))
    schedule = defs.resolve_schedule_def("nightly_retrospective_pull")
    with dg.instance_for_test() as instance:
        noon = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC),
            resources={"site": SiteConfigResource(config_path=str(path))},
            repository_def=defs.get_repository_def(),
        )
        result = schedule.evaluate_tick(noon)
    assert not result.run_requests
    assert "outside retrieval.allowed_windows" in (result.skip_message or "")


# -- prospective arrivals --------------------------------------------------------------------------------
def test_only_settled_studies_get_runs_one_per_partition(spool: SpoolStore, config_path: Path) -> None:
    receive(spool, "1.2.1", 3, DAY)
    receive(spool, "1.2.2", 2, DAY)
    receive(spool, "1.2.3", 4, OTHER_DAY)
    receive(spool, "1.2.9", 5, DAY, source="pacs")  # retrieval's instances are not arrivals
    with dg.instance_for_test() as instance:
        early = tick(instance, config_path, None, later(1))
        assert not early.run_requests
        assert "3 studies still arriving" in (early.skip_reason.skip_message if early.skip_reason else "")

        settled = tick(instance, config_path, None, later(61))
        requests = settled.run_requests or []
        assert sorted(r.partition_key or "" for r in requests) == ["2026-11-09", "2026-11-10"]
        by_partition = {r.partition_key: r for r in requests}
        assert by_partition["2026-11-09"].tags["dicom-lake/arrival-studies"] == "2"
        assert by_partition["2026-11-09"].tags["dicom-lake/arrival-instances"] == "5"
        # Run keys and tags never carry a study UID.
        assert all("1.2." not in json.dumps([r.run_key, r.tags]) for r in requests)


def test_study_still_receiving_is_not_settled_while_another_is(spool: SpoolStore, config_path: Path) -> None:
    receive(spool, "1.2.1", 2, DAY)
    with dg.instance_for_test() as instance:
        first = tick(instance, config_path, None, later(61))
        assert [r.partition_key for r in first.run_requests or []] == ["2026-11-09"]
        receive(spool, "1.2.2", 2, DAY)  # arrives now: 60 s quiet period not over
        second = tick(instance, config_path, first.cursor, later(30))
        assert not second.run_requests
        third = tick(instance, config_path, second.cursor, later(61))
        assert [r.partition_key for r in third.run_requests or []] == ["2026-11-09"]
        assert third.run_requests and first.run_requests
        assert third.run_requests[0].run_key != first.run_requests[0].run_key


def test_cursor_survives_a_restart_nothing_missed_nothing_repeated(
    spool: SpoolStore, config_path: Path
) -> None:
    receive(spool, "1.2.1", 2, DAY)
    with dg.instance_for_test() as instance:
        first = tick(instance, config_path, None, later(61))
        assert len(first.run_requests or []) == 1
        saved_cursor = first.cursor
    # "Restart": a new instance, new context, only the saved cursor carried over.
    receive(spool, "1.2.5", 1, OTHER_DAY)
    with dg.instance_for_test() as instance:
        after = tick(instance, config_path, saved_cursor, later(61))
        assert [r.partition_key for r in after.run_requests or []] == ["2026-11-10"]
        again = tick(instance, config_path, after.cursor, later(120))
        assert not again.run_requests


def test_same_arrivals_give_the_same_run_key(spool: SpoolStore, config_path: Path) -> None:
    receive(spool, "1.2.1", 2, DAY)
    with dg.instance_for_test() as instance:
        one = tick(instance, config_path, None, later(61))
        two = tick(instance, config_path, None, later(90))  # a re-evaluated tick (daemon restart)
    keys_one = [r.run_key for r in one.run_requests or []]
    assert keys_one and keys_one == [r.run_key for r in two.run_requests or []]


def test_sensor_definition_evaluates_with_the_site_resource(tmp_path: Path) -> None:
    path = write_site(tmp_path / "site", listener={"quiet_period_s": 0})
    store = SpoolStore(load_site_config(path).paths.spool, fsync=False)
    receive(store, "1.2.1", 2, DAY)
    store.close()
    defs = stub_graph.stub_definitions(str(path))
    sensor = defs.resolve_sensor_def("prospective_arrivals")
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(
            instance=instance,
            resources={"site": SiteConfigResource(config_path=str(path))},
            repository_def=defs.get_repository_def(),
        ) as context,
    ):
        result = sensor.evaluate_tick(context)
    assert [r.partition_key for r in result.run_requests or []] == ["2026-11-09"]
    assert result.cursor and ArrivalCursor.parse(result.cursor).watermark


def _execute(
    defs: dg.Definitions, instance: dg.DagsterInstance, partition: str, tags: dict[str, str]
) -> bool:
    job = defs.resolve_job_def("prospective_processing_job")
    result = job.execute_in_process(
        partition_key=partition, instance=instance, tags=tags, raise_on_error=False
    )
    return result.success


def test_failed_arrival_run_is_requested_again_next_tick(
    spool: SpoolStore, defs: dg.Definitions, config_path: Path
) -> None:
    receive(spool, "1.2.1", 2, DAY)
    stub_graph.FAILING_PARTITIONS.add("2026-11-09")
    with dg.instance_for_test() as instance:
        first = tick(instance, config_path, None, later(61))
        request = (first.run_requests or [])[0]
        assert not _execute(defs, instance, "2026-11-09", dict(request.tags))

        retry = tick(instance, config_path, first.cursor, later(62))
        retried = retry.run_requests or []
        assert len(retried) == 1
        assert retried[0].partition_key == "2026-11-09"
        assert retried[0].tags[ARRIVAL_KEY_TAG] == request.tags[ARRIVAL_KEY_TAG]
        assert retried[0].tags[ATTEMPT_TAG] == "2"
        assert retried[0].run_key != request.run_key

        stub_graph.FAILING_PARTITIONS.clear()
        assert _execute(defs, instance, "2026-11-09", dict(retried[0].tags))
        done = tick(instance, config_path, retry.cursor, later(63))
        assert not done.run_requests
        assert ArrivalCursor.parse(done.cursor).watching == []


def test_run_failure_summary_says_where_it_stopped_without_patient_data(
    defs: dg.Definitions, config_path: Path
) -> None:
    stub_graph.FAILING_PARTITIONS.add("2026-11-09")
    with dg.instance_for_test() as instance:
        job = defs.resolve_job_def("prospective_processing_job")
        result = job.execute_in_process(partition_key="2026-11-09", instance=instance, raise_on_error=False)
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        failure = next(
            e.dagster_event
            for e in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            if e.dagster_event
        )
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_summary",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=run,
            resources={"site": SiteConfigResource(config_path=str(config_path))},
        ).for_run_failure()
        run_failure_summary(context)
    text = (load_site_config(config_path).paths.root / RUN_FAILURES_FILE).read_text()
    summary = json.loads(text.splitlines()[-1])
    assert summary["job"] == "prospective_processing_job"
    assert summary["partition"] == "2026-11-09"
    assert [f["step"] for f in summary["failed_steps"]] == ["deidentified_instances"]
    assert summary["failed_steps"][0]["error"] == "ValueError"
    assert stub_graph.PHI_LIKE_TEXT.split("^")[0] not in text
