"""deid_profile_version as Text

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 15:30:38.000000

The de-identification profile version names the PS3.15 edition and every option and site choice in
force; at 64 characters the list was cut after the third option. Every table carrying the lineage
column gets it as Text. Downgrading cuts values back to 64 characters (the old column's limit).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMN = "deid_profile_version"
OLD_LENGTH = 64


def _tables_with_the_column() -> list[str]:
    inspector = sa.inspect(op.get_bind())
    return sorted(
        table
        for table in inspector.get_table_names()
        if any(column["name"] == COLUMN for column in inspector.get_columns(table))
    )


def upgrade() -> None:
    for table in _tables_with_the_column():
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                COLUMN,
                existing_type=sqlmodel.sql.sqltypes.AutoString(length=OLD_LENGTH),
                type_=sa.Text(),
                existing_nullable=False,
            )


def downgrade() -> None:
    for table in _tables_with_the_column():
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                COLUMN,
                existing_type=sa.Text(),
                type_=sqlmodel.sql.sqltypes.AutoString(length=OLD_LENGTH),
                existing_nullable=False,
                # A longer value would make PostgreSQL refuse the change: it is cut to what fitted before
                # (SQLite does not enforce the length).
                postgresql_using=f"left({COLUMN}, {OLD_LENGTH})",
            )
