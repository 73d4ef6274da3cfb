"""The broker restarted in the middle of a backfill on the celery executor: the backfill completes.

A RabbitMQ node of the test's own (see tests/scale/broker_node.py: the machine's broker is shared)
carries the steps of a backfill of several partitions; while a PACS-facing step runs in a worker the
node is restarted with ``rabbitmqctl stop_app`` / ``start_app``. Every partition must end
materialised, the warehouse must equal the single-process result row for row (no step's writes
doubled by a redelivery), and the event log must show the restart fell inside a step's execution.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from resources.corpus import CorpusSpec, generate_corpus
from tests.peers import free_port
from tests.scale.broker_node import BrokerNode, rabbitmq_installed
from tests.scale.cluster import Cluster, dagster_home, launch_run, private_databases, warehouse_url
from tests.scale.conftest import LAKE_AE, PACS_AE, SECRET, require_peers, write_site
from tests.scale.evidence import runs_of, spool_counts, step_entries, step_intervals, warehouse_rows

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.slow]

START = dt.date(2026, 11, 9)
DAYS = 2


@dataclass
class Restartable:
    root: Path
    env: dict[str, str]
    broker: BrokerNode
    cluster: Cluster
    site_file: Path
    reference_site: Path
    warehouse: str
    reference_warehouse: str
    partitions: list[str]


@pytest.fixture(scope="module")
def restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restartable]:
    require_peers()
    if not rabbitmq_installed():
        pytest.skip("no RabbitMQ server installed to start a node of the test's own (rabbitmq-server)")
    from resources.pacs.demo_pacs import DemoPacs

    root = tmp_path_factory.mktemp("broker-restart")
    spec = CorpusSpec(
        seed=29,
        n_studies=6,
        start_date=START,
        days=DAYS,
        ct_images_per_series=2,
        header_only=True,
        opt_out_fraction=0.0,
    )
    generate_corpus(root / "pacs", spec)
    lake_port = free_port()
    pacs = DemoPacs(root / "pacs", PACS_AE, known_destinations={LAKE_AE: ("127.0.0.1", lake_port)})
    pacs_port = pacs.start()
    broker = BrokerNode(root / "rabbitmq")
    partitions = [(START + dt.timedelta(days=i)).isoformat() for i in range(DAYS)]
    cluster: Cluster | None = None
    try:
        broker.start()
        with private_databases("instance", "warehouse", "reference") as db:
            site = write_site(
                root / "site" / "dicom-lake.yaml",
                pacs_port=pacs_port,
                lake_port=lake_port,
                warehouse=warehouse_url(db["warehouse"]),
                # Spaced moves keep the retrieval steps busy for seconds: long enough to restart in.
                max_moves_per_minute=30,
            )
            reference_site = write_site(
                root / "reference" / "dicom-lake.yaml",
                pacs_port=pacs_port,
                lake_port=lake_port,
                warehouse=warehouse_url(db["reference"]),
            )
            env = {
                **os.environ,
                **dagster_home(root / "dagster-home", db["instance"]),
                "DICOM_LAKE_CONFIG": str(site),
                "DICOM_LAKE_SECRET_KEY": SECRET,
                "DICOM_LAKE_EXECUTOR": "celery",
                "DICOM_LAKE_CELERY_BROKER": broker.url,
                "DICOM_LAKE_CELERY_QUEUE_PREFIX": f"dicom-lake-test-{uuid.uuid4().hex[:8]}-",
            }
            env.pop("DICOM_LAKE_WAREHOUSE_URL", None)
            cluster = Cluster(env=env, logs=root / "logs")
            # The workers start (seconds of imports each) while this process runs the reference; one
            # after the other, since the first one creates the instance's tables.
            with ThreadPoolExecutor(max_workers=1) as pool:
                starting = pool.submit(lambda: [cluster.start_worker(name) for name in ("w1", "w2")])
                _run_reference(reference_site, partitions)
                starting.result()
            yield Restartable(
                root=root,
                env=env,
                broker=broker,
                cluster=cluster,
                site_file=site,
                reference_site=reference_site,
                warehouse=warehouse_url(db["warehouse"]),
                reference_warehouse=warehouse_url(db["reference"]),
                partitions=partitions,
            )
            cluster.stop()
    finally:
        if cluster is not None:
            cluster.stop()
        pacs.stop()
        broker.stop()


def _run_reference(site: Path, partitions: list[str]) -> None:
    """The same partitions run in one process (in-process executor) into the reference warehouse."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DICOM_LAKE_CONFIG", str(site))
        patch.setenv("DICOM_LAKE_SECRET_KEY", SECRET)
        patch.delenv("DICOM_LAKE_WAREHOUSE_URL", raising=False)
        patch.delenv("DICOM_LAKE_EXECUTOR", raising=False)
        from orchestration.definitions import defs

        job = defs.resolve_job_def("retrospective_pull_job")
        with dg.DagsterInstance.ephemeral() as instance:
            for partition in partitions:
                result = job.execute_in_process(partition_key=partition, instance=instance)
                assert result.success, partition


def _log_tails(root: Path) -> str:
    logs = sorted((root / "logs").glob("*.log"))
    return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in logs)


@pytest.fixture()
def instance_env(restartable: Restartable, monkeypatch: pytest.MonkeyPatch) -> Restartable:
    """This process pointed at the deployment's instance (to read its event log)."""
    for key in ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_DB"):
        monkeypatch.setenv(key, restartable.env[key])
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "")
    return restartable


# The step the broker is restarted in: spaced moves keep it running for seconds.
RESTARTED_IN = "retrieved_instances"
# How long the broker stays stopped (its restart adds a few seconds more).
OUTAGE_S = 2.0


@dataclass(frozen=True)
class Outage:
    asked: float  # stop_app called
    down: float  # stop_app returned: no connection to the broker from here on
    back: float  # start_app returned and an AMQP connection succeeded


def _started_not_ended(instance: dg.DagsterInstance, partitions: list[str], step: str) -> bool:
    for partition in partitions:
        for run in runs_of(instance, partition):
            kinds = [
                e.dagster_event.event_type
                for e in step_entries(instance, run.run_id)
                if e.step_key == step and e.dagster_event
            ]
            if kinds == [dg.DagsterEventType.STEP_START]:
                return True
    return False


def _restart(broker: BrokerNode) -> Outage:
    """``rabbitmqctl stop_app``, a pause, ``start_app``; the broker is back and healthy afterwards,
    whatever failed in between."""
    asked = time.time()
    try:
        broker.stop_app()
        down = time.time()
        time.sleep(OUTAGE_S)
    finally:
        broker.start_app()
    return Outage(asked=asked, down=down, back=time.time())


def _received_twice(logs: Path) -> set[str]:
    """Task ids some worker received more than once (a delivery repeated after the restart)."""
    ids: list[str] = []
    for log in logs.glob("w*.log"):
        ids += re.findall(r"Task execute_plan\[([0-9a-f-]+)\] received", log.read_text(errors="replace"))
    return {task for task in ids if ids.count(task) > 1}


def test_a_broker_restarted_mid_backfill_lets_every_partition_complete_once(
    instance_env: Restartable,
) -> None:
    deployment = instance_env
    partitions = deployment.partitions
    logs = deployment.root / "logs"
    processes = {p: launch_run(deployment.env, p, logs / f"run-{p}.log") for p in partitions}
    try:
        with dg.DagsterInstance.get() as instance:
            deadline = time.monotonic() + 120
            while not _started_not_ended(instance, partitions, RESTARTED_IN):
                assert time.monotonic() < deadline, (
                    f"{RESTARTED_IN} never started: {_log_tails(deployment.root)}"
                )
                assert all(p.poll() is None for p in processes.values()), _log_tails(deployment.root)
                time.sleep(0.1)
        outage = _restart(deployment.broker)
        codes = {p: process.wait(timeout=150) for p, process in processes.items()}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
        if not deployment.broker.healthy():
            deployment.broker.start_app()
    assert codes == dict.fromkeys(partitions, 0), _log_tails(deployment.root)

    from orchestration.definitions import defs

    job_assets = defs.resolve_job_def("retrospective_pull_job").asset_layer.selected_asset_keys
    with dg.DagsterInstance.get() as instance:
        runs = {p: runs_of(instance, p) for p in partitions}
        entries = [e for found in runs.values() for run in found for e in step_entries(instance, run.run_id)]
        materialised = {
            p: {
                record.asset_key
                for run in found
                for record in instance.get_records_for_run(
                    run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
                ).records
            }
            for p, found in runs.items()
        }
    # The backfill completed: one run per partition, each a success that materialised every asset.
    assert {p: [r.status for r in found] for p, found in runs.items()} == {
        key: [dg.DagsterRunStatus.SUCCESS] for key in partitions
    }
    assert materialised == {key: set(job_assets) for key in partitions}

    # The restart fell inside a step's execution, and the runs went on through the restarted broker.
    spans = step_intervals(entries, frozenset({RESTARTED_IN}))
    assert any(start < outage.down and end > outage.down for start, end in spans), (outage, spans)
    starts = [
        e for e in entries if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.STEP_START
    ]
    assert any(e.timestamp > outage.back for e in starts)
    # The broker handed a task out again after the restart, yet every step ran once.
    assert _received_twice(logs), _log_tails(deployment.root)
    keys = [(e.run_id, e.step_key) for e in starts]
    assert sorted(keys) == sorted(set(keys))

    # Nothing doubled: the partitions are what one process made of them.
    distributed = warehouse_rows(deployment.warehouse, partitions)
    single = warehouse_rows(deployment.reference_warehouse, partitions)
    assert distributed["study"], "the partitions must hold studies"
    assert {t: len(r) for t, r in distributed.items()} == {t: len(r) for t, r in single.items()}
    assert distributed == single
    assert spool_counts(deployment.site_file, partitions) == spool_counts(
        deployment.reference_site, partitions
    )


def test_step_results_are_kept_in_the_instance_database_unless_a_backend_is_named() -> None:
    from orchestration.executors import instance_database_backend

    env = {
        "DAGSTER_PG_HOST": "db.example",
        "DAGSTER_PG_PORT": "5433",
        "DAGSTER_PG_USER": "dagster",
        "DAGSTER_PG_PASSWORD": "p@ss/w:rd",
        "DAGSTER_PG_DB": "dagster",
    }
    assert (
        instance_database_backend(env)
        == "db+postgresql+psycopg2://dagster:p%40ss%2Fw%3Ard@db.example:5433/dagster"
    )
    assert instance_database_backend({**env, "DAGSTER_PG_PASSWORD": ""}) == (
        "db+postgresql+psycopg2://dagster@db.example:5433/dagster"
    )
    # One machine, no PostgreSQL instance: no database backend (rpc:// then).
    assert instance_database_backend({k: v for k, v in env.items() if k != "DAGSTER_PG_HOST"}) is None
