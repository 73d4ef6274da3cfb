"""SQL the report's own sections share: five-number summaries, dose bands and period labels.

Everything is aggregated in the database and runs unchanged on SQLite (3.25 or later, for window
functions) and PostgreSQL. Quantiles are the linear interpolation between order statistics (numpy's
and pandas' default), computed with ``ROW_NUMBER`` and integer arithmetic only: no ``PERCENTILE_CONT``
(PostgreSQL only), no ``FLOOR`` (absent from many SQLite builds) and no float-to-integer cast (which
PostgreSQL rounds and SQLite truncates).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
SUMMARY_COLUMNS = ("n", "min", "q1", "median", "q3", "max", "mean")


def partition_params(start: dt.date, end: dt.date) -> dict[str, str]:
    """Bind values for ``partition_key >= :start AND partition_key < :after``.

    ISO dates compare as text, in every collation. ``after`` is the day after the end, exclusive: a
    source's key ``2026-11-30|east`` (resources/partition_keys.py) sorts after ``2026-11-30`` and before
    ``2026-12-01``. The whole-warehouse key ``all`` sorts after every date and so never matches.
    """
    return {"start": start.isoformat(), "after": (end + dt.timedelta(days=1)).isoformat()}


def _names(names: Sequence[str]) -> list[str]:
    for name in names:
        if not _IDENTIFIER.match(name):
            raise ValueError(f"{name!r} is not a plain column name")
    return list(names)


def _quantile(k: int) -> str:
    """The k-th quartile of ``x`` in a group ranked by ``rn`` among ``n`` (k = 1, 2, 3)."""
    low = f"MAX(CASE WHEN rn = ({k} * (n - 1)) / 4 + 1 THEN x END)"
    high = f"MAX(CASE WHEN rn = ({k} * (n - 1)) / 4 + 2 THEN x END)"
    fraction = f"CAST(({k} * (MAX(n) - 1)) % 4 AS DOUBLE PRECISION) / 4"
    return f"{low} + {fraction} * (COALESCE({high}, {low}) - {low})"


def summary_sql(source: str, group: Sequence[str]) -> str:
    """``group`` columns and n, min, q1, median, q3, max, mean of column ``x`` of ``source``.

    ``source`` is a SELECT giving the ``group`` columns and ``x``; rows whose ``x`` is NULL are not
    counted. One row per group, ordered by the group columns.
    """
    cols = _names(group)
    by = ", ".join(cols)
    over = f"PARTITION BY {by}" if cols else ""
    head = f"{by}, " if cols else ""
    tail = f" GROUP BY {by} ORDER BY {by}" if cols else ""
    return (
        f"WITH v AS ({source}), "
        f"r AS (SELECT {head}x, ROW_NUMBER() OVER ({over} ORDER BY x) AS rn, "
        f"COUNT(*) OVER ({over}) AS n FROM v WHERE x IS NOT NULL) "
        f"SELECT {head}MAX(n) AS n, MIN(x) AS min, {_quantile(1)} AS q1, {_quantile(2)} AS median, "
        f"{_quantile(3)} AS q3, MAX(x) AS max, AVG(x) AS mean FROM r{tail}"
    )


def summaries(
    connection: sa.Connection, source: str, group: Sequence[str], params: dict[str, Any]
) -> pd.DataFrame:
    """:func:`summary_sql` run on ``connection``: one small row per group, whatever the row count."""
    result = connection.execute(sa.text(summary_sql(source, group)), params)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for name in SUMMARY_COLUMNS:
        if name in frame:
            frame[name] = pd.to_numeric(frame[name])
    return frame


def band_sql(source: str, edges: Sequence[float]) -> tuple[str, dict[str, float]]:
    """Counts of ``x`` of ``source`` per band between ``edges`` (band i: edges[i-1] <= x < edges[i];
    band 0 below the first edge, the last band at or above the last edge), and the bind values."""
    params = {f"edge{i}": float(e) for i, e in enumerate(edges)}
    cases = " ".join(f"WHEN x < :edge{i} THEN {i}" for i in range(len(edges)))
    query = (
        f"WITH v AS ({source}) SELECT CASE {cases} ELSE {len(edges)} END AS band, COUNT(*) AS n "
        "FROM v WHERE x IS NOT NULL GROUP BY 1 ORDER BY 1"
    )
    return query, params


def band_labels(edges: Sequence[float], unit: str) -> list[str]:
    """``< e0``, ``e0-e1``, ..., ``>= en`` with the unit."""

    def num(value: float) -> str:
        return f"{value:g}"

    labels = [f"< {num(edges[0])} {unit}"]
    labels += [f"{num(a)}-{num(b)} {unit}" for a, b in itertools.pairwise(edges)]
    labels.append(f">= {num(edges[-1])} {unit}")
    return labels


def period_labels(start: dt.date, end: dt.date) -> list[str]:
    """The audit period labels that the days from ``start`` to ``end`` fall in: months (``2026-11``),
    quarters (``2026-Q4``), years (``2026``) and ISO weeks (``2026-W46``), in order of first use."""
    labels: dict[str, None] = {}
    day = start
    while day <= end:
        iso = day.isocalendar()
        for label in (
            f"{day.year}-{day.month:02d}",
            f"{day.year}-Q{(day.month - 1) // 3 + 1}",
            str(day.year),
            f"{iso.year}-W{iso.week:02d}",
        ):
            labels.setdefault(label, None)
        day += dt.timedelta(days=1)
    return list(labels)


def in_clause(name: str, values: Sequence[str]) -> tuple[str, dict[str, str]]:
    """``:name0, :name1, ...`` and its bind values, for an ``IN (...)`` list."""
    params = {f"{name}{i}": v for i, v in enumerate(values)}
    return ", ".join(f":{key}" for key in params) or "NULL", params
