"""Prospective path end to end: storescu forwards a generated corpus to the listener, the sensor
requests runs, the runs materialise the partitions, the warehouse holds each study once.

Runs on a local (SQLite) Dagster instance and on the PostgreSQL instance template.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from orchestration.jobs import ALL_JOBS
from orchestration.sensors import ALL_SENSORS, evaluate_arrivals
from resources.corpus import CorpusSpec, generate_corpus
from resources.site_config import SECRET_KEY_ENV_VAR, load_site_config
from resources.site_resource import SiteConfigResource
from tests.dcmtk_tools import require_dcmtk, run_storescu
from tests.listener_site import start_listener_in_process, write_site
from tests.orchestration.sites import PG_HOST, PG_PORT, PG_USER, TEMPLATES

START = dt.date(2026, 11, 9)


def project_definitions(config_path: Path) -> dg.Definitions:
    """The project's assets and resources (as in orchestration/definitions.py) on a test site file."""
    from assets import curation, deidentification, dose, reports, retrieval
    from resources.curation.resource import CurationResource
    from resources.deid.resource import DeidentificationResource
    from resources.dose.resource import DoseResource
    from resources.pacs.resource import PacsResource
    from resources.warehouse.resource import WarehouseResource

    site = SiteConfigResource(config_path=str(config_path))
    warehouse = WarehouseResource(site=site)
    modules = [retrieval, deidentification, curation, dose, reports]
    return dg.Definitions(
        assets=dg.load_assets_from_modules(modules),
        asset_checks=dg.load_asset_checks_from_modules(modules),
        jobs=ALL_JOBS,
        sensors=ALL_SENSORS,
        resources={
            "site": site,
            "pacs": PacsResource(site=site),
            "deid": DeidentificationResource(site=site, secret_key=dg.EnvVar(SECRET_KEY_ENV_VAR)),
            "warehouse": warehouse,
            "curation": CurationResource(site=site, warehouse=warehouse),
            "dose": DoseResource(site=site),
        },
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def instance(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    if request.param == "sqlite":
        with dg.instance_for_test() as local:
            yield local
        return
    database = request.getfixturevalue("postgres_database")
    for key, value in {
        "DAGSTER_PG_HOST": PG_HOST,
        "DAGSTER_PG_PORT": str(PG_PORT),
        "DAGSTER_PG_USER": PG_USER,
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": database,
    }.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "dagster-home"
    home.mkdir()
    shutil.copyfile(TEMPLATES / "dagster-postgres.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as postgres:
        yield postgres


@pytest.mark.dcmtk
@pytest.mark.slow
def test_forwarded_studies_reach_the_warehouse_once_each(
    instance: dg.DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_dcmtk("storescu")
    monkeypatch.setenv(SECRET_KEY_ENV_VAR, "operations-end-to-end-secret")
    spec = CorpusSpec(
        seed=11,
        n_studies=6,
        start_date=START,
        days=2,
        ct_images_per_series=2,
        plant_phi=False,
        opt_out_fraction=0.0,
    )
    manifest = generate_corpus(tmp_path / "pacs", spec)
    expected = {s["study_date"]: set() for s in manifest.studies}
    for study in manifest.studies:
        expected[study["study_date"]].add(study["study_uid"])
    files = sorted((tmp_path / "pacs").rglob("*.dcm"))

    config_path = write_site(tmp_path / "site", listener={"quiet_period_s": 30})
    config = load_site_config(config_path)
    defs = project_definitions(config_path)
    listener = start_listener_in_process(config)
    try:
        sent = run_storescu(listener.port, files, timeout=300)
        assert sent.returncode == 0, sent.stderr[-300:]
    finally:
        listener.close()

    site = SiteConfigResource(config_path=str(config_path))
    waiting = evaluate_arrivals(dg.build_sensor_context(instance=instance), site)
    assert not waiting.run_requests, "studies must settle for the quiet period first"
    settled = evaluate_arrivals(
        dg.build_sensor_context(instance=instance, cursor=waiting.cursor),
        site,
        now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=31),
    )
    requests = settled.run_requests or []
    assert sorted(r.partition_key or "" for r in requests) == sorted(expected)

    job = defs.resolve_job_def("prospective_processing_job")
    for request in requests:
        result = job.execute_in_process(
            partition_key=request.partition_key,
            instance=instance,
            tags=dict(request.tags),
            raise_on_error=False,
        )
        assert result.success, f"prospective run for {request.partition_key} failed"
    after = evaluate_arrivals(
        dg.build_sensor_context(instance=instance, cursor=settled.cursor),
        site,
        now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=62),
    )
    assert not after.run_requests, "successful runs are not requested again"

    warehouse = config.paths.root / "warehouse.sqlite"
    with sqlite3.connect(warehouse) as con:
        rows = con.execute("SELECT partition_key, study_instance_uid FROM study").fetchall()
    by_partition: dict[str, list[str]] = {}
    for partition, study_uid in rows:
        by_partition.setdefault(partition, []).append(study_uid)
    assert {p: len(u) for p, u in by_partition.items()} == {p: len(u) for p, u in expected.items()}
    assert len(rows) == len({uid for _, uid in rows}), "a study appears twice"
    source_uids = {uid for uids in expected.values() for uid in uids}
    assert not source_uids & {uid for _, uid in rows}, "warehouse study UIDs must be pseudonymised"
