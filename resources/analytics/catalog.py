"""The catalogue of analyses and the one entry point the assets and the report use.

Every analysis aggregates in the database and groups by the SOURCE calendar period: the partition key
(the source study date, ``YYYY-MM-DD``), coarsened to week or month. The de-identified rows keep their
per-patient shifted dates (``study.study_date``, acquisition date-times); those are used only for
differences within one patient (durations, gaps) and times of day, which a whole-day shift preserves.

Usage::

    from resources.analytics.catalog import run_analyses

    for analysis in run_analyses(warehouse.engine, start=date(2026, 11, 1), end=date(2026, 11, 30)):
        analysis.key, analysis.title, analysis.tables, analysis.figures, analysis.notes
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from resources.analytics import activity, data_quality, devices, population, workflow
from resources.analytics.errors import AnalyticsError
from resources.analytics.result import Analysis
from resources.analytics.sql import Period

__all__ = ["ANALYSES", "Analysis", "Period", "run_analyses", "run_analysis"]

Builder = Callable[[sa.Connection, Period], Analysis]

ANALYSES: dict[str, Builder] = {
    activity.KEY: activity.build,
    devices.KEY: devices.build,
    workflow.KEY: workflow.build,
    population.KEY: population.build,
    data_quality.KEY: data_quality.build,
}
"""Analysis key -> builder, in the order a report shows them."""


def _bound(engine: sa.Engine, schema: str | None) -> sa.Engine:
    # The warehouse tables are defined without a schema; a PostgreSQL schema is mapped in per run.
    if schema is None:
        return engine
    return engine.execution_options(schema_translate_map={None: schema})


def run_analysis(
    key: str,
    engine: sa.Engine,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    schema: str | None = None,
) -> Analysis:
    """One analysis by key (see :data:`ANALYSES`).

    Raises
    ------
    AnalyticsError
        For an unknown key, a period that ends before it starts, or a result larger than the bound.
    """
    builder = ANALYSES.get(key)
    if builder is None:
        raise AnalyticsError(f"analysis {key!r}: unknown (known: {', '.join(ANALYSES)})")
    period = Period(start, end)
    with _bound(engine, schema).connect() as connection:
        return builder(connection, period)


def run_analyses(
    engine: sa.Engine,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    schema: str | None = None,
    keys: Sequence[str] | None = None,
) -> list[Analysis]:
    """Every analysis (or those in ``keys``) over source study dates ``start``..``end`` (inclusive).

    ``engine`` is the warehouse's (``Warehouse.engine``); ``schema`` a PostgreSQL schema the tables
    live in when the engine's search path does not already point there.
    """
    return [
        run_analysis(key, engine, start=start, end=end, schema=schema) for key in (keys or list(ANALYSES))
    ]
