"""Warehouse tables of the dose engine (sqlmodel). Keys are research-zone (pseudonymised) UIDs.

Partitioned tables (partition_key = source study date): ``ct_dose_event``, ``ct_event_series_link``,
``dose_study_context``, ``study_dose``, ``effective_dose``, ``study_effective_dose``.
Whole-warehouse reports (partition_key = ``all``): ``drl_audit_row``, ``drl_exceeding_exam``,
``drl_unmapped_name``, ``patient_cumulative_dose``, ``local_drl_level``, ``projection_drl_audit_row``.

No patient name, ID or birth date is stored: the patient key is the research-zone pseudonym. Free
text kept is limited to acquisition protocol names and (for the unmapped-names list) normalised exam
names, both read from de-identified instances.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field

from resources.warehouse.lineage import LineageColumns

UID = 64


class CtDoseEvent(LineageColumns, table=True):
    """One CT irradiation event: read from a dose SR (unique after de-duplication) or estimated."""

    __tablename__ = "ct_dose_event"

    id: int | None = Field(default=None, primary_key=True)
    study_instance_uid: str = Field(index=True, max_length=UID)
    irradiation_event_uid: str | None = Field(default=None, index=True, max_length=UID)
    event_index: int
    origin: str = Field(max_length=16)  # "rdsr" | "estimated"
    sr_sop_instance_uid: str | None = Field(default=None, max_length=UID)
    seen_in_reports: int = 1
    acquisition_protocol: str | None = Field(default=None, max_length=128)
    target_region_code: str | None = Field(default=None, max_length=32)
    target_region_scheme: str | None = Field(default=None, max_length=16)
    acquisition_type: str | None = Field(default=None, max_length=32)
    start_datetime: dt.datetime | None = Field(default=None, sa_type=sa.DateTime)  # naive, research-zone time
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None
    phantom: str | None = Field(default=None, max_length=16)
    scanning_length_mm: float | None = None
    exposure_time_s: float | None = None
    nominal_single_collimation_mm: float | None = None
    nominal_total_collimation_mm: float | None = None
    pitch_factor: float | None = None
    number_of_xray_sources: int | None = None
    kvp: float | None = None
    tube_current_ma: float | None = None
    kvp_source_b: float | None = None
    tube_current_ma_source_b: float | None = None
    ssde_mgy: float | None = None
    water_equivalent_diameter_mm: float | None = None
    dose_check_alert: bool = False
    dose_check_notification: bool = False
    link_method: str | None = Field(default=None, max_length=32)
    flags: str = Field(default="", max_length=512)
    # rdsr | image_dw_aapm220 | rdsr_dw_aapm204 | ap_lat_aapm204 | age_table_aapm204 (resources.dose.ssde);
    # None: no SSDE
    ssde_method: str | None = Field(default=None, max_length=32)


class CtEventSeriesLink(LineageColumns, table=True):
    """Which image series an event produced, and how the link was made."""

    __tablename__ = "ct_event_series_link"

    id: int | None = Field(default=None, primary_key=True)
    study_instance_uid: str = Field(index=True, max_length=UID)
    irradiation_event_uid: str = Field(index=True, max_length=UID)
    series_instance_uid: str = Field(max_length=UID)
    method: str = Field(max_length=32)
    time_difference_s: float | None = None


class DoseStudyContext(LineageColumns, table=True):
    """Per-study facts the dose assets need, gathered while reading the partition's files."""

    __tablename__ = "dose_study_context"

    id: int | None = Field(default=None, primary_key=True)
    study_instance_uid: str = Field(index=True, max_length=UID)
    patient_pseudonym: str | None = Field(default=None, index=True, max_length=UID)
    study_date: dt.date | None = None
    patient_age_years: float | None = None
    device: str | None = Field(default=None, max_length=128)
    exam_name: str | None = Field(default=None, max_length=128)
    drl_category: str | None = Field(default=None, max_length=64)
    unmapped_name: str | None = Field(default=None, max_length=128)
    body_part_region: str | None = Field(default=None, max_length=32)
    has_rdsr: bool = False
    n_reports: int = 0
    n_duplicate_reports: int = 0
    n_duplicate_events: int = 0
    dlp_total_reported_mgycm: float | None = None
    flags: str = Field(default="", max_length=512)


class StudyDose(LineageColumns, table=True):
    """Per-study CT dose: totals recomputed from unique events and checked against the report."""

    __tablename__ = "study_dose"

    id: int | None = Field(default=None, primary_key=True)
    study_instance_uid: str = Field(index=True, max_length=UID)
    patient_pseudonym: str | None = Field(default=None, index=True, max_length=UID)
    study_date: dt.date | None = None
    patient_age_years: float | None = None
    device: str | None = Field(default=None, max_length=128)
    exam_name: str | None = Field(default=None, max_length=128)
    drl_category: str | None = Field(default=None, max_length=64)
    body_part_region: str | None = Field(default=None, max_length=32)
    origin: str = Field(max_length=16)  # "rdsr" | "estimated"
    n_events: int
    n_events_with_dose: int
    dlp_total_mgycm: float | None = None
    dlp_total_reported_mgycm: float | None = None
    totals_match: bool | None = None
    ctdivol_diagnostic_mean_mgy: float | None = None
    flags: str = Field(default="", max_length=512)


class EffectiveDose(LineageColumns, table=True):
    """E = k x DLP for one event, or the reason there is none."""

    __tablename__ = "effective_dose"

    id: int | None = Field(default=None, primary_key=True)
    study_instance_uid: str = Field(index=True, max_length=UID)
    irradiation_event_uid: str | None = Field(default=None, max_length=UID)
    event_index: int
    dlp_mgycm: float | None = None
    k_msv_per_mgycm: float | None = None
    effective_dose_msv: float | None = None
    factor_set: str = Field(max_length=32)
    factor_set_edition: str = Field(max_length=128)
    region: str | None = Field(default=None, max_length=32)
    region_method: str | None = Field(default=None, max_length=32)
    age_band: str | None = Field(default=None, max_length=16)
    age_years: float | None = None
    method: str | None = Field(default=None, max_length=32)
    reason: str | None = Field(default=None, max_length=256)


class StudyEffectiveDose(LineageColumns, table=True):
    """Study effective dose: the sum over events, None (with reason) when any event has no number."""

    __tablename__ = "study_effective_dose"

    id: int | None = Field(default=None, primary_key=True)
    study_instance_uid: str = Field(index=True, max_length=UID)
    patient_pseudonym: str | None = Field(default=None, index=True, max_length=UID)
    study_date: dt.date | None = None
    factor_set: str = Field(max_length=32)
    effective_dose_msv: float | None = None
    effective_dose_partial_msv: float = 0.0
    events_with_dose: int = 0
    events_without_number: int = 0
    origin: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=512)


class DrlAuditRow(LineageColumns, table=True):
    """Medians per DRL category, device and period against the DRL (whole warehouse).

    ``device`` is the curated canonical device (``device.station_canonical`` of the study's CT series),
    ``period`` the source calendar period (the partition's date coarsened to ISO week, month, quarter
    or year), never a shifted study date.
    """

    __tablename__ = "drl_audit_row"

    id: int | None = Field(default=None, primary_key=True)
    drl_set: str = Field(max_length=32)
    category: str = Field(max_length=64)
    examination: str = Field(max_length=128)
    device: str = Field(max_length=128)
    period: str = Field(max_length=16)
    n_studies: int
    median_ctdivol_mgy: float | None = None
    median_dlp_mgycm: float | None = None
    drl_ctdivol_mgy: float | None = None
    drl_dlp_mgycm: float | None = None
    median_ctdivol_exceeds: bool | None = None
    median_dlp_exceeds: bool | None = None
    n_exceeding: int = 0
    device_labels: int = 1


class DrlExceedingExam(LineageColumns, table=True):
    """An examination above the DRL (for review: a DRL applies to medians, not to single patients)."""

    __tablename__ = "drl_exceeding_exam"

    id: int | None = Field(default=None, primary_key=True)
    drl_set: str = Field(max_length=32)
    category: str = Field(max_length=64)
    device: str = Field(max_length=128)
    period: str = Field(max_length=16)
    study_instance_uid: str = Field(max_length=UID)
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None


class DrlUnmappedName(LineageColumns, table=True):
    """A normalised exam name no DRL category is mapped to (add it to the mapping CSV)."""

    __tablename__ = "drl_unmapped_name"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    n_studies: int


class PatientCumulativeDose(LineageColumns, table=True):
    """Effective dose per pseudonymised patient over a rolling window."""

    __tablename__ = "patient_cumulative_dose"

    id: int | None = Field(default=None, primary_key=True)
    patient_pseudonym: str = Field(index=True, max_length=UID)
    window_years: int
    factor_set: str = Field(max_length=32)
    n_studies: int
    studies_without_dose: int
    max_rolling_msv: float
    max_window_start: dt.date
    max_window_end: dt.date
    current_msv: float
    threshold_msv: float
    alert: bool


class LocalDrlLevel(LineageColumns, table=True):
    """A local DRL per ICRP 135: the third quartile of the per-room medians, per exam and period."""

    __tablename__ = "local_drl_level"

    id: int | None = Field(default=None, primary_key=True)
    category: str = Field(max_length=64)
    period: str = Field(max_length=16)
    quantity: str = Field(max_length=16)  # ctdivol_mgy | dlp_mgycm | dap_gycm2
    value: float | None = None  # None: fewer rooms with enough studies than a quartile needs
    n_rooms: int
    n_rooms_below_minimum: int
    n_studies: int
    min_studies_per_room: int
    room_medians: str = Field(default="", max_length=512)  # "CT1=7.9; CT2=8.4" (canonical devices)


class ProjectionDrlAuditRow(LineageColumns, table=True):
    """Median DAP per projection exam (radiography, fluoroscopy), canonical device and source period."""

    __tablename__ = "projection_drl_audit_row"

    id: int | None = Field(default=None, primary_key=True)
    category: str = Field(max_length=64)
    examination: str = Field(max_length=128)
    device: str = Field(max_length=128)
    period: str = Field(max_length=16)
    n_studies: int
    device_labels: int = 1
    drl_set: str | None = Field(default=None, max_length=32)  # None: no DRL set with DAP levels loaded
    median_dap_gycm2: float | None = None
    drl_dap_gycm2: float | None = None
    median_exceeds: bool | None = None
    n_exceeding: int = 0


PARTITIONED_TABLES = (
    CtDoseEvent,
    CtEventSeriesLink,
    DoseStudyContext,
    StudyDose,
    EffectiveDose,
    StudyEffectiveDose,
)
REPORT_TABLES = (
    DrlAuditRow,
    DrlExceedingExam,
    DrlUnmappedName,
    PatientCumulativeDose,
    LocalDrlLevel,
    ProjectionDrlAuditRow,
)
ALL_TABLES = PARTITIONED_TABLES + REPORT_TABLES
