"""Projection X-ray dose tables (TID 10001: fluoroscopy, interventional, radiography, mammography)

Events, accumulated doses per plane, event -> instance links, study contexts and study doses, and the
fluoroscopy cumulative-dose report.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A warehouse whose engine created these tables from the models before this revision keeps them.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "projection_dose_event" not in existing:
        op.create_table(
            "projection_dose_event",
            sa.Column("partition_key", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
            sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("code_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("deid_profile_version", sa.Text(), nullable=False),
            sa.Column("processed_at", sa.DateTime(), nullable=False),
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("study_instance_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("irradiation_event_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
            sa.Column("event_index", sa.Integer(), nullable=False),
            sa.Column("sr_sop_instance_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("seen_in_reports", sa.Integer(), nullable=False),
            sa.Column("report_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("acquisition_plane", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
            sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("datetime_started", sa.DateTime(), nullable=True),
            sa.Column("acquisition_protocol", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
            sa.Column("anatomy_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("anatomy_scheme", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
            sa.Column("target_region_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("target_region_scheme", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
            sa.Column("laterality", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
            sa.Column("view", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("dose_area_product_gym2", sa.Float(), nullable=True),
            sa.Column("dose_rp_gy", sa.Float(), nullable=True),
            sa.Column(
                "reference_point_definition", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
            ),
            sa.Column("kvp", sa.Float(), nullable=True),
            sa.Column("tube_current_ma", sa.Float(), nullable=True),
            sa.Column("average_tube_current_ma", sa.Float(), nullable=True),
            sa.Column("exposure_uas", sa.Float(), nullable=True),
            sa.Column("exposure_time_ms", sa.Float(), nullable=True),
            sa.Column("pulse_width_ms", sa.Float(), nullable=True),
            sa.Column("pulse_rate_per_s", sa.Float(), nullable=True),
            sa.Column("number_of_pulses", sa.Integer(), nullable=True),
            sa.Column("irradiation_duration_s", sa.Float(), nullable=True),
            sa.Column("fluoro_mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
            sa.Column("filter_materials", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
            sa.Column("filter_thickness_mm", sa.Float(), nullable=True),
            sa.Column("focal_spot_size_mm", sa.Float(), nullable=True),
            sa.Column("collimated_field_area_m2", sa.Float(), nullable=True),
            sa.Column("collimated_field_height_mm", sa.Float(), nullable=True),
            sa.Column("collimated_field_width_mm", sa.Float(), nullable=True),
            sa.Column("distance_source_to_detector_mm", sa.Float(), nullable=True),
            sa.Column("distance_source_to_isocenter_mm", sa.Float(), nullable=True),
            sa.Column("distance_source_to_reference_point_mm", sa.Float(), nullable=True),
            sa.Column("table_longitudinal_position_mm", sa.Float(), nullable=True),
            sa.Column("table_lateral_position_mm", sa.Float(), nullable=True),
            sa.Column("table_height_position_mm", sa.Float(), nullable=True),
            sa.Column("positioner_primary_angle_deg", sa.Float(), nullable=True),
            sa.Column("positioner_secondary_angle_deg", sa.Float(), nullable=True),
            sa.Column("patient_equivalent_thickness_mm", sa.Float(), nullable=True),
            sa.Column("compression_thickness_mm", sa.Float(), nullable=True),
            sa.Column("compression_force_n", sa.Float(), nullable=True),
            sa.Column("compression_pressure_kpa", sa.Float(), nullable=True),
            sa.Column("compression_contact_area_mm2", sa.Float(), nullable=True),
            sa.Column(
                "anode_target_material_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True
            ),
            sa.Column("half_value_layer_mm", sa.Float(), nullable=True),
            sa.Column("entrance_exposure_at_rp_mgy", sa.Float(), nullable=True),
            sa.Column("average_glandular_dose_mgy", sa.Float(), nullable=True),
            sa.Column("exposure_index", sa.Float(), nullable=True),
            sa.Column("target_exposure_index", sa.Float(), nullable=True),
            sa.Column("deviation_index", sa.Float(), nullable=True),
            sa.Column("n_linked_instances", sa.Integer(), nullable=False),
            sa.Column("flags", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_projection_dose_event_irradiation_event_uid"),
            "projection_dose_event",
            ["irradiation_event_uid"],
            unique=False,
        )
        op.create_index(
            op.f("ix_projection_dose_event_partition_key"),
            "projection_dose_event",
            ["partition_key"],
            unique=False,
        )
        op.create_index(
            op.f("ix_projection_dose_event_study_instance_uid"),
            "projection_dose_event",
            ["study_instance_uid"],
            unique=False,
        )
    if "projection_accumulated_dose" not in existing:
        op.create_table(
            "projection_accumulated_dose",
            sa.Column("partition_key", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
            sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("code_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("deid_profile_version", sa.Text(), nullable=False),
            sa.Column("processed_at", sa.DateTime(), nullable=False),
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("study_instance_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("sr_sop_instance_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("acquisition_plane", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
            sa.Column("dose_area_product_total_gym2", sa.Float(), nullable=True),
            sa.Column("dose_rp_total_gy", sa.Float(), nullable=True),
            sa.Column("fluoro_dose_area_product_total_gym2", sa.Float(), nullable=True),
            sa.Column("fluoro_dose_rp_total_gy", sa.Float(), nullable=True),
            sa.Column("total_fluoro_time_s", sa.Float(), nullable=True),
            sa.Column("acquisition_dose_area_product_total_gym2", sa.Float(), nullable=True),
            sa.Column("acquisition_dose_rp_total_gy", sa.Float(), nullable=True),
            sa.Column("total_acquisition_time_s", sa.Float(), nullable=True),
            sa.Column("total_number_of_radiographic_frames", sa.Integer(), nullable=True),
            sa.Column(
                "reference_point_definition", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
            ),
            sa.Column("accumulated_agd_left_mgy", sa.Float(), nullable=True),
            sa.Column("accumulated_agd_right_mgy", sa.Float(), nullable=True),
            sa.Column("flags", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_projection_accumulated_dose_partition_key"),
            "projection_accumulated_dose",
            ["partition_key"],
            unique=False,
        )
        op.create_index(
            op.f("ix_projection_accumulated_dose_study_instance_uid"),
            "projection_accumulated_dose",
            ["study_instance_uid"],
            unique=False,
        )
    if "projection_event_link" not in existing:
        op.create_table(
            "projection_event_link",
            sa.Column("partition_key", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
            sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("code_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("deid_profile_version", sa.Text(), nullable=False),
            sa.Column("processed_at", sa.DateTime(), nullable=False),
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("study_instance_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("irradiation_event_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("series_instance_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("sop_instance_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("modality", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_projection_event_link_irradiation_event_uid"),
            "projection_event_link",
            ["irradiation_event_uid"],
            unique=False,
        )
        op.create_index(
            op.f("ix_projection_event_link_partition_key"),
            "projection_event_link",
            ["partition_key"],
            unique=False,
        )
        op.create_index(
            op.f("ix_projection_event_link_study_instance_uid"),
            "projection_event_link",
            ["study_instance_uid"],
            unique=False,
        )
    if "projection_study_context" not in existing:
        op.create_table(
            "projection_study_context",
            sa.Column("partition_key", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
            sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("code_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("deid_profile_version", sa.Text(), nullable=False),
            sa.Column("processed_at", sa.DateTime(), nullable=False),
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("study_instance_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("patient_pseudonym", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
            sa.Column("study_date", sa.Date(), nullable=True),
            sa.Column("device", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
            sa.Column("modality", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
            sa.Column("report_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("is_fluoroscopy", sa.Boolean(), nullable=False),
            sa.Column("n_reports", sa.Integer(), nullable=False),
            sa.Column("n_duplicate_reports", sa.Integer(), nullable=False),
            sa.Column("n_duplicate_events", sa.Integer(), nullable=False),
            sa.Column("n_planes", sa.Integer(), nullable=False),
            sa.Column("dap_total_reported_gym2", sa.Float(), nullable=True),
            sa.Column("dose_rp_total_reported_a_gy", sa.Float(), nullable=True),
            sa.Column("dose_rp_total_reported_b_gy", sa.Float(), nullable=True),
            sa.Column("total_fluoro_time_reported_s", sa.Float(), nullable=True),
            sa.Column("total_acquisition_time_reported_s", sa.Float(), nullable=True),
            sa.Column("agd_left_reported_mgy", sa.Float(), nullable=True),
            sa.Column("agd_right_reported_mgy", sa.Float(), nullable=True),
            sa.Column("flags", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_projection_study_context_partition_key"),
            "projection_study_context",
            ["partition_key"],
            unique=False,
        )
        op.create_index(
            op.f("ix_projection_study_context_patient_pseudonym"),
            "projection_study_context",
            ["patient_pseudonym"],
            unique=False,
        )
        op.create_index(
            op.f("ix_projection_study_context_study_instance_uid"),
            "projection_study_context",
            ["study_instance_uid"],
            unique=False,
        )
    if "projection_study_dose" not in existing:
        op.create_table(
            "projection_study_dose",
            sa.Column("partition_key", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
            sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("code_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("deid_profile_version", sa.Text(), nullable=False),
            sa.Column("processed_at", sa.DateTime(), nullable=False),
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("study_instance_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("patient_pseudonym", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
            sa.Column("study_date", sa.Date(), nullable=True),
            sa.Column("study_day", sa.Integer(), nullable=True),
            sa.Column("device", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
            sa.Column("modality", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
            sa.Column("report_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("is_fluoroscopy", sa.Boolean(), nullable=False),
            sa.Column("n_reports", sa.Integer(), nullable=False),
            sa.Column("n_duplicate_reports", sa.Integer(), nullable=False),
            sa.Column("n_duplicate_events", sa.Integer(), nullable=False),
            sa.Column("n_events", sa.Integer(), nullable=False),
            sa.Column("n_fluoro_events", sa.Integer(), nullable=False),
            sa.Column("n_planes", sa.Integer(), nullable=False),
            sa.Column("dap_total_gym2", sa.Float(), nullable=True),
            sa.Column("dap_total_reported_gym2", sa.Float(), nullable=True),
            sa.Column("dose_rp_total_a_gy", sa.Float(), nullable=True),
            sa.Column("dose_rp_total_b_gy", sa.Float(), nullable=True),
            sa.Column("dose_rp_total_reported_a_gy", sa.Float(), nullable=True),
            sa.Column("dose_rp_total_reported_b_gy", sa.Float(), nullable=True),
            sa.Column("fluoro_dap_total_gym2", sa.Float(), nullable=True),
            sa.Column("acquisition_dap_total_gym2", sa.Float(), nullable=True),
            sa.Column("total_fluoro_time_reported_s", sa.Float(), nullable=True),
            sa.Column("total_acquisition_time_reported_s", sa.Float(), nullable=True),
            sa.Column("agd_left_mgy", sa.Float(), nullable=True),
            sa.Column("agd_right_mgy", sa.Float(), nullable=True),
            sa.Column("agd_left_reported_mgy", sa.Float(), nullable=True),
            sa.Column("agd_right_reported_mgy", sa.Float(), nullable=True),
            sa.Column("totals_match", sa.Boolean(), nullable=True),
            sa.Column("n_events_linked", sa.Integer(), nullable=False),
            sa.Column("flags", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_projection_study_dose_partition_key"),
            "projection_study_dose",
            ["partition_key"],
            unique=False,
        )
        op.create_index(
            op.f("ix_projection_study_dose_patient_pseudonym"),
            "projection_study_dose",
            ["patient_pseudonym"],
            unique=False,
        )
        op.create_index(
            op.f("ix_projection_study_dose_study_instance_uid"),
            "projection_study_dose",
            ["study_instance_uid"],
            unique=False,
        )
    if "fluoroscopy_cumulative_dose" not in existing:
        op.create_table(
            "fluoroscopy_cumulative_dose",
            sa.Column("partition_key", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
            sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("code_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("deid_profile_version", sa.Text(), nullable=False),
            sa.Column("processed_at", sa.DateTime(), nullable=False),
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("patient_pseudonym", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("study_instance_uid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("study_date", sa.Date(), nullable=False),
            sa.Column("window_weeks", sa.Integer(), nullable=False),
            sa.Column("n_studies_in_window", sa.Integer(), nullable=False),
            sa.Column("dap_cumulative_gym2", sa.Float(), nullable=False),
            sa.Column("dose_rp_cumulative_a_gy", sa.Float(), nullable=False),
            sa.Column("dose_rp_cumulative_b_gy", sa.Float(), nullable=False),
            sa.Column("dap_threshold_gym2", sa.Float(), nullable=False),
            sa.Column("dose_rp_threshold_gy", sa.Float(), nullable=False),
            sa.Column("dap_alert", sa.Boolean(), nullable=False),
            sa.Column("dose_rp_alert", sa.Boolean(), nullable=False),
            sa.Column("fraction_of_threshold", sa.Float(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            op.f("ix_fluoroscopy_cumulative_dose_partition_key"),
            "fluoroscopy_cumulative_dose",
            ["partition_key"],
            unique=False,
        )
        op.create_index(
            op.f("ix_fluoroscopy_cumulative_dose_patient_pseudonym"),
            "fluoroscopy_cumulative_dose",
            ["patient_pseudonym"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_fluoroscopy_cumulative_dose_patient_pseudonym"), table_name="fluoroscopy_cumulative_dose"
    )
    op.drop_index(
        op.f("ix_fluoroscopy_cumulative_dose_partition_key"), table_name="fluoroscopy_cumulative_dose"
    )
    op.drop_table("fluoroscopy_cumulative_dose")
    op.drop_index(op.f("ix_projection_study_dose_study_instance_uid"), table_name="projection_study_dose")
    op.drop_index(op.f("ix_projection_study_dose_patient_pseudonym"), table_name="projection_study_dose")
    op.drop_index(op.f("ix_projection_study_dose_partition_key"), table_name="projection_study_dose")
    op.drop_table("projection_study_dose")
    op.drop_index(
        op.f("ix_projection_study_context_study_instance_uid"), table_name="projection_study_context"
    )
    op.drop_index(
        op.f("ix_projection_study_context_patient_pseudonym"), table_name="projection_study_context"
    )
    op.drop_index(op.f("ix_projection_study_context_partition_key"), table_name="projection_study_context")
    op.drop_table("projection_study_context")
    op.drop_index(op.f("ix_projection_event_link_study_instance_uid"), table_name="projection_event_link")
    op.drop_index(op.f("ix_projection_event_link_partition_key"), table_name="projection_event_link")
    op.drop_index(op.f("ix_projection_event_link_irradiation_event_uid"), table_name="projection_event_link")
    op.drop_table("projection_event_link")
    op.drop_index(
        op.f("ix_projection_accumulated_dose_study_instance_uid"), table_name="projection_accumulated_dose"
    )
    op.drop_index(
        op.f("ix_projection_accumulated_dose_partition_key"), table_name="projection_accumulated_dose"
    )
    op.drop_table("projection_accumulated_dose")
    op.drop_index(op.f("ix_projection_dose_event_study_instance_uid"), table_name="projection_dose_event")
    op.drop_index(op.f("ix_projection_dose_event_partition_key"), table_name="projection_dose_event")
    op.drop_index(op.f("ix_projection_dose_event_irradiation_event_uid"), table_name="projection_dose_event")
    op.drop_table("projection_dose_event")
