"""The nightly retrospective pull: yesterday's study date (``schedule.lag_days``), inside the window.

Built from the partitioned job, but the partition is chosen here: the study-date partitions end one
day in the future (today's studies may be pulled during the day), so "the last partition" would be
today rather than the finished day the nightly pull is meant for. With several sources, a tick asks
for that date of every source, each source's own ``retrieval.allowed_windows`` deciding for it.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from assets.partitions import partition_key_for
from orchestration.jobs import retrospective_pull_job
from resources.site_config import ScheduleSettings, SiteConfigError, load_site_config
from resources.site_resource import SiteConfigResource


def nightly_partition(scheduled: dt.datetime, *, lag_days: int, timezone: str) -> str:
    """The study date a nightly tick pulls: the tick's local date minus ``lag_days``."""
    local = scheduled.astimezone(ZoneInfo(timezone))
    return (local.date() - dt.timedelta(days=lag_days)).isoformat()


def build_nightly_schedule(settings: ScheduleSettings) -> dg.ScheduleDefinition:
    """The nightly schedule for ``settings.nightly_cron`` in ``settings.timezone``."""

    @dg.schedule(
        name="nightly_retrospective_pull",
        job=retrospective_pull_job,
        cron_schedule=settings.nightly_cron,
        execution_timezone=settings.timezone,
        description=(
            "Pulls the study date schedule.lag_days before the tick (default: yesterday) through the "
            "whole chain; skipped outside retrieval.allowed_windows."
        ),
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def nightly_retrospective_pull(
        context: dg.ScheduleEvaluationContext, site: SiteConfigResource
    ) -> dg.SkipReason | list[dg.RunRequest]:
        config = site.load()
        scheduled = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        local = scheduled.astimezone(ZoneInfo(config.schedule.timezone))
        day = nightly_partition(
            scheduled, lag_days=config.schedule.lag_days, timezone=config.schedule.timezone
        )
        requests: list[dg.RunRequest] = []
        outside: list[str] = []
        names: list[str | None] = [*config.partition_sources] or [None]
        for name in names:
            source = config.source_named(name)
            windows = source.retrieval.allowed_windows
            if windows and not any(w.contains(local.time()) for w in windows):
                outside.append(name or "the PACS")
                continue
            key = partition_key_for(day, source.partition_source)
            requests.append(
                dg.RunRequest(
                    run_key=f"nightly-{key}",
                    partition_key=key,
                    tags={"dicom-lake/path": "retrospective", "dicom-lake/trigger": "nightly"},
                )
            )
        if not requests:
            return dg.SkipReason(
                f"{local:%H:%M} {config.schedule.timezone} is outside retrieval.allowed_windows "
                f"({', '.join(outside)})"
            )
        return requests

    return nightly_retrospective_pull


def _settings_from_site_file() -> ScheduleSettings:
    # The cron and time zone must be known when the definitions load; the lag is read at each tick.
    try:
        return load_site_config().schedule
    except SiteConfigError:
        return ScheduleSettings()


ALL_SCHEDULES = [build_nightly_schedule(_settings_from_site_file())]
