"""Activity: studies, series and instances per modality, scanner, institution and body region, per
source day, week and month, and the hour-of-week pattern per modality.

Days, weeks and months are the SOURCE calendar's (the partition key, the source study date), never the
de-identified shifted dates; the weekday of the heatmap is the source date's, the hour is the study's
time of day (kept by the whole-day date shift).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from resources.analytics import plots
from resources.analytics.result import Analysis
from resources.analytics.sources import device_series, study, study_scanner
from resources.analytics.sql import Period, day_of, fetch, hour_of, month_of, week_start, weekday

KEY = "activity"
TITLE = "Activity"
DIMENSIONS = ("modality", "station", "institution", "body_region_name")


def _counts(ds: sa.Subquery, period_column: sa.ColumnElement[Any], label: str) -> sa.Select[Any]:
    keys = [period_column.label(label), *(ds.c[d] for d in DIMENSIONS)]
    return (
        sa.select(
            *keys,
            sa.func.count(sa.distinct(ds.c.study_instance_uid)).label("studies"),
            sa.func.count().label("series"),
            sa.func.coalesce(sa.func.sum(ds.c.n_instances), 0).label("instances"),
        )
        .group_by(*keys)
        .order_by(*keys)
    )


def build(connection: sa.Connection, period: Period) -> Analysis:
    ds = device_series(period)
    per_day = fetch(connection, _counts(ds, day_of(ds.c.partition_key), "day"), "activity per day")
    per_week = fetch(
        connection, _counts(ds, week_start(day_of(ds.c.partition_key)), "week"), "activity per week"
    )
    month = month_of(ds.c.partition_key).label("month")
    per_month = fetch(
        connection,
        sa.select(
            month,
            ds.c.modality,
            sa.func.count(sa.distinct(ds.c.study_instance_uid)).label("studies"),
            sa.func.coalesce(sa.func.sum(ds.c.n_instances), 0).label("instances"),
        )
        .group_by(month, ds.c.modality)
        .order_by(month, ds.c.modality),
        "activity per month",
    )
    scanned = study_scanner(period)
    slot = [
        scanned.c.modality,
        weekday(day_of(scanned.c.partition_key)).label("weekday"),
        hour_of(scanned.c.study_time).label("hour"),
    ]
    hour_of_week = fetch(
        connection,
        sa.select(*slot, sa.func.count().label("studies"))
        .where(scanned.c.study_time.is_not(None))
        .group_by(*slot)
        .order_by(*slot),
        "studies per hour of week",
    )
    totals = fetch(
        connection,
        sa.select(
            sa.func.count().label("studies"),
            sa.func.coalesce(sa.func.sum(study.c.n_series), 0).label("series"),
            sa.func.coalesce(sa.func.sum(study.c.n_instances), 0).label("instances"),
            sa.func.min(day_of(study.c.partition_key)).label("first_day"),
            sa.func.max(day_of(study.c.partition_key)).label("last_day"),
        ).where(*period.clauses(study.c.partition_key)),
        "activity totals",
    )
    weekly_by_modality = per_week.groupby(["week", "modality"], dropna=False)["studies"].sum().reset_index()
    return Analysis(
        key=KEY,
        title=TITLE,
        tables={
            "totals": totals,
            "per_day": per_day,
            "per_week": per_week,
            "per_month": per_month,
            "hour_of_week": hour_of_week,
        },
        figures=plots.figures(
            hour_of_week=plots.hour_of_week_heatmap(hour_of_week),
            weekly_trend=plots.trend_lines(
                weekly_by_modality, "week", "studies", "modality", "Studies per week (source calendar)"
            ),
        ),
        notes=(
            f"Source study dates {period.describe()}; periods are the source calendar's (partition key).",
            "Counts are of image series and their studies; dose reports and other non-image objects are "
            "left out of the per-period tables (the totals count every object).",
        ),
    )
