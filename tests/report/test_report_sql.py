"""The report's SQL on SQLite and PostgreSQL: five-number summaries equal pandas' (linear quantiles),
dose bands count what they should, period labels cover the audit periods a range touches."""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import pytest
import sqlalchemy as sa

from resources.report.sql import band_labels, band_sql, period_labels, summaries, summary_sql
from resources.warehouse.store import Warehouse
from tests.warehouse.backends import BACKENDS


def _values_table(warehouse: Warehouse) -> pd.DataFrame:
    rng = random.Random(7)
    rows = []
    # Group sizes 1 to 9 cover every remainder of (n - 1) * k / 4, i.e. every interpolation case.
    for size in range(1, 10):
        rows += [{"grp": f"g{size}", "x": round(rng.uniform(0, 500), 3)} for _ in range(size)]
    rows += [{"grp": "g9", "x": None}, {"grp": "g9", "x": 250.0}, {"grp": "g9", "x": 250.0}]  # NULL, ties
    frame = pd.DataFrame(rows)
    with warehouse.engine.begin() as con:
        con.execute(sa.text("CREATE TABLE vals (grp VARCHAR(8), x DOUBLE PRECISION)"))
        con.execute(sa.text("INSERT INTO vals (grp, x) VALUES (:grp, :x)"), rows)
    return frame


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_summaries_match_pandas_linear_quantiles(make_warehouse: Warehouse) -> None:
    frame = _values_table(make_warehouse)
    with make_warehouse.engine.connect() as con:
        got = summaries(con, "SELECT grp, x FROM vals", ["grp"], {}).set_index("grp")
        overall = summaries(con, "SELECT x FROM vals", [], {})
    expected = frame.dropna().groupby("grp")["x"]
    assert list(got.index) == sorted(expected.groups)
    for name, series in expected:
        row = got.loc[name]
        assert int(row["n"]) == len(series)
        for column, quantile in (("min", 0.0), ("q1", 0.25), ("median", 0.5), ("q3", 0.75), ("max", 1.0)):
            assert row[column] == pytest.approx(series.quantile(quantile), abs=1e-9), (name, column)
        assert row["mean"] == pytest.approx(series.mean())
    values = frame["x"].dropna()
    assert int(overall.loc[0, "n"]) == len(values)
    assert overall.loc[0, "median"] == pytest.approx(values.median())


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_bands_count_each_value_once(make_warehouse: Warehouse) -> None:
    frame = _values_table(make_warehouse)
    edges = (100.0, 250.0, 400.0)
    query, params = band_sql("SELECT x FROM vals", edges)
    with make_warehouse.engine.connect() as con:
        counts = {int(band): int(n) for band, n in con.execute(sa.text(query), params)}
    values = frame["x"].dropna()
    assert counts.get(0, 0) == int((values < 100).sum())
    assert counts.get(2, 0) == int(((values >= 250) & (values < 400)).sum())  # 250 itself is in band 2
    assert counts.get(3, 0) == int((values >= 400).sum())
    assert sum(counts.values()) == len(values)
    assert band_labels(edges, "mSv") == ["< 100 mSv", "100-250 mSv", "250-400 mSv", ">= 400 mSv"]


def test_summary_sql_refuses_a_group_that_is_not_a_column_name() -> None:
    with pytest.raises(ValueError, match="plain column name"):
        summary_sql("SELECT 1 AS x", ["x; DROP TABLE study"])


def test_period_labels_cover_months_quarters_years_and_weeks() -> None:
    labels = period_labels(dt.date(2026, 12, 30), dt.date(2027, 1, 2))
    assert {"2026-12", "2026-Q4", "2026", "2027-01", "2027-Q1", "2027", "2026-W53"} <= set(labels)
    assert "2026-11" not in labels
