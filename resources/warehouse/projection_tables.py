"""Warehouse tables of projection X-ray dose (TID 10001: fluoroscopy, interventional, radiography and
mammography reports). Keys are research-zone (pseudonymised) UIDs.

Partitioned tables (partition_key = source study date): ``projection_dose_event`` (unique events),
``projection_accumulated_dose`` (each report's own totals per plane), ``projection_event_link`` (event ->
series / instance by Irradiation Event UID), ``projection_study_context`` (per study: patient, date,
device and the reports' own totals), ``projection_study_dose`` (per study, totals recomputed in SQL from
the unique events beside the reported ones). Whole-warehouse report (partition_key = ``all``):
``fluoroscopy_cumulative_dose`` (per fluoroscopy study, the patient's DAP and dose at RP over the rolling
window ending at it, against the site's alert thresholds).

Units are in the column names: DAP in Gy.m2, dose at RP in Gy, AGD and entrance exposure in mGy. No
patient name, ID or birth date is stored; free text is limited to acquisition protocol names and the
reference point definition, read from de-identified instances.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field

from resources.warehouse.lineage import LineageColumns

UID = 64


class ProjectionDoseEvent(LineageColumns, table=True):
    """One projection X-ray irradiation event (TID 10003), unique in its study after de-duplication."""

    __tablename__ = "projection_dose_event"

    id: int | None = Field(default=None, primary_key=True)
    study_instance_uid: str = Field(index=True, max_length=UID)
    irradiation_event_uid: str | None = Field(default=None, index=True, max_length=UID)
    event_index: int
    sr_sop_instance_uid: str = Field(max_length=UID)
    seen_in_reports: int = 1
    report_kind: str = Field(max_length=16)  # "projection_xray" | "mammography"
    acquisition_plane: str = Field(max_length=8)  # "single" | "plane_a" | "plane_b"
    event_type: str | None = Field(default=None, max_length=32)
    datetime_started: dt.datetime | None = Field(default=None, sa_type=sa.DateTime)  # naive, research zone
    acquisition_protocol: str | None = Field(default=None, max_length=128)
    anatomy_code: str | None = Field(default=None, max_length=32)
    anatomy_scheme: str | None = Field(default=None, max_length=16)
    target_region_code: str | None = Field(default=None, max_length=32)
    target_region_scheme: str | None = Field(default=None, max_length=16)
    laterality: str | None = Field(default=None, max_length=8)
    view: str | None = Field(default=None, max_length=32)
    dose_area_product_gym2: float | None = None
    dose_rp_gy: float | None = None
    reference_point_definition: str | None = Field(default=None, max_length=64)
    kvp: float | None = None
    tube_current_ma: float | None = None
    average_tube_current_ma: float | None = None
    exposure_uas: float | None = None
    exposure_time_ms: float | None = None
    pulse_width_ms: float | None = None
    pulse_rate_per_s: float | None = None
    number_of_pulses: int | None = None
    irradiation_duration_s: float | None = None
    fluoro_mode: str | None = Field(default=None, max_length=16)
    filter_materials: str | None = Field(default=None, max_length=128)  # code values joined by "+"
    filter_thickness_mm: float | None = None  # sum of the filters' maximum thickness
    focal_spot_size_mm: float | None = None
    collimated_field_area_m2: float | None = None
    collimated_field_height_mm: float | None = None
    collimated_field_width_mm: float | None = None
    distance_source_to_detector_mm: float | None = None
    distance_source_to_isocenter_mm: float | None = None
    distance_source_to_reference_point_mm: float | None = None
    table_longitudinal_position_mm: float | None = None
    table_lateral_position_mm: float | None = None
    table_height_position_mm: float | None = None
    positioner_primary_angle_deg: float | None = None
    positioner_secondary_angle_deg: float | None = None
    patient_equivalent_thickness_mm: float | None = None
    compression_thickness_mm: float | None = None
    compression_force_n: float | None = None
    compression_pressure_kpa: float | None = None
    compression_contact_area_mm2: float | None = None
    anode_target_material_code: str | None = Field(default=None, max_length=32)
    half_value_layer_mm: float | None = None
    entrance_exposure_at_rp_mgy: float | None = None
    average_glandular_dose_mgy: float | None = None
    exposure_index: float | None = None
    target_exposure_index: float | None = None
    deviation_index: float | None = None
    n_linked_instances: int = 0
    flags: str = Field(default="", max_length=512)


class ProjectionAccumulatedDose(LineageColumns, table=True):
    """One report's own totals for one plane (TID 10002 with 10004 / 10005 / 10007), as stated."""

    __tablename__ = "projection_accumulated_dose"

    id: int | None = Field(default=None, primary_key=True)
    study_instance_uid: str = Field(index=True, max_length=UID)
    sr_sop_instance_uid: str = Field(max_length=UID)
    acquisition_plane: str = Field(max_length=8)
    dose_area_product_total_gym2: float | None = None
    dose_rp_total_gy: float | None = None
    fluoro_dose_area_product_total_gym2: float | None = None
    fluoro_dose_rp_total_gy: float | None = None
    total_fluoro_time_s: float | None = None
    acquisition_dose_area_product_total_gym2: float | None = None
    acquisition_dose_rp_total_gy: float | None = None
    total_acquisition_time_s: float | None = None
    total_number_of_radiographic_frames: int | None = None
    reference_point_definition: str | None = Field(default=None, max_length=64)
    accumulated_agd_left_mgy: float | None = None
    accumulated_agd_right_mgy: float | None = None
    flags: str = Field(default="", max_length=512)


class ProjectionEventLink(LineageColumns, table=True):
    """An image instance that carries an event's Irradiation Event UID (0008,3010)."""

    __tablename__ = "projection_event_link"

    id: int | None = Field(default=None, primary_key=True)
    study_instance_uid: str = Field(index=True, max_length=UID)
    irradiation_event_uid: str = Field(index=True, max_length=UID)
    series_instance_uid: str = Field(max_length=UID)
    sop_instance_uid: str = Field(max_length=UID)
    modality: str = Field(max_length=16)
    method: str = Field(max_length=32)


class ProjectionStudyContext(LineageColumns, table=True):
    """Per-study facts read from the reports: who, when, which device, the reports' own totals."""

    __tablename__ = "projection_study_context"

    id: int | None = Field(default=None, primary_key=True)
    study_instance_uid: str = Field(index=True, max_length=UID)
    patient_pseudonym: str | None = Field(default=None, index=True, max_length=UID)
    study_date: dt.date | None = None
    device: str | None = Field(default=None, max_length=128)
    modality: str | None = Field(default=None, max_length=16)
    report_kind: str = Field(max_length=16)
    is_fluoroscopy: bool = False
    n_reports: int = 0
    n_duplicate_reports: int = 0
    n_duplicate_events: int = 0
    n_planes: int = 0
    dap_total_reported_gym2: float | None = None
    dose_rp_total_reported_a_gy: float | None = None
    dose_rp_total_reported_b_gy: float | None = None
    total_fluoro_time_reported_s: float | None = None
    total_acquisition_time_reported_s: float | None = None
    agd_left_reported_mgy: float | None = None
    agd_right_reported_mgy: float | None = None
    flags: str = Field(default="", max_length=512)


class ProjectionStudyDose(LineageColumns, table=True):
    """Per-study projection X-ray dose: totals from the unique events beside the reports' own."""

    __tablename__ = "projection_study_dose"

    id: int | None = Field(default=None, primary_key=True)
    study_instance_uid: str = Field(index=True, max_length=UID)
    patient_pseudonym: str | None = Field(default=None, index=True, max_length=UID)
    study_date: dt.date | None = None
    study_day: int | None = None  # proleptic ordinal of study_date: portable window arithmetic in SQL
    device: str | None = Field(default=None, max_length=128)
    modality: str | None = Field(default=None, max_length=16)
    report_kind: str = Field(max_length=16)
    is_fluoroscopy: bool = False
    n_reports: int = 0
    n_duplicate_reports: int = 0
    n_duplicate_events: int = 0
    n_events: int = 0
    n_fluoro_events: int = 0
    n_planes: int = 0
    dap_total_gym2: float | None = None
    dap_total_reported_gym2: float | None = None
    dose_rp_total_a_gy: float | None = None  # single plane or plane A
    dose_rp_total_b_gy: float | None = None
    dose_rp_total_reported_a_gy: float | None = None
    dose_rp_total_reported_b_gy: float | None = None
    fluoro_dap_total_gym2: float | None = None
    acquisition_dap_total_gym2: float | None = None
    total_fluoro_time_reported_s: float | None = None
    total_acquisition_time_reported_s: float | None = None
    agd_left_mgy: float | None = None
    agd_right_mgy: float | None = None
    agd_left_reported_mgy: float | None = None
    agd_right_reported_mgy: float | None = None
    totals_match: bool | None = None
    n_events_linked: int = 0
    flags: str = Field(default="", max_length=512)


class FluoroscopyCumulativeDose(LineageColumns, table=True):
    """A fluoroscopy study with the patient's dose over the rolling window ending at it (whole warehouse)."""

    __tablename__ = "fluoroscopy_cumulative_dose"

    id: int | None = Field(default=None, primary_key=True)
    patient_pseudonym: str = Field(index=True, max_length=UID)
    study_instance_uid: str = Field(max_length=UID)
    study_date: dt.date
    window_weeks: int
    n_studies_in_window: int
    dap_cumulative_gym2: float
    dose_rp_cumulative_a_gy: float
    dose_rp_cumulative_b_gy: float
    dap_threshold_gym2: float
    dose_rp_threshold_gy: float
    dap_alert: bool
    dose_rp_alert: bool
    fraction_of_threshold: float  # the larger of the two quantities' share of its threshold


PARTITIONED_TABLES = (
    ProjectionDoseEvent,
    ProjectionAccumulatedDose,
    ProjectionEventLink,
    ProjectionStudyContext,
    ProjectionStudyDose,
)
REPORT_TABLES = (FluoroscopyCumulativeDose,)
ALL_TABLES = PARTITIONED_TABLES + REPORT_TABLES
