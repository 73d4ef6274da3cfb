"""Two sources on the celery executor: a backfill over the demo PACS and Orthanc as date x source
partitions, run by two RabbitMQ-backed workers against a PostgreSQL Dagster instance.

The backfill is what an operator starts (``dicom-lake backfill``); its runs are queued and the
Dagster daemon dequeues them under the scale template's run limit of one run per
``dagster/partition/source`` value, with the ``pacs`` pool set to the number of sources. Asserted
from the instance's event log: both workers took steps (their pids), no source ever had more than one
PACS-facing step in progress (STEP_START to STEP_SUCCESS, grouped by the run's source tag), and the two
sources did run side by side. The warehouse must equal a single-process run of the same partitions
row for row.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from tests.peers import free_port
from tests.scale.cluster import (
    BROKER,
    REPO_ROOT,
    Cluster,
    bin_path,
    dagster_home,
    private_databases,
    warehouse_url,
)
from tests.scale.conftest import delete_queues, require_peers
from tests.scale.evidence import (
    PACS_STEPS,
    max_overlap,
    runs_of,
    start_pids,
    step_entries,
    step_intervals,
    warehouse_rows,
)
from tests.sources.two_sources import (
    DAY_KEYS,
    DEMO,
    DEMO_PACS_AE,
    LAKE_AE,
    ORTHANC,
    SECRET,
    SOURCES,
    SourcePeer,
    all_keys,
    make_corpus,
    write_two_source_site,
)

# The fixture's set-up (reference run, workers, daemon, backfill) took 340 s at a load average of 10
# on the shared two-core machine: above pytest's default 600 s limit under heavier load.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.rabbitmq,
    pytest.mark.orthanc,
    pytest.mark.slow,
    pytest.mark.timeout(900),
]

SOURCE_TAG = "dagster/partition/source"
BACKFILL_TIMEOUT_S = 420
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@dataclass
class TwoSourceCluster:
    root: Path
    env: dict[str, str]
    cluster: Cluster
    warehouse: str
    reference_warehouse: str
    backfill: subprocess.CompletedProcess[str]
    runs: list[dg.DagsterRun]
    entries: list[dg.EventLogEntry]
    pacs_pool_limit: int | None

    def log_tails(self) -> str:
        logs = sorted((self.root / "logs").glob("*.log"))
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in logs)


def _base_env(site_file: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DICOM_LAKE_CONFIG": str(site_file),
        "DICOM_LAKE_SECRET_KEY": SECRET,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    for name in ("DICOM_LAKE_EXECUTOR", "DICOM_LAKE_WAREHOUSE_URL", "DICOM_LAKE_PARTITIONS_START"):
        env.pop(name, None)
    return env


def _start_single_process_reference(root: Path, site_file: Path) -> subprocess.Popen[bytes]:
    """Every partition run in one process (the in-process executor, a local instance)."""
    home = root / "reference-home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "orchestration" / "instance" / "dagster.yaml", home / "dagster.yaml")
    (root / "logs").mkdir(exist_ok=True)
    handle = (root / "logs" / "reference.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.sources.two_source_runs",
            "run",
            str(root / "reference.json"),
            *all_keys(),
        ],
        env={**_base_env(site_file), "DAGSTER_HOME": str(home)},
        cwd=REPO_ROOT,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    handle.close()
    return process


def _finish_single_process_reference(root: Path, process: subprocess.Popen[bytes]) -> None:
    code = process.wait(timeout=600)
    assert code == 0, (root / "logs" / "reference.log").read_text(errors="replace")[-3000:]
    runs = json.loads((root / "reference.json").read_text())["runs"]
    assert all(r["success"] for r in runs), runs


def _start_daemon(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The Dagster daemon (queued runs, run monitoring and retries) on the project's code.

    Loaded from workspace.yaml as the README's deployment and ``dicom-lake backfill`` load it, so the
    backfill's runs name the code location the daemon knows (``dicom_lake``).
    """
    handle = log.open("wb")
    daemon = subprocess.Popen(
        [bin_path("dagster-daemon"), "run", "-w", str(REPO_ROOT / "workspace.yaml")],
        env=env,
        cwd=REPO_ROOT,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its code server and run processes share its process group
    )
    handle.close()
    return daemon


def _stop_daemon(daemon: subprocess.Popen[bytes]) -> None:
    if daemon.poll() is None:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=10)
    # A code server waiting on a run process outlives the daemon's SIGTERM: end what is left of the
    # group this test started.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(daemon.pid, signal.SIGKILL)


def _wait_for_runs(keys: list[str], timeout_s: float) -> list[dg.DagsterRun]:
    deadline = time.monotonic() + timeout_s
    with dg.DagsterInstance.get() as instance:
        while True:
            runs = [run for key in keys for run in runs_of(instance, key)]
            done = len(runs) >= len(keys) and all(run.status in FINISHED for run in runs)
            if done or time.monotonic() > deadline:
                return runs
            time.sleep(1.0)


@pytest.fixture(scope="module")
def backfilled(orthanc: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoSourceCluster]:
    require_peers()
    from resources.pacs.demo_pacs import DemoPacs

    root = tmp_path_factory.mktemp("two-sources-celery")
    demo = make_corpus(root / "demo-archive", seed=41, n_studies=4)
    orthanc.peer.clear()
    orthanc.peer.upload(make_corpus(root / "orthanc-archive", seed=43, n_studies=2).files())
    demo_lake_port = free_port()
    pacs = DemoPacs(demo.folder, DEMO_PACS_AE, known_destinations={LAKE_AE: ("127.0.0.1", demo_lake_port)})
    peers = {
        DEMO: SourcePeer(pacs.start(), DEMO_PACS_AE, demo_lake_port),
        ORTHANC: SourcePeer(orthanc.peer.dicom_port, orthanc.peer.ae_title, orthanc.lake_port),
    }
    prefix = f"dicom-lake-test-{uuid.uuid4().hex[:8]}-"
    cluster: Cluster | None = None
    daemon: subprocess.Popen[bytes] | None = None
    reference: subprocess.Popen[bytes] | None = None
    try:
        with private_databases("instance", "warehouse", "reference") as db:
            reference_site = write_two_source_site(
                root / "reference" / "dicom-lake.yaml", peers, warehouse=warehouse_url(db["reference"])
            )
            site_file = write_two_source_site(
                root / "site" / "dicom-lake.yaml", peers, warehouse=warehouse_url(db["warehouse"])
            )
            env = {
                **_base_env(site_file),
                **dagster_home(root / "dagster-home", db["instance"]),
                "DICOM_LAKE_EXECUTOR": "celery",
                "DICOM_LAKE_CELERY_BROKER": BROKER,
                "DICOM_LAKE_CELERY_QUEUE_PREFIX": prefix,
            }
            # The template's instruction: the `pacs` pool set to the number of sources.
            subprocess.run(
                [bin_path("dagster"), "instance", "concurrency", "set", "pacs", str(len(SOURCES))],
                env=env,
                cwd=REPO_ROOT,
                check=True,
                capture_output=True,
                timeout=120,
            )
            # The reference runs while the workers and the daemon start (they touch no PACS until
            # the backfill, which waits for it: each source's C-MOVEs go to its one storage port).
            reference = _start_single_process_reference(root, reference_site)
            # The reports' freshness sensor would start report runs on the workers once partitions
            # land: work outside the backfill measured here.
            subprocess.run(
                [
                    bin_path("dagster"),
                    "sensor",
                    "stop",
                    "-w",
                    str(REPO_ROOT / "workspace.yaml"),
                    "report_freshness",
                ],
                env=env,
                cwd=REPO_ROOT,
                check=True,
                capture_output=True,
                timeout=180,
            )
            daemon = _start_daemon(env, root / "logs" / "daemon.log")
            cluster = Cluster(env=env, logs=root / "logs")
            # Names unique on the shared broker: a worker's control queue is named after it.
            cluster.start_worker(f"{prefix}w1", timeout_s=180)
            cluster.start_worker(f"{prefix}w2", timeout_s=180)
            _finish_single_process_reference(root, reference)
            backfill = subprocess.run(
                [bin_path("dicom-lake"), "backfill", "--from", DAY_KEYS[0], "--to", DAY_KEYS[-1]],
                env=env,
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=180,
            )
            with pytest.MonkeyPatch.context() as patch:
                for key in (
                    "DAGSTER_HOME",
                    "DAGSTER_PG_HOST",
                    "DAGSTER_PG_PORT",
                    "DAGSTER_PG_USER",
                    "DAGSTER_PG_DB",
                ):
                    patch.setenv(key, env[key])
                patch.setenv("DAGSTER_PG_PASSWORD", "")
                runs = _wait_for_runs(all_keys(), BACKFILL_TIMEOUT_S) if backfill.returncode == 0 else []
                with dg.DagsterInstance.get() as instance:
                    runs = [instance.get_run_by_id(r.run_id) or r for r in runs]
                    entries = [e for run in runs for e in step_entries(instance, run.run_id)]
                    pool_limit = instance.event_log_storage.get_concurrency_info("pacs").slot_count
            _stop_daemon(daemon)
            yield TwoSourceCluster(
                root=root,
                env=env,
                cluster=cluster,
                warehouse=warehouse_url(db["warehouse"]),
                reference_warehouse=warehouse_url(db["reference"]),
                backfill=backfill,
                runs=runs,
                entries=entries,
                pacs_pool_limit=pool_limit,
            )
            cluster.stop()
    finally:
        if reference is not None and reference.poll() is None:
            reference.kill()
            reference.wait(timeout=30)
        if daemon is not None:
            _stop_daemon(daemon)
        if cluster is not None:
            cluster.stop()
        pacs.stop()
        delete_queues(prefix)


def test_a_backfill_of_two_sources_spreads_over_both_workers_one_pacs_step_per_source(
    backfilled: TwoSourceCluster,
) -> None:
    done = backfilled
    assert done.backfill.returncode == 0, done.backfill.stdout[-1500:] + done.backfill.stderr[-1500:]
    # One run per date x source key, every one from the backfill and successful.
    assert sorted(run.tags["dagster/partition"] for run in done.runs) == sorted(all_keys()), done.log_tails()
    assert {run.status for run in done.runs} == {dg.DagsterRunStatus.SUCCESS}, done.log_tails()
    assert all("dagster/backfill" in run.tags for run in done.runs)
    for run in done.runs:
        assert run.tags[SOURCE_TAG] == run.tags["dagster/partition"].split("|")[1]

    # Every step ran in a worker, and both workers took steps.
    assert set(start_pids(done.entries)) == {w.pid for w in done.cluster.workers}

    # Per source: never more than one PACS-facing step in progress (the run limit per source).
    assert done.pacs_pool_limit == len(SOURCES)
    spans: dict[str, list[tuple[float, float]]] = {}
    for source in SOURCES:
        run_ids = {run.run_id for run in done.runs if run.tags[SOURCE_TAG] == source}
        entries = [e for e in done.entries if e.run_id in run_ids]
        intervals = step_intervals(entries, PACS_STEPS)
        assert len(intervals) == len(PACS_STEPS) * len(DAY_KEYS), source
        assert max_overlap(intervals) <= 1, (source, intervals)
        for run_id in run_ids:
            times = [e.timestamp for e in entries if e.run_id == run_id]
            spans.setdefault(source, []).append((min(times), max(times)))
    # All sources together stayed within the pool, and a run of each source was in progress at the
    # same time: the limit is each source's, not one for everything.
    overall = max_overlap(step_intervals(done.entries, PACS_STEPS))
    assert overall <= len(SOURCES)
    assert any(
        start < other_end and other_start < end
        for start, end in spans[DEMO]
        for other_start, other_end in spans[ORTHANC]
    ), spans
    first = min(start for runs in spans.values() for start, _ in runs)
    last = max(end for runs in spans.values() for _, end in runs)
    print(f"backfill of {len(done.runs)} runs: {last - first:.0f} s; PACS steps at once: {overall}")


def test_the_two_source_warehouse_equals_the_single_process_result(backfilled: TwoSourceCluster) -> None:
    distributed = warehouse_rows(backfilled.warehouse, all_keys())
    single = warehouse_rows(backfilled.reference_warehouse, all_keys())
    assert distributed["study"], "the partitions must hold studies"
    assert {t: len(r) for t, r in distributed.items()} == {t: len(r) for t, r in single.items()}
    assert distributed == single
