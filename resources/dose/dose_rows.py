"""The dose engine's rows: one frozen dataclass per warehouse table of :mod:`resources.warehouse.dose_tables`.

Each dataclass has exactly the columns of its table except the surrogate key and the lineage columns
(added by the warehouse at the write), with the table's defaults; :mod:`resources.dose.table_rows`
converts them to and from table rows. Keys are research-zone (pseudonymised) UIDs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IrradiationEventRow:
    """One CT irradiation event (``ct_dose_event``): from a dose SR after de-duplication, or estimated."""

    study_instance_uid: str
    irradiation_event_uid: str | None
    event_index: int
    origin: str  # "rdsr" | "estimated"
    sr_sop_instance_uid: str | None = None
    seen_in_reports: int = 1
    acquisition_protocol: str | None = None
    target_region_code: str | None = None
    target_region_scheme: str | None = None
    acquisition_type: str | None = None
    start_datetime: dt.datetime | None = None
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None
    phantom: str | None = None
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
    link_method: str | None = None
    flags: str = ""
    ssde_method: str | None = None  # how ssde_mgy was obtained (resources.dose.ssde)


@dataclass(frozen=True, slots=True)
class EventSeriesLinkRow:
    """Which image series an event produced, and how the link was made (``ct_event_series_link``)."""

    study_instance_uid: str
    irradiation_event_uid: str
    series_instance_uid: str
    method: str
    time_difference_s: float | None = None


@dataclass(frozen=True, slots=True)
class StudyContextRow:
    """Per-study facts gathered while reading the partition's files (``dose_study_context``)."""

    study_instance_uid: str
    patient_pseudonym: str | None = None
    study_date: dt.date | None = None
    patient_age_years: float | None = None
    device: str | None = None
    exam_name: str | None = None
    drl_category: str | None = None
    unmapped_name: str | None = None
    body_part_region: str | None = None
    has_rdsr: bool = False
    n_reports: int = 0
    n_duplicate_reports: int = 0
    n_duplicate_events: int = 0
    dlp_total_reported_mgycm: float | None = None
    flags: str = ""


@dataclass(frozen=True, slots=True)
class StudyDoseRow:
    """Per-study CT dose (``study_dose``): totals from the unique events, checked against the report."""

    study_instance_uid: str
    origin: str  # "rdsr" | "estimated"
    n_events: int
    n_events_with_dose: int
    patient_pseudonym: str | None = None
    study_date: dt.date | None = None
    patient_age_years: float | None = None
    device: str | None = None
    exam_name: str | None = None
    drl_category: str | None = None
    body_part_region: str | None = None
    dlp_total_mgycm: float | None = None
    dlp_total_reported_mgycm: float | None = None
    totals_match: bool | None = None
    ctdivol_diagnostic_mean_mgy: float | None = None
    flags: str = ""


@dataclass(frozen=True, slots=True)
class EventEffectiveDoseRow:
    """E = k x DLP for one event, or the reason there is none (``effective_dose``)."""

    study_instance_uid: str
    irradiation_event_uid: str | None
    event_index: int
    factor_set: str
    factor_set_edition: str
    dlp_mgycm: float | None = None
    k_msv_per_mgycm: float | None = None
    effective_dose_msv: float | None = None
    region: str | None = None
    region_method: str | None = None
    age_band: str | None = None
    age_years: float | None = None
    method: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class StudyEffectiveDoseRow:
    """Study effective dose (``study_effective_dose``): the sum over events, None when one has no number."""

    study_instance_uid: str
    factor_set: str
    origin: str
    patient_pseudonym: str | None = None
    study_date: dt.date | None = None
    effective_dose_msv: float | None = None
    effective_dose_partial_msv: float = 0.0
    events_with_dose: int = 0
    events_without_number: int = 0
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DrlAuditGroupRow:
    """Medians per DRL category, device and period against the DRL (``drl_audit_row``)."""

    drl_set: str
    category: str
    examination: str
    device: str
    period: str
    n_studies: int
    median_ctdivol_mgy: float | None = None
    median_dlp_mgycm: float | None = None
    drl_ctdivol_mgy: float | None = None
    drl_dlp_mgycm: float | None = None
    median_ctdivol_exceeds: bool | None = None
    median_dlp_exceeds: bool | None = None
    n_exceeding: int = 0
    device_labels: int = 1  # dose-report device labels merged into this canonical device


@dataclass(frozen=True, slots=True)
class DrlExceedingExamRow:
    """An examination above the DRL, for review (``drl_exceeding_exam``)."""

    drl_set: str
    category: str
    device: str
    period: str
    study_instance_uid: str
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None


@dataclass(frozen=True, slots=True)
class DrlUnmappedNameRow:
    """A normalised exam name no DRL category is mapped to (``drl_unmapped_name``)."""

    name: str
    n_studies: int


@dataclass(frozen=True, slots=True)
class PatientCumulativeDoseRow:
    """Effective dose per pseudonymised patient over a rolling window (``patient_cumulative_dose``)."""

    patient_pseudonym: str
    window_years: int
    factor_set: str
    n_studies: int
    studies_without_dose: int
    max_rolling_msv: float
    max_window_start: dt.date
    max_window_end: dt.date
    current_msv: float
    threshold_msv: float
    alert: bool
