"""Mammography exposures from image headers, mean glandular dose (Dance) and breast-screening audits

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A warehouse whose engine created these tables from the models before this revision keeps them.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "breast_compression" not in existing:
        op.create_table(
            "breast_compression",
            sa.Column("partition_key", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
            sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("code_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("deid_profile_version", sa.Text(), nullable=False),
            sa.Column("processed_at", sa.DateTime(), nullable=False),
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("group_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("group_value", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
            sa.Column("n_exposures", sa.Integer(), nullable=False),
            sa.Column("median_force_n", sa.Float(), nullable=True),
            sa.Column("p25_force_n", sa.Float(), nullable=True),
            sa.Column("p75_force_n", sa.Float(), nullable=True),
            sa.Column("median_pressure_kpa", sa.Float(), nullable=True),
            sa.Column("force_min_n", sa.Float(), nullable=False),
            sa.Column("force_max_n", sa.Float(), nullable=False),
            sa.Column("n_outside_range", sa.Integer(), nullable=False),
            sa.Column("share_outside_range", sa.Float(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_breast_compression_partition_key"), "breast_compression", ["partition_key"], unique=False
        )
    if "breast_dose_band" not in existing:
        op.create_table(
            "breast_dose_band",
            sa.Column("partition_key", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
            sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("code_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("deid_profile_version", sa.Text(), nullable=False),
            sa.Column("processed_at", sa.DateTime(), nullable=False),
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("view", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("system", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
            sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
            sa.Column("band_min_mm", sa.Integer(), nullable=False),
            sa.Column("band_max_mm", sa.Integer(), nullable=False),
            sa.Column("n_exposures", sa.Integer(), nullable=False),
            sa.Column("median_agd_mgy", sa.Float(), nullable=True),
            sa.Column("mean_agd_mgy", sa.Float(), nullable=True),
            sa.Column("median_mgd_mgy", sa.Float(), nullable=True),
            sa.Column("drl_set", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("drl_mgy", sa.Float(), nullable=True),
            sa.Column("median_exceeds_drl", sa.Boolean(), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_breast_dose_band_partition_key"), "breast_dose_band", ["partition_key"], unique=False
        )
    if "breast_mgd_comparison" not in existing:
        op.create_table(
            "breast_mgd_comparison",
            sa.Column("partition_key", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
            sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("code_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("deid_profile_version", sa.Text(), nullable=False),
            sa.Column("processed_at", sa.DateTime(), nullable=False),
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("system", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
            sa.Column("n_exposures", sa.Integer(), nullable=False),
            sa.Column("n_compared", sa.Integer(), nullable=False),
            sa.Column("n_flagged", sa.Integer(), nullable=False),
            sa.Column("median_difference_percent", sa.Float(), nullable=True),
            sa.Column("tolerance_percent", sa.Float(), nullable=False),
            sa.Column("qa_file", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_breast_mgd_comparison_partition_key"),
            "breast_mgd_comparison",
            ["partition_key"],
            unique=False,
        )
    if "header_exposure" not in existing:
        op.create_table(
            "header_exposure",
            sa.Column("partition_key", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
            sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("code_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("deid_profile_version", sa.Text(), nullable=False),
            sa.Column("processed_at", sa.DateTime(), nullable=False),
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("sop_instance_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("study_instance_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("series_instance_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("sop_class_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("modality", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("counted", sa.Boolean(), nullable=False),
            sa.Column("presentation_intent", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
            sa.Column("is_tomosynthesis", sa.Boolean(), nullable=False),
            sa.Column("study_date", sa.Date(), nullable=True),
            sa.Column("acquisition_datetime", sa.DateTime(), nullable=True),
            sa.Column("manufacturer", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
            sa.Column("model_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
            sa.Column("station_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
            sa.Column("institution_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
            sa.Column("station_canonical", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
            sa.Column("institution_canonical", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
            sa.Column("operator_key", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
            sa.Column("body_part", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("view_position", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
            sa.Column("laterality", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
            sa.Column("kvp", sa.Float(), nullable=True),
            sa.Column("exposure_mas", sa.Float(), nullable=True),
            sa.Column("exposure_time_ms", sa.Float(), nullable=True),
            sa.Column("tube_current_ma", sa.Float(), nullable=True),
            sa.Column("anode_target_material", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("filter_material", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
            sa.Column("filter_thickness_mm", sa.Float(), nullable=True),
            sa.Column("body_part_thickness_mm", sa.Float(), nullable=True),
            sa.Column("compression_force_n", sa.Float(), nullable=True),
            sa.Column("compression_pressure_kpa", sa.Float(), nullable=True),
            sa.Column("compression_contact_area_mm2", sa.Float(), nullable=True),
            sa.Column("relative_xray_exposure", sa.Float(), nullable=True),
            sa.Column("hvl_mm_al", sa.Float(), nullable=True),
            sa.Column("organ_dose_mgy", sa.Float(), nullable=True),
            sa.Column("entrance_dose_mgy", sa.Float(), nullable=True),
            sa.Column("dap_gycm2", sa.Float(), nullable=True),
            sa.Column("exposure_index", sa.Float(), nullable=True),
            sa.Column("target_exposure_index", sa.Float(), nullable=True),
            sa.Column("deviation_index", sa.Float(), nullable=True),
            sa.Column("detector_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
            sa.Column("exposure_control_mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
            sa.Column("mgd_mgy", sa.Float(), nullable=True),
            sa.Column("mgd_k_mgy", sa.Float(), nullable=True),
            sa.Column("mgd_hvl_mm_al", sa.Float(), nullable=True),
            sa.Column("mgd_g", sa.Float(), nullable=True),
            sa.Column("mgd_c", sa.Float(), nullable=True),
            sa.Column("mgd_s", sa.Float(), nullable=True),
            sa.Column("mgd_qa_example", sa.Boolean(), nullable=False),
            sa.Column("mgd_reason", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
            sa.Column("mgd_difference_percent", sa.Float(), nullable=True),
            sa.Column("mgd_flagged", sa.Boolean(), nullable=False),
            sa.Column("flags", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(op.f("ix_header_exposure_modality"), "header_exposure", ["modality"], unique=False)
        op.create_index(
            op.f("ix_header_exposure_partition_key"), "header_exposure", ["partition_key"], unique=False
        )
        op.create_index(
            op.f("ix_header_exposure_sop_instance_uid"), "header_exposure", ["sop_instance_uid"], unique=False
        )
        op.create_index(
            op.f("ix_header_exposure_study_date"), "header_exposure", ["study_date"], unique=False
        )
        op.create_index(
            op.f("ix_header_exposure_study_instance_uid"),
            "header_exposure",
            ["study_instance_uid"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_header_exposure_study_instance_uid"), table_name="header_exposure")
    op.drop_index(op.f("ix_header_exposure_study_date"), table_name="header_exposure")
    op.drop_index(op.f("ix_header_exposure_sop_instance_uid"), table_name="header_exposure")
    op.drop_index(op.f("ix_header_exposure_partition_key"), table_name="header_exposure")
    op.drop_index(op.f("ix_header_exposure_modality"), table_name="header_exposure")
    op.drop_table("header_exposure")
    op.drop_index(op.f("ix_breast_mgd_comparison_partition_key"), table_name="breast_mgd_comparison")
    op.drop_table("breast_mgd_comparison")
    op.drop_index(op.f("ix_breast_dose_band_partition_key"), table_name="breast_dose_band")
    op.drop_table("breast_dose_band")
    op.drop_index(op.f("ix_breast_compression_partition_key"), table_name="breast_compression")
    op.drop_table("breast_compression")
