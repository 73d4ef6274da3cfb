"""Warehouse tables of projection image-header exposures and of the breast-screening audits.

``header_exposure`` (partition_key = source study date): one row per MG, DX or CR image read from its
header, units normalised, with the Dance-model MGD and its comparison with the modality's figure.
Audits (partition_key = ``all``): ``breast_dose_band`` (AGD per thickness band, view, system and
period against the DRL), ``breast_compression`` (force and pressure per site, system and operator),
``breast_mgd_comparison`` (computed vs reported MGD per system).

Keys are research-zone UIDs; the operator is a digest of the de-identified Operators' Name; no free
text from the source is kept beyond device, station and institution names.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field

from resources.warehouse.lineage import LineageColumns

UID = 64


class HeaderExposure(LineageColumns, table=True):
    """One projection exposure from an image header (origin ``image_header``)."""

    __tablename__ = "header_exposure"

    id: int | None = Field(default=None, primary_key=True)
    sop_instance_uid: str = Field(index=True, max_length=UID)
    study_instance_uid: str = Field(index=True, max_length=UID)
    series_instance_uid: str = Field(max_length=UID)
    sop_class_uid: str = Field(max_length=UID)
    modality: str = Field(index=True, max_length=16)
    origin: str = Field(max_length=16)
    # False for a For Processing image whose For Presentation twin is in the warehouse: one exposure.
    counted: bool = True
    presentation_intent: str | None = Field(default=None, max_length=16)
    is_tomosynthesis: bool = False
    study_date: dt.date | None = Field(default=None, index=True)
    acquisition_datetime: dt.datetime | None = Field(default=None, sa_type=sa.DateTime)
    manufacturer: str | None = Field(default=None, max_length=64)
    model_name: str | None = Field(default=None, max_length=64)
    station_name: str | None = Field(default=None, max_length=64)
    institution_name: str | None = Field(default=None, max_length=64)
    station_canonical: str | None = Field(default=None, max_length=64)  # the curation's name mapping
    institution_canonical: str | None = Field(default=None, max_length=128)
    operator_key: str | None = Field(default=None, max_length=16)
    body_part: str | None = Field(default=None, max_length=32)
    view_position: str | None = Field(default=None, max_length=16)
    laterality: str | None = Field(default=None, max_length=4)
    kvp: float | None = None
    exposure_mas: float | None = None
    exposure_time_ms: float | None = None
    tube_current_ma: float | None = None
    anode_target_material: str | None = Field(default=None, max_length=32)
    filter_material: str | None = Field(default=None, max_length=64)
    filter_thickness_mm: float | None = None
    body_part_thickness_mm: float | None = None
    compression_force_n: float | None = None
    compression_pressure_kpa: float | None = None  # as sent, else force / contact area
    compression_contact_area_mm2: float | None = None
    relative_xray_exposure: float | None = None
    hvl_mm_al: float | None = None  # as the header sent it
    organ_dose_mgy: float | None = None  # the modality's AGD, converted from dGy
    entrance_dose_mgy: float | None = None
    dap_gycm2: float | None = None
    exposure_index: float | None = None
    target_exposure_index: float | None = None
    deviation_index: float | None = None
    detector_type: str | None = Field(default=None, max_length=16)
    exposure_control_mode: str | None = Field(default=None, max_length=16)
    mgd_mgy: float | None = None  # Dance model from the site QA file
    mgd_k_mgy: float | None = None
    mgd_hvl_mm_al: float | None = None
    mgd_g: float | None = None
    mgd_c: float | None = None
    mgd_s: float | None = None
    mgd_qa_example: bool = False  # computed with a QA file marked as an example
    mgd_reason: str | None = Field(default=None, max_length=128)  # why there is no MGD
    mgd_difference_percent: float | None = None  # (computed - reported) / reported
    mgd_flagged: bool = False  # difference beyond the site's tolerance
    flags: str = Field(default="", max_length=255)


class BreastDoseBand(LineageColumns, table=True):
    """AGD in one compressed-thickness band for one source, view, system and period, against the DRL."""

    __tablename__ = "breast_dose_band"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=16)  # image_header | rdsr
    view: str = Field(max_length=16)  # CC | MLO | OTHER
    system: str = Field(max_length=160)
    period: str = Field(max_length=8)
    band_min_mm: int
    band_max_mm: int
    n_exposures: int
    median_agd_mgy: float | None = None
    mean_agd_mgy: float | None = None
    median_mgd_mgy: float | None = None  # Dance model, where computed
    drl_set: str = Field(max_length=32)
    drl_mgy: float | None = None
    median_exceeds_drl: bool | None = None


class BreastCompression(LineageColumns, table=True):
    """Compression force (and pressure where sent) per site, system or operator."""

    __tablename__ = "breast_compression"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=16)
    group_kind: str = Field(max_length=16)  # site | system | operator
    group_value: str = Field(max_length=160)
    n_exposures: int
    median_force_n: float | None = None
    p25_force_n: float | None = None
    p75_force_n: float | None = None
    median_pressure_kpa: float | None = None
    force_min_n: float
    force_max_n: float
    n_outside_range: int
    share_outside_range: float | None = None


class BreastMgdComparison(LineageColumns, table=True):
    """Dance-model MGD against the modality's figure, per system."""

    __tablename__ = "breast_mgd_comparison"

    id: int | None = Field(default=None, primary_key=True)
    system: str = Field(max_length=160)
    n_exposures: int
    n_compared: int
    n_flagged: int
    median_difference_percent: float | None = None
    tolerance_percent: float
    qa_file: str | None = Field(default=None, max_length=255)  # None: no QA file configured


AUDIT_TABLES: tuple[type[LineageColumns], ...] = (BreastDoseBand, BreastCompression, BreastMgdComparison)
ALL_TABLES: tuple[type[LineageColumns], ...] = (HeaderExposure, *AUDIT_TABLES)
