"""The warehouse engine: partition-replacing bulk writes, reads as DataFrames. SQLite or PostgreSQL.

The same code runs on both: SQLite is the embedded default (a file beside the other data zones),
PostgreSQL is reached through a URL in the site configuration. A partition's rows are replaced inside
one transaction (delete, then bulk insert in batches), so a rerun never duplicates and a run that fails
halfway leaves the partition's previous rows intact.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlmodel import SQLModel

from resources.warehouse.errors import WarehouseWriteError
from resources.warehouse.lineage import Lineage

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 2000
SQLITE_BUSY_TIMEOUT_S = 600
_MIGRATION_LOCK_KEY = 0x44434D4C  # "DCML": the advisory lock id of warehouse migrations
MIGRATIONS_FOLDER = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, *, schema: str | None = None) -> sa.Engine:
    """An engine for the warehouse URL; ``schema`` (PostgreSQL) sets the search path of every connection."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # A partition is replaced in one write transaction; concurrent partition runs wait for it.
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_con: Any, _record: Any) -> None:
            cur = dbapi_con.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _table_of(model: type[SQLModel]) -> sa.Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, sa.Table)
    return table


class PartitionWriter:
    """Rows for one partition, written in batches inside the transaction opened by the warehouse.

    Obtained from :meth:`Warehouse.writing_partition`; rows are plain mappings without lineage columns.
    """

    def __init__(
        self, connection: sa.Connection, lineage: Lineage, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> None:
        self._connection = connection
        self._lineage_columns = lineage.columns()
        self._batch_size = batch_size
        self._pending: dict[sa.Table, list[dict[str, Any]]] = {}
        self.counts: dict[str, int] = {}

    def add(self, model: type[SQLModel], row: Mapping[str, Any]) -> None:
        table = _table_of(model)
        batch = self._pending.setdefault(table, [])
        batch.append({**row, **self._lineage_columns})
        self.counts[table.name] = self.counts.get(table.name, 0) + 1
        if len(batch) >= self._batch_size:
            self._flush(table)

    def add_all(self, model: type[SQLModel], rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.add(model, row)

    def _flush(self, table: sa.Table) -> None:
        batch = self._pending.get(table)
        if batch:
            self._connection.execute(sa.insert(table), batch)
            self._pending[table] = []

    def flush(self) -> None:
        for table in list(self._pending):
            self._flush(table)


class Warehouse:
    """The warehouse at ``url`` (SQLAlchemy URL); ``schema`` is a PostgreSQL schema to work in."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema
        self.engine = make_engine(url, schema=schema)

    def describe(self) -> str:
        """The warehouse URL without its password (for messages)."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_all(self) -> None:
        """Create every table straight from the models (tests, throw-away databases)."""
        _import_all_tables()
        SQLModel.metadata.create_all(self.engine)

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with the Alembic migrations (the way real sites update).

        Cheap when the schema is already there (every run calls it). Runs that start together migrate
        one after the other: PostgreSQL through an advisory lock, a SQLite file through a lock file
        beside it.
        """
        from alembic import command
        from alembic.script import ScriptDirectory

        with self._migration_file_lock(), self.engine.begin() as connection:
            config = self._alembic_config(connection)
            head = ScriptDirectory.from_config(config).get_current_head()
            if revision == "head" and self._revision_on(connection) == head:
                return
            if connection.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
                if revision == "head" and self._revision_on(connection) == head:
                    return  # another run migrated while this one waited for the lock
            command.upgrade(config, revision)

    @contextlib.contextmanager
    def _migration_file_lock(self) -> Iterator[None]:
        database = self.engine.url.database if self.dialect == "sqlite" else None
        if not database or database == ":memory:":
            yield
            return
        import fcntl

        with open(f"{database}.migrate.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def downgrade(self, revision: str) -> None:
        from alembic import command

        with self.engine.begin() as connection:
            command.downgrade(self._alembic_config(connection), revision)

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return self._revision_on(connection)

    @staticmethod
    def head_revision() -> str | None:
        """The newest revision of the migrations this code ships (what ``upgrade()`` brings a schema to)."""
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_FOLDER))
        return ScriptDirectory.from_config(config).get_current_head()

    @staticmethod
    def _revision_on(connection: sa.Connection) -> str | None:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(connection).get_current_revision()

    def _alembic_config(self, connection: sa.Connection) -> Any:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_FOLDER))
        config.attributes["connection"] = connection
        return config

    @contextlib.contextmanager
    def writing_partition(
        self,
        lineage: Lineage,
        models: Sequence[type[SQLModel]],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Iterator[PartitionWriter]:
        """Replace the partition's rows in ``models`` with what the block adds, in one transaction.

        The partition's old rows are deleted first (inside the transaction); on any exception the
        transaction rolls back and the previous rows stay exactly as they were.

        Raises
        ------
        WarehouseWriteError
            When the database refuses or cuts off the write (server gone or restarted, constraint);
            the driver's error is its cause. Errors raised by the block itself pass unchanged.
        """
        try:
            with self.engine.begin() as connection:
                for model in models:
                    table = _table_of(model)
                    connection.execute(sa.delete(table).where(table.c.partition_key == lineage.partition_key))
                writer = PartitionWriter(connection, lineage, batch_size=batch_size)
                yield writer
                writer.flush()
        except sa.exc.DBAPIError as exc:
            # The driver's message would carry the statement and a batch of row values: only its
            # first line (what the server said) goes into ours.
            said = str(exc.orig).strip()
            reason = said.splitlines()[0][:200] if said else type(exc).__name__
            raise WarehouseWriteError(
                f"warehouse {self.describe()}: the write of partition {lineage.partition_key} failed and "
                f"was rolled back ({reason}); the partition's previous rows are kept, a rerun replaces them"
            ) from exc
        logger.info("partition %s replaced: %s", lineage.partition_key, writer.counts)

    def replace_partition(
        self,
        lineage: Lineage,
        rows_by_table: Mapping[type[SQLModel], Iterable[Mapping[str, Any]]],
    ) -> dict[str, int]:
        """Replace the partition's rows in each table inside one transaction.

        Rows are plain mappings without lineage columns; lineage is added here. Either every table is
        replaced or, on any error, none is: the partition's previous rows stay intact.

        Raises
        ------
        WarehouseWriteError
            When the database refuses or cuts off the write (see :meth:`writing_partition`).
        """
        with self.writing_partition(lineage, list(rows_by_table)) as writer:
            for model, rows in rows_by_table.items():
                writer.add_all(model, rows)
                writer.counts.setdefault(_table_of(model).name, 0)
        return dict(writer.counts)

    def read_frame(self, sql: str | sa.Select[Any], params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        statement = sa.text(sql) if isinstance(sql, str) else sql
        with self.engine.connect() as con:
            return pd.read_sql(statement, con, params=dict(params or {}))

    def table_names(self) -> list[str]:
        return sorted(sa.inspect(self.engine).get_table_names())

    def row_counts(self) -> dict[str, int]:
        """Rows in each of the warehouse's tables (Alembic's own bookkeeping left out)."""
        counts: dict[str, int] = {}
        with self.engine.connect() as con:
            for name in self.table_names():
                if not name.startswith("alembic"):
                    table = sa.table(name)
                    counts[name] = int(
                        con.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                    )
        return counts

    def ssde_counts(self) -> tuple[int, int]:
        """CT irradiation events in the warehouse, and how many of them have an SSDE."""
        event = sa.table("ct_dose_event", sa.column("ssde_mgy"))
        with self.engine.connect() as con:
            total, with_ssde = con.execute(
                sa.select(sa.func.count(), sa.func.count(event.c.ssde_mgy)).select_from(event)
            ).one()
        return int(total), int(with_ssde)

    def dispose(self) -> None:
        self.engine.dispose()


def _import_all_tables() -> None:
    """Register every warehouse table (curation and dose) with the shared metadata."""
    import resources.warehouse.dose_tables
    import resources.warehouse.mammography_tables
    import resources.warehouse.projection_tables
    import resources.warehouse.tables  # noqa: F401
