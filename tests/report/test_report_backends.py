"""The same report from SQLite and PostgreSQL: the demo's warehouse copied into a PostgreSQL schema
gives the same dose sections, cell for cell, and the same analysis tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from resources.report import ReportRequest, build_report
from resources.warehouse.store import _import_all_tables
from tests.report.conftest import DemoSite
from tests.warehouse.backends import postgres_schema

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
NOW = dt.datetime(2026, 12, 1, 8, 0, 0)


@pytest.fixture()
def postgres_copy(demo_site: DemoSite) -> Iterator[tuple[str, str]]:
    """The demo's warehouse copied into a throw-away schema on the test PostgreSQL server."""
    source = sa.create_engine(f"sqlite:///{demo_site.warehouse}")
    with postgres_schema("r") as target:
        try:
            target.create_all()
            _import_all_tables()
            present = set(sa.inspect(source).get_table_names())
            with source.connect() as read, target.engine.begin() as write:
                for table in SQLModel.metadata.sorted_tables:
                    if table.name not in present:
                        continue
                    frame = pd.read_sql(sa.select(table), read)
                    if len(frame):
                        records = frame.astype(object).where(frame.notna(), None).to_dict("records")
                        write.execute(sa.insert(table), records)
            assert target.schema is not None
            yield target.url, target.schema
        finally:
            source.dispose()


def test_sqlite_and_postgres_give_the_same_report(
    demo_site: DemoSite, postgres_copy: tuple[str, str]
) -> None:
    url, schema = postgres_copy

    def request(warehouse_url: str, schema_name: str | None) -> ReportRequest:
        return ReportRequest(
            "Same site",
            demo_site.start,
            demo_site.end,
            warehouse_url,
            "uk_2022",
            "aapm96_icrp60",
            schema=schema_name,
        )

    on_sqlite = build_report(request(f"sqlite:///{demo_site.warehouse}", None), now=NOW)
    on_postgres = build_report(request(url, schema), now=NOW)
    assert on_postgres.header == on_sqlite.header
    assert [s.key for s in on_postgres.sections] == [s.key for s in on_sqlite.sections]
    for mine, theirs in zip(on_sqlite.sections, on_postgres.sections, strict=True):
        assert [t.title for t in theirs.tables] == [t.title for t in mine.tables], mine.key
        assert len(theirs.figures) == len(mine.figures), mine.key
        assert theirs.notes == mine.notes, mine.key
        for a, b in zip(mine.tables, theirs.tables, strict=True):
            assert (b.columns, b.total_rows) == (a.columns, a.total_rows), a.title
            if mine.key in {"drl_audit", "effective_dose", "ssde"}:  # the report's own SQL: cell for cell
                assert b.rows == a.rows, a.title
