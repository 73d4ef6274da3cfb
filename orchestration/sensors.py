"""Sensors: runs for what the listener received, and a clear summary when a run fails.

``prospective_arrivals`` turns settled listener arrivals into ``prospective_processing_job`` runs for
their study-date partitions. Its cursor (JSON) holds the arrival watermark and the run keys it is still
watching: a run that failed or was cancelled is requested again on the next tick (up to
``MAX_ATTEMPTS``), unless a later run of the same partition already succeeded.

``run_failure_summary`` writes one JSON line per failed run (job, partition, failed steps, steps that
completed, the error class) to ``<root>/run-failures.jsonl`` and the run log. Error messages are
included only for dicom-lake's own errors, whose messages name files and UIDs, never patient data.

``report_freshness`` (``orchestration/freshness.py``) keeps the whole-warehouse reports fresh.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.freshness import report_freshness
from orchestration.jobs import prospective_processing_job
from resources.errors import DicomLakeError
from resources.listener.arrivals import scan_arrivals
from resources.site_config import SiteConfig
from resources.site_resource import SiteConfigResource
from resources.spool.store import SpoolStore

MAX_ATTEMPTS = 3
ARRIVAL_KEY_TAG = "dicom-lake/arrival-key"
ATTEMPT_TAG = "dicom-lake/arrival-attempt"
FORGET_UNLAUNCHED_AFTER = dt.timedelta(days=1)
RUN_FAILURES_FILE = "run-failures.jsonl"
# Where our own code lives: a message is copied only from an error our code raised on purpose.
_OWN_PACKAGE_DIRS = tuple(
    f"{Path(__file__).resolve().parents[1] / package}/"
    for package in ("resources", "assets", "orchestration")
)
_FAILED = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


@dataclass
class WatchedRun:
    """A run this sensor requested and keeps watching until it succeeds."""

    run_key: str
    arrival_key: str
    partition_key: str
    attempt: int
    requested_at: str


@dataclass
class ArrivalCursor:
    watermark: str | None = None
    watching: list[WatchedRun] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None) -> ArrivalCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            watermark=data.get("watermark"), watching=[WatchedRun(**w) for w in data.get("watching", [])]
        )

    def dump(self) -> str:
        return json.dumps(
            {"watermark": self.watermark, "watching": [asdict(w) for w in self.watching]}, sort_keys=True
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _latest_run(instance: dg.DagsterInstance, arrival_key: str) -> dg.DagsterRun | None:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={ARRIVAL_KEY_TAG: arrival_key}), limit=1)
    return runs[0] if runs else None


def _partition_succeeded_since(
    instance: dg.DagsterInstance, partition_key: str, since: dg.DagsterRun
) -> bool:
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=prospective_processing_job.name,
            tags={"dagster/partition": partition_key},
            statuses=[dg.DagsterRunStatus.SUCCESS],
        ),
        limit=5,
    )
    started = instance.get_run_record_by_id(since.run_id)
    if started is None:
        return bool(records)
    return any(r.create_timestamp > started.create_timestamp for r in records)


def _run_request(
    partition_key: str, run_key: str, arrival_key: str, attempt: int, **tags: str
) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key,
        partition_key=partition_key,
        tags={ARRIVAL_KEY_TAG: arrival_key, ATTEMPT_TAG: str(attempt), **tags},
    )


def _quiet_period_s(config: SiteConfig) -> float:
    """How long a study must be quiet to count as settled: with several sources' listeners the
    longest of their quiet periods (one spool holds every listener's arrivals)."""
    listeners = [s.listener for s in config.sources if s.listener is not None] or [config.listener]
    return max(listener.quiet_period_s for listener in listeners)


def evaluate_arrivals(
    context: dg.SensorEvaluationContext, site: SiteConfigResource, now: dt.datetime | None = None
) -> dg.SensorResult:
    """The body of ``prospective_arrivals`` (``now`` is a parameter so tests can move time)."""
    config = site.load()
    now = now or _now()
    cursor = ArrivalCursor.parse(context.cursor)
    requests: list[dg.RunRequest] = []
    watching: list[WatchedRun] = []

    # 1. Runs requested earlier: drop the successes, request failed ones again.
    for watched in cursor.watching:
        run = _latest_run(context.instance, watched.arrival_key)
        if run is None:
            requested = dt.datetime.fromisoformat(watched.requested_at)
            if now - requested < FORGET_UNLAUNCHED_AFTER:
                watching.append(watched)
            else:
                context.log.warning(f"run {watched.run_key} was never launched; no longer watched")
            continue
        if run.status == dg.DagsterRunStatus.SUCCESS:
            continue
        if run.status not in _FAILED:
            watching.append(watched)
            continue
        if _partition_succeeded_since(context.instance, watched.partition_key, run):
            continue
        if watched.attempt >= MAX_ATTEMPTS:
            context.log.error(
                f"partition {watched.partition_key}: arrivals {watched.arrival_key} failed "
                f"{watched.attempt} times; not retried again (see run {run.run_id})"
            )
            continue
        attempt = watched.attempt + 1
        run_key = f"{watched.arrival_key}-attempt{attempt}"
        requests.append(_run_request(watched.partition_key, run_key, watched.arrival_key, attempt))
        watching.append(
            WatchedRun(run_key, watched.arrival_key, watched.partition_key, attempt, now.isoformat())
        )
        context.log.info(
            f"partition {watched.partition_key}: run {run.run_id} failed; requesting attempt {attempt}"
        )

    # 2. New arrivals that have settled.
    spool = SpoolStore(config.paths.spool)
    try:
        settled_before = (now - dt.timedelta(seconds=_quiet_period_s(config))).isoformat(
            timespec="microseconds"
        )
        scan = scan_arrivals(spool, after=cursor.watermark, settled_before=settled_before)
    finally:
        spool.close()
    for batch in scan.settled:
        requests.append(
            _run_request(
                batch.partition_key,
                batch.run_key,
                batch.run_key,
                1,
                **{
                    "dicom-lake/arrival-studies": str(batch.studies),
                    "dicom-lake/arrival-instances": str(batch.instances),
                },
            )
        )
        watching.append(WatchedRun(batch.run_key, batch.run_key, batch.partition_key, 1, now.isoformat()))
    if scan.settled or scan.unsettled_studies:
        context.log.info(
            f"{sum(b.studies for b in scan.settled)} settled studies in {len(scan.settled)} partition(s); "
            f"{scan.unsettled_studies} still arriving"
        )
    new_cursor = ArrivalCursor(watermark=scan.watermark, watching=watching).dump()
    if not requests:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"nothing settled ({scan.unsettled_studies} studies still arriving)"
                if scan.unsettled_studies
                else "no new arrivals"
            ),
            cursor=new_cursor,
        )
    return dg.SensorResult(run_requests=requests, cursor=new_cursor)


@dg.sensor(
    name="prospective_arrivals",
    job=prospective_processing_job,
    minimum_interval_seconds=30,
    description=(
        "Requests prospective_processing_job runs for the study-date partitions of studies the "
        "listener received, once no instance has arrived for listener.quiet_period_s; retries "
        f"failed runs up to {MAX_ATTEMPTS} attempts."
    ),
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def prospective_arrivals(context: dg.SensorEvaluationContext, site: SiteConfigResource) -> dg.SensorResult:
    return evaluate_arrivals(context, site)


# -- run failures ---------------------------------------------------------------------------------------
def _own_error_names() -> set[str]:
    """Names of every class of the DicomLakeError family loaded now (the Definitions load them all)."""
    names: set[str] = set()
    pending: list[type[BaseException]] = [DicomLakeError]
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return names


def _error_text(error: Any) -> dict[str, str]:
    if error is None:
        return {}
    # Dagster wraps user errors ("error occurred while executing op"): report the user error.
    while str(getattr(error, "cls_name", "")).startswith("Dagster") and getattr(error, "cause", None):
        error = error.cause
    out = {"error": str(getattr(error, "cls_name", None) or type(error).__name__)}
    message = str(getattr(error, "message", "") or "")
    # Our own errors (the DicomLakeError family) name files and UIDs only; anything else, or anything
    # raised outside our packages, may quote a value: class only.
    stack = "".join(getattr(error, "stack", []) or [])
    raised_by_us = out["error"] in _own_error_names() and any(folder in stack for folder in _OWN_PACKAGE_DIRS)
    if raised_by_us and message:
        first_line = message.strip().splitlines()[0]
        out["message"] = first_line.split(": ", 1)[-1][:300]
    return out


def summarise_failed_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict[str, Any]:
    """A PHI-free account of a failed run: where it stopped and with what kind of error."""
    completed: list[str] = []
    failed: list[dict[str, Any]] = []
    run_error: dict[str, str] = {}
    for record in instance.all_logs(run.run_id):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_SUCCESS and event.step_key:
            completed.append(event.step_key)
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE and event.step_key:
            data = event.event_specific_data
            failed.append({"step": event.step_key, **_error_text(getattr(data, "error", None))})
        elif event.event_type == dg.DagsterEventType.RUN_FAILURE:
            run_error = _error_text(getattr(event.event_specific_data, "error", None))
    return {
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get("dagster/partition"),
        "backfill": run.tags.get("dagster/backfill"),
        "sensor": run.tags.get("dagster/sensor_name"),
        "schedule": run.tags.get("dagster/schedule_name"),
        "failed_steps": failed,
        "completed_steps": completed,
        "run_error": run_error,
        "recorded_at": _now().isoformat(timespec="seconds"),
    }


def format_failure(summary: dict[str, Any]) -> str:
    where = f"partition {summary['partition']}" if summary.get("partition") else "unpartitioned"
    failed = ", ".join(
        f"{f['step']} ({f.get('error', '?')}{': ' + f['message'] if f.get('message') else ''})"
        for f in summary["failed_steps"]
    )
    done = ", ".join(summary["completed_steps"]) or "none"
    return (
        f"run {summary['run_id']} of {summary['job']} ({where}) failed; "
        f"failed: {failed or 'no step (run-level failure)'}; completed before it: {done}"
    )


@dg.run_failure_sensor(
    name="run_failure_summary",
    description="Writes a PHI-free summary of every failed run (where it stopped, error class) to "
    f"<root>/{RUN_FAILURES_FILE} and the sensor log.",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
)
def run_failure_summary(context: dg.RunFailureSensorContext, site: SiteConfigResource) -> None:
    summary = summarise_failed_run(context.instance, context.dagster_run)
    context.log.error(format_failure(summary))
    append_failure(Path(site.load().paths.root) / RUN_FAILURES_FILE, summary)


def append_failure(path: Path, summary: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(summary, sort_keys=True) + "\n")


ALL_SENSORS = [prospective_arrivals, run_failure_summary, report_freshness]
