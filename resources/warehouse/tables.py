"""The curation tables of the warehouse: what users query, export and hand to researchers.

Keys are research-zone (pseudonymised) UIDs. Every table carries the lineage columns
(:class:`~resources.warehouse.lineage.LineageColumns`), so a rerun replaces one partition's rows.
A patient or a device appears in many partitions; their tables hold one row per partition they appear
in (primary key includes ``partition_key``), which keeps a partition's replacement self-contained.
Tables join on ``study_instance_uid``, ``series_instance_uid``, ``sop_instance_uid`` and ``device_key``;
the dose tables (``resources.warehouse.dose_tables``) join on the same keys.

Only selected, de-identified metadata is kept: no whole headers, no names, no identifiers other than
pseudonyms. Descriptions and protocol names are kept as the de-identification stage wrote them
(scrubbed) because the exam-name mapping is extended from them.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field

from resources.warehouse.lineage import PARTITION_KEY_LENGTH, LineageColumns


class Patient(LineageColumns, table=True):
    """A pseudonymised patient as seen in one partition: sex and age band only."""

    __tablename__ = "patient"

    patient_pseudonym: str = Field(primary_key=True, max_length=64)
    partition_key: str = Field(primary_key=True, index=True, max_length=PARTITION_KEY_LENGTH)
    sex: str | None = Field(default=None, max_length=1)
    age_band: str | None = Field(default=None, max_length=8)


class Study(LineageColumns, table=True):
    __tablename__ = "study"

    study_instance_uid: str = Field(primary_key=True, max_length=64)
    patient_pseudonym: str | None = Field(default=None, index=True, max_length=64)
    study_date: dt.date | None = Field(default=None, index=True)  # shifted per patient
    study_time: dt.time | None = None
    modalities: str | None = Field(default=None, max_length=64)  # e.g. "CT\\SR"
    study_description: str | None = Field(default=None, max_length=128)
    exam_name: str | None = Field(default=None, index=True, max_length=64)
    body_region_code: str | None = Field(default=None, max_length=16)
    body_region_name: str | None = Field(default=None, max_length=32)
    body_region_confidence: float | None = None
    body_region_evidence: str | None = Field(default=None, max_length=255)
    patient_age_years: float | None = None
    age_source: str | None = Field(default=None, max_length=16)  # patient_age | dates
    # Patient's Weight (0010,1030) in kg as de-identified (kept under Retain Patient Characteristics),
    # for weight-banded reference levels (RP 185); None when absent or entered as 0. Revision 0009.
    patient_weight_kg: float | None = None
    n_series: int = 0
    n_instances: int = 0


class Series(LineageColumns, table=True):
    __tablename__ = "series"

    series_instance_uid: str = Field(primary_key=True, max_length=64)
    study_instance_uid: str = Field(index=True, max_length=64)
    device_key: str | None = Field(default=None, index=True, max_length=64)
    modality: str | None = Field(default=None, max_length=16)
    series_number: int | None = None
    series_date: dt.date | None = None
    series_time: dt.time | None = None
    series_description: str | None = Field(default=None, max_length=128)
    protocol_name: str | None = Field(default=None, max_length=128)
    body_part_examined: str | None = Field(default=None, max_length=32)
    exam_name: str | None = Field(default=None, max_length=64)
    body_region_code: str | None = Field(default=None, max_length=16)
    body_region_name: str | None = Field(default=None, max_length=32)
    body_region_confidence: float | None = None
    body_region_evidence: str | None = Field(default=None, max_length=255)
    n_instances: int = 0


class Instance(LineageColumns, table=True):
    __tablename__ = "instance"

    sop_instance_uid: str = Field(primary_key=True, max_length=64)
    series_instance_uid: str = Field(index=True, max_length=64)
    study_instance_uid: str = Field(index=True, max_length=64)
    sop_class_uid: str | None = Field(default=None, max_length=64)
    modality: str | None = Field(default=None, max_length=16)
    instance_number: int | None = None
    image_type: str | None = Field(default=None, max_length=128)
    # DICOM date-times are local times without an offset: stored naive.
    acquisition_datetime: dt.datetime | None = Field(default=None, sa_type=sa.DateTime)
    content_datetime: dt.datetime | None = Field(default=None, sa_type=sa.DateTime)
    irradiation_event_uid: str | None = Field(default=None, index=True, max_length=64)
    # Seconds from the source acquisition to arrival in the lake (never the arrival time itself) and
    # how it arrived: prospective (listener) or retrieval (C-MOVE/C-GET). Revision 0007.
    arrival_delay_s: float | None = None
    arrival_path: str | None = Field(default=None, max_length=16)


class Device(LineageColumns, table=True):
    """An imaging device; ``device_key`` is a digest of manufacturer, model and serial number."""

    __tablename__ = "device"

    device_key: str = Field(primary_key=True, max_length=64)
    partition_key: str = Field(primary_key=True, index=True, max_length=PARTITION_KEY_LENGTH)
    manufacturer: str | None = Field(default=None, max_length=64)
    model_name: str | None = Field(default=None, max_length=64)
    station_name: str | None = Field(default=None, max_length=16)
    station_canonical: str | None = Field(default=None, max_length=64)
    institution_name: str | None = Field(default=None, max_length=64)
    institution_canonical: str | None = Field(default=None, max_length=128)
    software_versions: str | None = Field(default=None, max_length=128)
    serial_pseudonym: str | None = Field(default=None, max_length=32)


class CtAcquisition(LineageColumns, table=True):
    """Exposure parameters from one CT image header (CTDIvol (0018,9345) etc.)."""

    __tablename__ = "ct_acquisition"

    sop_instance_uid: str = Field(primary_key=True, max_length=64)
    series_instance_uid: str = Field(index=True, max_length=64)
    study_instance_uid: str = Field(index=True, max_length=64)
    irradiation_event_uid: str | None = Field(default=None, index=True, max_length=64)
    ctdivol_mgy: float | None = None
    ctdi_phantom: str | None = Field(default=None, max_length=16)  # head | body
    kvp: float | None = None
    tube_current_ma: float | None = None
    exposure_mas: float | None = None
    exposure_time_ms: float | None = None
    slice_thickness_mm: float | None = None
    spiral_pitch_factor: float | None = None
    table_position_mm: float | None = None  # SliceLocation, else z of ImagePositionPatient


class MgExposure(LineageColumns, table=True):
    """One mammography exposure from an image header; organ dose normalised to mGy."""

    __tablename__ = "mg_exposure"

    sop_instance_uid: str = Field(primary_key=True, max_length=64)
    series_instance_uid: str = Field(index=True, max_length=64)
    study_instance_uid: str = Field(index=True, max_length=64)
    organ_dose_mgy: float | None = None
    entrance_dose_mgy: float | None = None
    body_part_thickness_mm: float | None = None
    compression_force_n: float | None = None
    kvp: float | None = None
    exposure_mas: float | None = None
    anode_target_material: str | None = Field(default=None, max_length=32)
    filter_material: str | None = Field(default=None, max_length=32)
    view_position: str | None = Field(default=None, max_length=16)
    laterality: str | None = Field(default=None, max_length=4)


class QualityFlag(LineageColumns, table=True):
    """One rule that a value broke; ``value`` is the offending (de-identified, numeric or coded) value."""

    __tablename__ = "quality_flag"

    id: int | None = Field(default=None, primary_key=True)
    level: str = Field(max_length=16)  # instance | series | study
    study_instance_uid: str | None = Field(default=None, index=True, max_length=64)
    series_instance_uid: str | None = Field(default=None, max_length=64)
    sop_instance_uid: str | None = Field(default=None, max_length=64)
    rule: str = Field(index=True, max_length=64)
    field_name: str = Field(max_length=64)
    value: str | None = Field(default=None, max_length=128)
    severity: str = Field(default="warning", max_length=16)


class PhiFinding(LineageColumns, table=True):
    """The de-identification stage's audit of PHI found in free text (never the text itself)."""

    __tablename__ = "phi_finding"

    id: int | None = Field(default=None, primary_key=True)
    sop_instance_uid: str = Field(index=True, max_length=64)
    tag_path: str = Field(max_length=255)
    entity_type: str = Field(max_length=64)
    score: float | None = None
    action: str = Field(max_length=32)


class UnmappedName(LineageColumns, table=True):
    """Names the normalisation files did not map, with counts, so a physicist can extend them."""

    __tablename__ = "unmapped_name"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)  # exam_name | institution | station
    name: str = Field(max_length=128)
    count: int = 0


CURATION_TABLES: tuple[type[LineageColumns], ...] = (
    Patient,
    Study,
    Series,
    Instance,
    Device,
    CtAcquisition,
    MgExposure,
    QualityFlag,
    PhiFinding,
    UnmappedName,
)
"""Every table the curation asset replaces, in write order."""
