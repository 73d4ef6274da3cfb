"""Portable SQL pieces of the analyses: the period filter, calendar functions on partition keys,
per-group quantiles and a bounded fetch.

Calendar functions take the partition key (the SOURCE study date as ``YYYY-MM-DD`` text), never the
de-identified, per-patient shifted dates: weeks and months of a report are the source calendar's.
Quantiles are PostgreSQL ``percentile_cont``; SQLite has no ordered-set aggregate, so there the rows
of each group are ranked with window functions and the two neighbours of each quantile picked out by
an aggregate: both ways the database returns one row per group (linear interpolation, as pandas).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from resources.analytics.errors import AnalyticsError

DEFAULT_ROW_LIMIT = 50_000
"""No analysis query may return more rows than this: results are aggregates, not rows of the lake."""
_ROW_LIMIT: ContextVar[int] = ContextVar("analytics_row_limit", default=DEFAULT_ROW_LIMIT)
QUANTILES = (0.25, 0.5, 0.75)
# Modalities of objects that are no acquisition (dose reports, presentation states, key images).
NON_IMAGE_MODALITIES = ("SR", "PR", "KO", "DOC", "OT")


@dataclass(frozen=True)
class Period:
    """Source study dates ``start``..``end``, both inclusive; None leaves that side open."""

    start: dt.date | None = None
    end: dt.date | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.end < self.start:
            raise AnalyticsError(f"period {self.start}..{self.end}: the end lies before the start")

    def clauses(self, partition_key: sa.ColumnElement[Any]) -> list[sa.ColumnElement[bool]]:
        """Filters on a partition-key column (ISO text compares in date order).

        The end bound is the day after, exclusive: a source's key ``2026-11-30|east`` sorts after
        ``2026-11-30`` but before ``2026-12-01`` (resources/partition_keys.py), and the column's index
        still serves the range.
        """
        out: list[sa.ColumnElement[bool]] = [partition_key != "all"]
        if self.start:
            out.append(partition_key >= self.start.isoformat())
        if self.end:
            out.append(partition_key < (self.end + dt.timedelta(days=1)).isoformat())
        return out

    def describe(self) -> str:
        return f"{self.start or 'first'}..{self.end or 'last'}"


# -- calendar functions compiled per dialect ---------------------------------------------------------
class week_start(FunctionElement[str]):
    """Monday of the ISO week of a ``YYYY-MM-DD`` text, as ``YYYY-MM-DD``."""

    type = sa.String()
    inherit_cache = True


@compiles(week_start)
def _week_start_sqlite(element: week_start, compiler: SQLCompiler, **kw: Any) -> str:
    # 'weekday 0' moves forward to Sunday (or stays); six days back is that week's Monday.
    return f"date({compiler.process(element.clauses, **kw)}, 'weekday 0', '-6 days')"


@compiles(week_start, "postgresql")
def _week_start_pg(element: week_start, compiler: SQLCompiler, **kw: Any) -> str:
    arg = compiler.process(element.clauses, **kw)
    return f"to_char(date_trunc('week', CAST({arg} AS date)), 'YYYY-MM-DD')"


class weekday(FunctionElement[int]):
    """Day of the week of a ``YYYY-MM-DD`` text, Monday 0 .. Sunday 6."""

    type = sa.Integer()
    inherit_cache = True


@compiles(weekday)
def _weekday_sqlite(element: weekday, compiler: SQLCompiler, **kw: Any) -> str:
    return f"((CAST(strftime('%w', {compiler.process(element.clauses, **kw)}) AS INTEGER) + 6) % 7)"


@compiles(weekday, "postgresql")
def _weekday_pg(element: weekday, compiler: SQLCompiler, **kw: Any) -> str:
    return (
        f"(CAST(extract(isodow FROM CAST({compiler.process(element.clauses, **kw)} AS date)) AS INTEGER) - 1)"
    )


class hour_of(FunctionElement[int]):
    """Hour of the day (0..23) of a time or date-time column."""

    type = sa.Integer()
    inherit_cache = True


@compiles(hour_of)
def _hour_sqlite(element: hour_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(strftime('%H', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(hour_of, "postgresql")
def _hour_pg(element: hour_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(extract(hour FROM {compiler.process(element.clauses, **kw)}) AS INTEGER)"


class seconds_between(FunctionElement[float]):
    """``second - first`` in seconds, for two date-time columns."""

    type = sa.Float()
    inherit_cache = True


@compiles(seconds_between)
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    first, second = (compiler.process(c, **kw) for c in element.clauses)
    # julianday() near 2.46e6 days keeps only ~50 microseconds: whole epoch seconds plus the
    # millisecond fraction of each side is exact to the millisecond.
    whole = f"(CAST(strftime('%s', {second}) AS INTEGER) - CAST(strftime('%s', {first}) AS INTEGER))"
    frac = (
        f"((strftime('%f', {second}) - CAST(strftime('%f', {second}) AS INTEGER)) "
        f"- (strftime('%f', {first}) - CAST(strftime('%f', {first}) AS INTEGER)))"
    )
    return f"({whole} + {frac})"


@compiles(seconds_between, "postgresql")
def _seconds_pg(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    first, second = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(extract(epoch FROM ({second} - {first})) AS DOUBLE PRECISION)"


def day_of(partition_key: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """``YYYY-MM-DD`` of a partition key (a source's key carries ``|<source>`` after the date)."""
    return sa.func.substr(partition_key, 1, 10)


def month_of(partition_key: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """``YYYY-MM`` of a partition key."""
    return sa.func.substr(partition_key, 1, 7)


def age_band(age_years: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """The curation's age bands (``resources.curation.ages.age_band``) as a SQL expression."""
    tens = [(lo, f"{lo}-{lo + 9}") for lo in range(20, 90, 10)]
    return sa.case(
        (age_years.is_(None), None),
        (age_years < 0, None),
        (age_years < 1, "0"),
        (age_years < 5, "1-4"),
        (age_years < 10, "5-9"),
        (age_years < 15, "10-14"),
        (age_years < 18, "15-17"),
        (age_years < 20, "18-19"),
        *((age_years < lo + 10, band) for lo, band in tens),
        else_="90+",
    )


# -- quantiles per group -------------------------------------------------------------------------------
def quantile_label(q: float) -> str:
    return "median" if q == 0.5 else f"p{round(q * 100):02d}"


def grouped_quantiles(
    source: sa.Subquery, groups: Sequence[str], value: str, dialect: str, qs: Sequence[float] = QUANTILES
) -> sa.Select[Any]:
    """One row per group of ``source``: the groups, ``n``, ``min``, the quantiles of ``value``, ``max``.

    Rows where ``value`` is NULL are left out. Columns are named ``n``, ``min``, ``p25``, ``median``,
    ``p75``, ``max`` (see :func:`quantile_label`).
    """
    v = source.c[value]
    keys = [source.c[g] for g in groups]
    if dialect == "postgresql":
        return (
            sa.select(
                *keys,
                sa.func.count(v).label("n"),
                sa.func.min(v).label("min"),
                *(sa.func.percentile_cont(q).within_group(v.asc()).label(quantile_label(q)) for q in qs),
                sa.func.max(v).label("max"),
            )
            .where(v.is_not(None))
            .group_by(*keys)
        )
    ranked = (
        sa.select(
            *keys,
            v.label("v"),
            (sa.func.row_number().over(partition_by=keys or None, order_by=v) - 1).label("rn"),
            sa.func.count().over(partition_by=keys or None).label("n"),
        )
        .where(v.is_not(None))
        .subquery("ranked")
    )
    rkeys = [ranked.c[g] for g in groups]
    n, rn, rv = ranked.c.n, ranked.c.rn, ranked.c.v
    columns: list[sa.ColumnElement[Any]] = [sa.func.max(n).label("n"), sa.func.min(rv).label("min")]
    for q in qs:
        position = q * (n - 1)
        low = sa.cast(position, sa.Integer)
        frac = sa.func.max(position - low)
        at_low = sa.func.max(sa.case((rn == low, rv)))
        at_high = sa.func.max(sa.case((rn == low + 1, rv)))
        columns.append(
            (at_low + frac * (sa.func.coalesce(at_high, at_low) - at_low)).label(quantile_label(q))
        )
    columns.append(sa.func.max(rv).label("max"))
    return sa.select(*rkeys, *columns).group_by(*rkeys)


# -- bounded fetch ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def result_row_limit(limit: int) -> Iterator[None]:
    """Lower (or raise) the bound on rows any analysis query may return, inside the block."""
    token = _ROW_LIMIT.set(limit)
    try:
        yield
    finally:
        _ROW_LIMIT.reset(token)


def fetch(connection: sa.Connection, statement: sa.Select[Any], what: str) -> pd.DataFrame:
    """The statement's rows as a DataFrame, refusing more rows than the current bound.

    Raises
    ------
    AnalyticsError
        When the query returns more rows than the bound: an analysis must aggregate in the database.
    """
    limit = _ROW_LIMIT.get()
    result = connection.execute(statement)
    rows = result.fetchmany(limit + 1)
    result.close()
    if len(rows) > limit:
        raise AnalyticsError(f"analysis query {what!r} returned more than {limit} rows: aggregate in SQL")
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(result.keys()))
    for column in frame.columns:
        # PostgreSQL sums of integers are NUMERIC (Decimal): the same numbers as SQLite's, as numbers.
        values = frame[column].dropna()
        if frame[column].dtype == object and len(values) and all(isinstance(v, Decimal) for v in values):
            numbers = pd.to_numeric(frame[column].astype(float))
            integral = bool((numbers.dropna() % 1 == 0).all())
            frame[column] = numbers.astype("Int64") if integral else numbers
    return frame
