"""Patient weight for weight-banded reference levels

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 20:05:00.000000

Adds ``study.patient_weight_kg``: Patient's Weight (0010,1030) in kg as the de-identification kept it
(only under the PS3.15 Retain Patient Characteristics option), so that the DRL audit can place a study
in the weight band of paediatric reference levels (RP 185 body). Nullable: studies curated before this
revision, and studies whose weight was absent or entered as 0, have none. A column that exists already
(tables created from the models) is kept.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns(table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    if "patient_weight_kg" in _columns("study"):
        return
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.add_column(sa.Column("patient_weight_kg", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.drop_column("patient_weight_kg")
