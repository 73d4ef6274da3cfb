"""Alembic environment for the warehouse schema.

Run programmatically by :meth:`resources.warehouse.Warehouse.upgrade` (which hands over an open
connection), or by the ``alembic`` command with ``-x url=<SQLAlchemy URL>`` for developers writing a new
revision (``alembic -c resources/warehouse/migrations/alembic.ini revision --autogenerate -m ...``).
The metadata is every warehouse table: the curation tables and, when present, the dose tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

target_metadata = SQLModel.metadata
config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: pass -x url=<SQLAlchemy URL> to alembic")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        _run(connection)


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
