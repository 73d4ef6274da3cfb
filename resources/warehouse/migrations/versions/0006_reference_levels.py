"""DRL audit by canonical device and source period, local DRLs, SSDE method

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 17:30:00.000000

Adds ``ct_dose_event.ssde_method`` (how the size-specific dose estimate was obtained),
``drl_audit_row.device_labels`` (dose-report device labels merged into one canonical device) and the
``local_drl_level`` (ICRP 135 local DRLs) and ``projection_drl_audit_row`` (median DAP per projection
exam) report tables. The dose engine may already have created these
from the models (it creates its tables itself when it runs before the first upgrade): what exists is
kept.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns(table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "ssde_method" not in _columns("ct_dose_event"):
        with op.batch_alter_table("ct_dose_event", schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("ssde_method", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
            )
    if "device_labels" not in _columns("drl_audit_row"):
        with op.batch_alter_table("drl_audit_row", schema=None) as batch_op:
            # Rows written before this revision had one label per group: 1 is their true value.
            batch_op.add_column(sa.Column("device_labels", sa.Integer(), nullable=False, server_default="1"))
    if "local_drl_level" not in existing:
        op.create_table(
            "local_drl_level",
            sa.Column("partition_key", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
            sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("code_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("deid_profile_version", sa.Text(), nullable=False),
            sa.Column("processed_at", sa.DateTime(), nullable=False),
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("quantity", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("value", sa.Float(), nullable=True),
            sa.Column("n_rooms", sa.Integer(), nullable=False),
            sa.Column("n_rooms_below_minimum", sa.Integer(), nullable=False),
            sa.Column("n_studies", sa.Integer(), nullable=False),
            sa.Column("min_studies_per_room", sa.Integer(), nullable=False),
            sa.Column("room_medians", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table("local_drl_level", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_local_drl_level_partition_key"), ["partition_key"], unique=False
            )

    if "projection_drl_audit_row" not in existing:
        op.create_table(
            "projection_drl_audit_row",
            sa.Column("partition_key", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
            sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("code_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("deid_profile_version", sa.Text(), nullable=False),
            sa.Column("processed_at", sa.DateTime(), nullable=False),
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("examination", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
            sa.Column("device", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
            sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("n_studies", sa.Integer(), nullable=False),
            sa.Column("device_labels", sa.Integer(), nullable=False),
            sa.Column("drl_set", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("median_dap_gycm2", sa.Float(), nullable=True),
            sa.Column("drl_dap_gycm2", sa.Float(), nullable=True),
            sa.Column("median_exceeds", sa.Boolean(), nullable=True),
            sa.Column("n_exceeding", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table("projection_drl_audit_row", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_projection_drl_audit_row_partition_key"), ["partition_key"], unique=False
            )


def downgrade() -> None:
    with op.batch_alter_table("projection_drl_audit_row", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_projection_drl_audit_row_partition_key"))
    op.drop_table("projection_drl_audit_row")
    with op.batch_alter_table("local_drl_level", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_local_drl_level_partition_key"))
    op.drop_table("local_drl_level")
    with op.batch_alter_table("drl_audit_row", schema=None) as batch_op:
        batch_op.drop_column("device_labels")
    with op.batch_alter_table("ct_dose_event", schema=None) as batch_op:
        batch_op.drop_column("ssde_method")
