"""Runs on the celery executor: two RabbitMQ-backed workers, a PostgreSQL instance, the demo PACS.

Several partitions run at once, each in its own orchestrating process (as the queued run coordinator
launches them), their steps taken by either worker; the `pacs` pool holds across all of them; the
warehouse equals the single-process result row for row. A worker killed mid-step loses nothing, and
an instance database that cannot be reached stops everything with one clear line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from orchestration.executors import STORE_IDENTITY_TAG
from tests.peers import free_port
from tests.scale.cluster import bin_path, launch_run, run_partitions
from tests.scale.conftest import SECRET, Deployment, write_site
from tests.scale.evidence import (
    PACS_STEPS,
    max_overlap,
    runs_of,
    spool_counts,
    start_pids,
    step_entries,
    step_intervals,
    warehouse_rows,
)

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq, pytest.mark.slow]


@pytest.fixture(scope="module")
def reference(deployment: Deployment) -> Iterator[Deployment]:
    """The same partitions run in one process (in-process executor) into the reference warehouse."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DICOM_LAKE_CONFIG", str(deployment.reference_site))
        patch.setenv("DICOM_LAKE_SECRET_KEY", SECRET)
        patch.delenv("DICOM_LAKE_WAREHOUSE_URL", raising=False)
        patch.delenv("DICOM_LAKE_EXECUTOR", raising=False)
        from orchestration.definitions import defs

        job = defs.resolve_job_def("retrospective_pull_job")
        with dg.DagsterInstance.ephemeral() as instance:
            for partition in deployment.partitions:
                result = job.execute_in_process(partition_key=partition, instance=instance)
                assert result.success, partition
    yield deployment


def _log_tails(deployment: Deployment) -> str:
    logs = sorted((deployment.root / "logs").glob("*.log"))
    return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in logs)


def test_partitions_spread_over_both_workers_within_the_pool_and_match_one_process(
    instance_env: Deployment, reference: Deployment
) -> None:
    deployment = instance_env
    partitions = deployment.partitions[:3]
    codes = run_partitions(deployment.env, partitions, deployment.root / "logs", timeout_s=240)
    assert codes == dict.fromkeys(partitions, 0), _log_tails(deployment)

    with dg.DagsterInstance.get() as instance:
        pool_limit = instance.get_concurrency_config().pool_config.default_pool_limit
        runs = [run for p in partitions for run in runs_of(instance, p)]
        entries = [e for run in runs for e in step_entries(instance, run.run_id)]
    assert len(runs) == 3
    assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
    # Each run recorded the data zones its orchestrating process saw.
    assert all(STORE_IDENTITY_TAG in run.tags for run in runs)

    # Every step ran in a worker, and both workers took steps.
    workers = {w.pid for w in deployment.cluster.workers}
    assert set(start_pids(entries)) == workers

    # Never more PACS-facing steps at once than the pool allows, across the three runs.
    assert pool_limit == 1
    intervals = step_intervals(entries, PACS_STEPS)
    assert len(intervals) == 2 * len(partitions)
    assert max_overlap(intervals) <= pool_limit
    # The runs were in progress together, so the limit had something to hold back.
    spans = []
    for run in runs:
        times = [e.timestamp for e in entries if e.run_id == run.run_id]
        spans.append((min(times), max(times)))
    assert max_overlap(spans) >= 2

    distributed = warehouse_rows(deployment.warehouse, partitions)
    single = warehouse_rows(reference.reference_warehouse, partitions)
    assert distributed["study"], "the partitions must hold studies"
    assert {t: len(r) for t, r in distributed.items()} == {t: len(r) for t, r in single.items()}
    assert distributed == single


def _wait_for_start(partition: str, step: str, process: subprocess.Popen[bytes], timeout_s: float) -> int:
    """The pid of the process that started ``step`` in the partition's run."""
    deadline = time.monotonic() + timeout_s
    with dg.DagsterInstance.get() as instance:
        while time.monotonic() < deadline:
            for run in runs_of(instance, partition):
                pids = start_pids(step_entries(instance, run.run_id), step)
                if pids:
                    return pids[0]
            assert process.poll() is None, f"the run ended before {step} started"
            time.sleep(0.1)
    raise AssertionError(f"{step} did not start within {timeout_s} s")


def test_a_worker_killed_mid_step_is_replaced_and_the_partition_ends_complete(
    instance_env: Deployment, reference: Deployment
) -> None:
    deployment = instance_env
    partition = deployment.partitions[3]
    # Spaced moves keep the retrieval step busy for seconds, long enough to kill its worker in it.
    write_site(
        deployment.site_file,
        pacs_port=deployment.pacs_port,
        lake_port=deployment.lake_port,
        warehouse=deployment.warehouse,
        max_moves_per_minute=30,
    )
    try:
        process = launch_run(deployment.env, partition, deployment.root / "logs" / f"run-{partition}.log")
        victim = _wait_for_start(partition, "retrieved_instances", process, timeout_s=90)
        assert victim in {w.pid for w in deployment.cluster.workers}
        time.sleep(1.0)
        os.kill(victim, signal.SIGKILL)
        assert process.wait(timeout=180) == 0, _log_tails(deployment)
    finally:
        write_site(
            deployment.site_file,
            pacs_port=deployment.pacs_port,
            lake_port=deployment.lake_port,
            warehouse=deployment.warehouse,
        )

    with dg.DagsterInstance.get() as instance:
        (run,) = runs_of(instance, partition)
        entries = step_entries(instance, run.run_id)
        assert run.status == dg.DagsterRunStatus.SUCCESS
    starts = start_pids(entries, "retrieved_instances")
    survivor = next(w.pid for w in deployment.cluster.workers if w.pid != victim)
    # Started on the killed worker, then again on the other one, which finished it.
    assert starts == [victim, survivor]
    assert start_pids(entries, "effective_dose") == [survivor]

    # Nothing doubled: the partition is what one process made of it, in the warehouse and the spool.
    assert warehouse_rows(deployment.warehouse, [partition]) == warehouse_rows(
        reference.reference_warehouse, [partition]
    )
    assert spool_counts(deployment.site_file, [partition]) == spool_counts(
        deployment.reference_site, [partition]
    )


def test_an_unreachable_instance_database_stops_with_one_clear_line_and_loses_nothing(
    deployment: Deployment,
) -> None:
    closed = str(free_port())
    env = {**deployment.env, "DAGSTER_PG_PORT": closed}
    before = warehouse_rows(deployment.warehouse, deployment.partitions)

    started = subprocess.run(
        [bin_path("dicom-lake"), "worker", "--name", "unreachable"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 2
    last = started.stderr.strip().splitlines()[-1]
    assert last.startswith("dicom-lake: error: "), started.stderr[-1000:]
    assert f"{Path(env['DAGSTER_HOME']) / 'dagster.yaml'}: cannot reach the Dagster instance" in last
    assert closed in last

    # A run cannot start without its instance; the warehouse keeps every row it had.
    run = launch_run(env, deployment.partitions[0], deployment.root / "logs" / "run-unreachable.log")
    assert run.wait(timeout=180) != 0
    assert warehouse_rows(deployment.warehouse, deployment.partitions) == before
