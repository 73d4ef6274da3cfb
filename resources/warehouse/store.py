"""The warehouse engine: partition-replacing bulk writes, reads as DataFrames. SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlmodel import SQLModel

from resources.warehouse.lineage import Lineage


def make_engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_con: Any, _record: Any) -> None:
            cur = dbapi_con.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class Warehouse:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    def create_all(self) -> None:
        SQLModel.metadata.create_all(self.engine)

    def replace_partition(
        self,
        lineage: Lineage,
        rows_by_table: Mapping[type[SQLModel], Iterable[Mapping[str, Any]]],
    ) -> dict[str, int]:
        """Replace the partition's rows in each table inside one transaction.

        Rows are plain mappings without lineage columns; lineage is added here. Either every table is
        replaced or, on any error, none is: the partition's previous rows stay intact.
        """
        counts: dict[str, int] = {}
        extra = lineage.columns()
        with self.engine.begin() as con:
            for model, rows in rows_by_table.items():
                table = model.__table__  # type: ignore[attr-defined]
                con.execute(sa.delete(table).where(table.c.partition_key == lineage.partition_key))
                batch: list[dict[str, Any]] = []
                n = 0
                for row in rows:
                    batch.append({**row, **extra})
                    if len(batch) >= 1000:
                        con.execute(sa.insert(table), batch)
                        n += len(batch)
                        batch = []
                if batch:
                    con.execute(sa.insert(table), batch)
                    n += len(batch)
                counts[table.name] = n
        return counts

    def read_frame(self, sql: str | sa.Select[Any], params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        statement = sa.text(sql) if isinstance(sql, str) else sql
        with self.engine.connect() as con:
            return pd.read_sql(statement, con, params=dict(params or {}))
