"""Delay from acquisition to arrival in the lake, and arrival path, per instance

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 19:00:00.000000

Adds ``instance.arrival_delay_s`` (seconds from the source acquisition date-time to arrival in the
spool; the arrival time itself is never stored) and ``instance.arrival_path`` (``prospective`` for the
listener, ``retrieval`` for C-MOVE/C-GET), both nullable: rows curated before this revision have
neither. Columns that exist already (tables created from the models) are kept.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns(table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    existing = _columns("instance")
    with op.batch_alter_table("instance", schema=None) as batch_op:
        if "arrival_delay_s" not in existing:
            batch_op.add_column(sa.Column("arrival_delay_s", sa.Float(), nullable=True))
        if "arrival_path" not in existing:
            batch_op.add_column(
                sa.Column("arrival_path", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
            )


def downgrade() -> None:
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.drop_column("arrival_path")
        batch_op.drop_column("arrival_delay_s")
