"""Partition keys that name their source: date x source

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 20:00:00.000000

A site file that lists several sources makes partitions date x source, with keys such as
``2026-11-09|east`` (resources/partition_keys.py). Every ``partition_key`` column is widened from 10
to 64 characters. Existing date-only keys are kept as they are: they stay the keys of a site with one
source (``docs/multi-source.md`` says how to carry them over when a second source is added).
On PostgreSQL widening a VARCHAR is a catalogue change; SQLite copies each table once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_LENGTH = 64
OLD_LENGTH = 10


def _tables_with_key(length: int) -> list[str]:
    """Tables whose ``partition_key`` is a string shorter than ``length`` (the alembic table excluded)."""
    inspector = sa.inspect(op.get_bind())
    found = []
    for table in inspector.get_table_names():
        for column in inspector.get_columns(table):
            width = getattr(column["type"], "length", None)
            if column["name"] == "partition_key" and width is not None and width < length:
                found.append(table)
    return sorted(found)


def _alter(tables: list[str], old: int, new: int) -> None:
    for table in tables:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "partition_key",
                existing_type=sqlmodel.sql.sqltypes.AutoString(length=old),
                type_=sqlmodel.sql.sqltypes.AutoString(length=new),
                existing_nullable=False,
            )


def upgrade() -> None:
    _alter(_tables_with_key(NEW_LENGTH), OLD_LENGTH, NEW_LENGTH)


def downgrade() -> None:
    # Only possible while every key is a plain date; a source-qualified key would not fit.
    bind = op.get_bind()
    tables = _tables_with_key(NEW_LENGTH + 1)
    for table in tables:
        longest = bind.execute(sa.text(f"SELECT MAX(LENGTH(partition_key)) FROM {table}")).scalar()
        if longest is not None and longest > OLD_LENGTH:
            raise RuntimeError(
                f"{table}: partition keys naming a source cannot go back to {OLD_LENGTH} characters"
            )
    _alter(tables, NEW_LENGTH, OLD_LENGTH)
