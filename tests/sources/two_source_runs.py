"""The project's Definitions on a two-source site file, driven in a process of their own.

The partitions definition is fixed when ``assets`` is imported (from ``$DICOM_LAKE_CONFIG``), so a test
whose own process imported the assets for a one-source site cannot see date x source partitions; it
starts this module instead, with the two-source site file in the environment::

    python -m tests.sources.two_source_runs describe OUT.json
    python -m tests.sources.two_source_runs run OUT.json KEY [KEY ...]
    python -m tests.sources.two_source_runs tick OUT.json 2026-11-11T01:00:00+00:00

``run`` materialises ``retrospective_pull_job`` for each key on the instance of ``$DAGSTER_HOME`` with
the job's own executor, Dagster's default, tagged as Dagster tags a run of that partition. The default
executor is asked for its in-process mode: in its multiprocess mode every one of the job's 14 steps
starts a process that imports the project again, and one run took over four minutes on the shared
two-core test machine; steps in other processes are what tests/scale/test_two_sources_celery.py
covers. Results are written as JSON to OUT.json.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import dagster as dg

JOB = "retrospective_pull_job"
IN_PROCESS: dict[str, Any] = {"execution": {"config": {"in_process": {}}}}
SCHEDULE = "nightly_retrospective_pull"


def retrospective_pull_job() -> dg.JobDefinition:
    """The job as the project's Definitions resolve it (their resources and executor)."""
    from orchestration.definitions import defs

    return defs.resolve_job_def(JOB)


def describe() -> dict[str, Any]:
    from assets.partitions import study_date_partitions
    from orchestration.definitions import defs

    job = defs.resolve_job_def(JOB)
    partitions = job.partitions_def
    out: dict[str, Any] = {
        "module_partitions": type(study_date_partitions).__name__,
        "job_partitions": type(partitions).__name__,
    }
    if isinstance(partitions, dg.MultiPartitionsDefinition):
        out["dimensions"] = {d.name: type(d.partitions_def).__name__ for d in partitions.partitions_defs}
        source = next(d for d in partitions.partitions_defs if d.name == "source")
        out["sources"] = list(source.partitions_def.get_partition_keys())
    return out


def run(keys: list[str]) -> dict[str, Any]:
    # The step processes rebuild the job from this module by its name, not from ``__main__``.
    target = importlib.import_module("tests.sources.two_source_runs").retrospective_pull_job
    job = retrospective_pull_job()
    assert job.partitions_def is not None, f"{JOB} is not partitioned"
    runs = []
    with dg.DagsterInstance.get() as instance:
        for key in keys:
            tags = dict(job.partitions_def.get_tags_for_partition_key(key))
            result = dg.execute_job(
                dg.reconstructable(target),
                instance,
                run_config=IN_PROCESS,
                tags=tags,
            )
            run = instance.get_run_by_id(result.run_id)
            runs.append(
                {
                    "key": key,
                    "run_id": result.run_id,
                    "success": result.success,
                    "tags": dict(run.tags) if run else {},
                }
            )
    return {"runs": runs}


def tick(at: dt.datetime) -> dict[str, Any]:
    from orchestration.definitions import defs
    from resources.site_resource import SiteConfigResource

    schedule = defs.resolve_schedule_def(SCHEDULE)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=at,
            resources={"site": SiteConfigResource()},
            repository_def=defs.get_repository_def(),
        )
        result = schedule.evaluate_tick(context)
    return {
        "requests": [
            {"partition_key": r.partition_key, "run_key": r.run_key, "tags": dict(r.tags)}
            for r in result.run_requests or []
        ],
        "skip": result.skip_message,
    }


def main(argv: list[str]) -> int:
    command, out, *rest = argv
    if command == "describe":
        result = describe()
    elif command == "run":
        result = run(rest)
    elif command == "tick":
        result = tick(dt.datetime.fromisoformat(rest[0]))
    else:
        raise SystemExit(f"unknown command {command!r}")
    Path(out).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
