"""Benchmark: the whole chain on the celery executor with 1 and 2 workers, over >= 20,000 instances.

A header-only corpus (no Pixel Data: the chain reads headers only, and generating and moving 20,000
full images would measure the disk, not the chain) is served by the demo PACS; a backfill of its
study dates runs as one orchestrating process per partition (at most ``--parallel-runs`` at once, as
the queued run coordinator would launch them) against a PostgreSQL instance on the scale template
and a PostgreSQL warehouse, with ``dicom-lake worker`` processes on RabbitMQ taking the steps. For
each retrieval policy (metadata, full) and worker count it prints:

- instances per second per stage: instances retrieved / the summed step time of that stage (the rate
  of one worker busy with that stage), and the backfill's wall-clock rate;
- the speed-up of the second worker (wall time with 1 / wall time with 2);
- peak memory (VmHWM) of each worker after each quarter of the partitions (flat: no growth);
- PostgreSQL rows per second: warehouse rows written / summed time of the curation and dose steps.

The PACS-facing steps share the ``pacs`` pool (limit 1), so retrieval does not scale with workers;
everything after it does. Usage:
``python benchmarks/scale.py [--studies 600] [--images-per-series 40] [--days 8] [--workers 1 2]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import dagster as dg  # noqa: E402

from resources.corpus import CorpusSpec, generate_corpus  # noqa: E402
from resources.warehouse.store import Warehouse  # noqa: E402
from tests.peers import free_port  # noqa: E402
from tests.scale.cluster import (  # noqa: E402
    BROKER,
    Cluster,
    dagster_home,
    launch_run,
    private_databases,
    warehouse_url,
)
from tests.scale.conftest import LAKE_AE, PACS_AE, delete_queues, write_site  # noqa: E402
from tests.scale.evidence import runs_of, spool_counts, step_entries, step_intervals  # noqa: E402

START = dt.date(2026, 11, 9)
STAGES = {
    "retrieval": frozenset({"pacs_study_index", "retrieved_instances"}),
    "deidentification": frozenset({"deidentified_instances", "deidentified_instances_phi_leak_check"}),
    "curation": frozenset({"curated_instances"}),
    "dose": frozenset({"ct_dose_events", "study_dose", "effective_dose"}),
}
WRITING = STAGES["curation"] | STAGES["dose"]


def vm_hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return 0.0
    return 0.0


def run_backfill(
    env: dict[str, str], partitions: list[str], logs: Path, parallel: int, cluster: Cluster
) -> dict:
    """Run every partition, at most ``parallel`` at once; peaks of the workers after each quarter."""
    pending = list(partitions)
    running: dict[str, Any] = {}
    failed: list[str] = []
    done = 0
    peaks: list[list[float]] = []
    marks = {max(1, round(len(partitions) * q / 4)) for q in (1, 2, 3, 4)}
    began = time.monotonic()
    while pending or running:
        while pending and len(running) < parallel:
            partition = pending.pop(0)
            running[partition] = launch_run(env, partition, logs / f"run-{partition}.log")
        for partition, process in list(running.items()):
            if process.poll() is not None:
                del running[partition]
                done += 1
                if process.returncode != 0:
                    failed.append(partition)
                if done in marks:
                    peaks.append([round(vm_hwm_mb(w.pid), 1) for w in cluster.workers])
        time.sleep(0.2)
    return {"wall_s": time.monotonic() - began, "failed": failed, "peaks_mb": peaks}


def stage_seconds(partitions: list[str]) -> dict[str, float]:
    totals = dict.fromkeys(STAGES, 0.0)
    totals["writing"] = 0.0
    with dg.DagsterInstance.get() as instance:
        entries = [
            e for p in partitions for run in runs_of(instance, p) for e in step_entries(instance, run.run_id)
        ]
    for stage, steps in STAGES.items():
        totals[stage] = sum(end - start for start, end in step_intervals(entries, steps))
    totals["writing"] = sum(end - start for start, end in step_intervals(entries, WRITING))
    return totals


def one_configuration(
    corpus: Path, pacs_port: int, lake_port: int, policy: str, workers: int, args: argparse.Namespace
) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix=f"scale-{policy}-{workers}w-"))
    prefix = f"dicom-lake-bench-{uuid.uuid4().hex[:8]}-"
    partitions = [(START + dt.timedelta(days=i)).isoformat() for i in range(args.days)]
    try:
        with private_databases("instance", "warehouse") as db:
            site_file = write_site(
                root / "site" / "dicom-lake.yaml",
                pacs_port=pacs_port,
                lake_port=lake_port,
                warehouse=warehouse_url(db["warehouse"]),
            )
            text = site_file.read_text().replace("policy: metadata", f"policy: {policy}")
            site_file.write_text(text)
            home_env = dagster_home(root / "dagster-home", db["instance"])
            os.environ.update(home_env)
            env = {
                **os.environ,
                "DICOM_LAKE_CONFIG": str(site_file),
                "DICOM_LAKE_SECRET_KEY": "scale-benchmark-secret-0123456789",
                "DICOM_LAKE_EXECUTOR": "celery",
                "DICOM_LAKE_CELERY_BROKER": BROKER,
                "DICOM_LAKE_CELERY_QUEUE_PREFIX": prefix,
            }
            env.pop("DICOM_LAKE_WAREHOUSE_URL", None)
            cluster = Cluster(env=env, logs=root / "logs")
            try:
                for i in range(workers):
                    cluster.start_worker(f"bench{i + 1}")
                result = run_backfill(env, partitions, root / "logs", args.parallel_runs, cluster)
            finally:
                cluster.stop()
            instances = sum(spool_counts(site_file, partitions).values())
            warehouse = Warehouse(warehouse_url(db["warehouse"]))
            try:
                rows = sum(warehouse.row_counts().values())
            finally:
                warehouse.dispose()
            seconds = stage_seconds(partitions)
    finally:
        delete_queues(prefix)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    per_stage = {s: round(instances / seconds[s], 1) if seconds[s] else None for s in STAGES}
    return {
        "policy": policy,
        "workers": workers,
        "partitions": len(partitions),
        "instances": instances,
        "failed_partitions": result["failed"],
        "wall_s": round(result["wall_s"], 1),
        "wall_instances_per_s": round(instances / result["wall_s"], 1),
        "stage_instances_per_s": per_stage,
        "stage_seconds": {s: round(v, 1) for s, v in seconds.items()},
        "warehouse_rows": rows,
        "postgres_rows_per_s": round(rows / seconds["writing"], 1) if seconds["writing"] else None,
        "worker_peak_mb_by_quarter": result["peaks_mb"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--studies", type=int, default=600)
    parser.add_argument("--images-per-series", type=int, default=40)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--policies", nargs="+", default=["metadata", "full"])
    parser.add_argument("--parallel-runs", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args()

    from resources.pacs.demo_pacs import DemoPacs

    corpus = Path(tempfile.mkdtemp(prefix="scale-corpus-"))
    spec = CorpusSpec(
        seed=2026,
        n_studies=args.studies,
        start_date=START,
        days=args.days,
        ct_images_per_series=args.images_per_series,
        header_only=True,
    )
    began = time.monotonic()
    generate_corpus(corpus, spec)
    files = sum(1 for _ in corpus.rglob("*.dcm"))
    print(
        f"corpus: {files} header-only instances, {args.studies} studies, {args.days} days "
        f"({time.monotonic() - began:.0f} s to generate)",
        flush=True,
    )
    lake_port = free_port()
    pacs = DemoPacs(corpus, PACS_AE, known_destinations={LAKE_AE: ("127.0.0.1", lake_port)})
    pacs_port = pacs.start()
    results: list[dict[str, Any]] = []
    try:
        for policy in args.policies:
            for workers in args.workers:
                result = one_configuration(corpus, pacs_port, lake_port, policy, workers, args)
                results.append(result)
                print(json.dumps(result), flush=True)
    finally:
        pacs.stop()
        shutil.rmtree(corpus, ignore_errors=True)
    print(f"\n{'policy':9} {'workers':>7} {'instances':>9} {'wall s':>7} {'inst/s':>7}  per stage (inst/s)")
    for r in results:
        stages = ", ".join(f"{s} {v}" for s, v in r["stage_instances_per_s"].items())
        print(
            f"{r['policy']:9} {r['workers']:>7} {r['instances']:>9} {r['wall_s']:>7} "
            f"{r['wall_instances_per_s']:>7}  {stages}; PostgreSQL {r['postgres_rows_per_s']} rows/s"
        )
    for policy in args.policies:
        by_workers = {r["workers"]: r for r in results if r["policy"] == policy}
        if 1 in by_workers and 2 in by_workers:
            speed_up = by_workers[1]["wall_s"] / by_workers[2]["wall_s"]
            print(f"{policy}: speed-up of the second worker {speed_up:.2f}x")
    return 1 if any(r["failed_partitions"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
