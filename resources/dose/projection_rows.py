"""The projection X-ray dose engine's rows: one frozen dataclass per table of
:mod:`resources.warehouse.projection_tables`, with exactly its columns except the surrogate key and the
lineage (added by the warehouse at the write); :mod:`resources.dose.table_rows` converts them to and from
table rows. Keyword-only: the tables' column order puts defaults before required columns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectionDoseEventRow:
    """One unique projection X-ray irradiation event (``projection_dose_event``)."""

    study_instance_uid: str
    irradiation_event_uid: str | None = None
    event_index: int
    sr_sop_instance_uid: str
    seen_in_reports: int = 1
    report_kind: str
    acquisition_plane: str
    event_type: str | None = None
    datetime_started: dt.datetime | None = None
    acquisition_protocol: str | None = None
    anatomy_code: str | None = None
    anatomy_scheme: str | None = None
    target_region_code: str | None = None
    target_region_scheme: str | None = None
    laterality: str | None = None
    view: str | None = None
    dose_area_product_gym2: float | None = None
    dose_rp_gy: float | None = None
    reference_point_definition: str | None = None
    kvp: float | None = None
    tube_current_ma: float | None = None
    average_tube_current_ma: float | None = None
    exposure_uas: float | None = None
    exposure_time_ms: float | None = None
    pulse_width_ms: float | None = None
    pulse_rate_per_s: float | None = None
    number_of_pulses: int | None = None
    irradiation_duration_s: float | None = None
    fluoro_mode: str | None = None
    filter_materials: str | None = None
    filter_thickness_mm: float | None = None
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
    anode_target_material_code: str | None = None
    half_value_layer_mm: float | None = None
    entrance_exposure_at_rp_mgy: float | None = None
    average_glandular_dose_mgy: float | None = None
    exposure_index: float | None = None
    target_exposure_index: float | None = None
    deviation_index: float | None = None
    n_linked_instances: int = 0
    flags: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectionAccumulatedDoseRow:
    """One report's own totals for one plane (``projection_accumulated_dose``)."""

    study_instance_uid: str
    sr_sop_instance_uid: str
    acquisition_plane: str
    dose_area_product_total_gym2: float | None = None
    dose_rp_total_gy: float | None = None
    fluoro_dose_area_product_total_gym2: float | None = None
    fluoro_dose_rp_total_gy: float | None = None
    total_fluoro_time_s: float | None = None
    acquisition_dose_area_product_total_gym2: float | None = None
    acquisition_dose_rp_total_gy: float | None = None
    total_acquisition_time_s: float | None = None
    total_number_of_radiographic_frames: int | None = None
    reference_point_definition: str | None = None
    accumulated_agd_left_mgy: float | None = None
    accumulated_agd_right_mgy: float | None = None
    flags: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectionEventLinkRow:
    """An image instance carrying an event's Irradiation Event UID (``projection_event_link``)."""

    study_instance_uid: str
    irradiation_event_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    modality: str
    method: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectionStudyContextRow:
    """Per-study facts and the reports' own totals (``projection_study_context``)."""

    study_instance_uid: str
    patient_pseudonym: str | None = None
    study_date: dt.date | None = None
    device: str | None = None
    modality: str | None = None
    report_kind: str
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
    flags: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectionStudyDoseRow:
    """Per-study projection X-ray dose (``projection_study_dose``)."""

    study_instance_uid: str
    patient_pseudonym: str | None = None
    study_date: dt.date | None = None
    study_day: int | None = None
    device: str | None = None
    modality: str | None = None
    report_kind: str
    is_fluoroscopy: bool = False
    n_reports: int = 0
    n_duplicate_reports: int = 0
    n_duplicate_events: int = 0
    n_events: int = 0
    n_fluoro_events: int = 0
    n_planes: int = 0
    dap_total_gym2: float | None = None
    dap_total_reported_gym2: float | None = None
    dose_rp_total_a_gy: float | None = None
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
    flags: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class FluoroscopyCumulativeDoseRow:
    """A fluoroscopy study with the patient's rolling-window dose (``fluoroscopy_cumulative_dose``)."""

    patient_pseudonym: str
    study_instance_uid: str
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
    fraction_of_threshold: float
