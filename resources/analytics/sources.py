"""The warehouse tables the analyses read, and the joins several of them share.

A scanner is the curated canonical device: its canonical station and pseudonymised serial, whatever
manufacturer spelling or station label a header carried (one scanner can have several ``device_key``
values, one per spelling). Device rows are per partition, so joins match ``partition_key`` too.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from resources.analytics.sql import NON_IMAGE_MODALITIES, Period
from resources.warehouse import dose_tables, tables

UNKNOWN = "(unknown)"


def table(model: type[SQLModel]) -> sa.Table:
    found = model.__table__  # type: ignore[attr-defined]
    assert isinstance(found, sa.Table)
    return found


study = table(tables.Study)
series = table(tables.Series)
instance = table(tables.Instance)
device = table(tables.Device)
patient = table(tables.Patient)
ct_acquisition = table(tables.CtAcquisition)
mg_exposure = table(tables.MgExposure)
unmapped_name = table(tables.UnmappedName)
study_dose = table(dose_tables.StudyDose)
study_effective_dose = table(dose_tables.StudyEffectiveDose)


def station_label(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    return sa.func.coalesce(column, UNKNOWN)


def device_series(period: Period, *, images_only: bool = True) -> sa.Subquery:
    """One row per series of the period with its scanner (canonical station, serial, maker, model)."""
    joined = series.outerjoin(
        device,
        sa.and_(device.c.device_key == series.c.device_key, device.c.partition_key == series.c.partition_key),
    )
    where = period.clauses(series.c.partition_key)
    if images_only:
        where.append(sa.func.coalesce(series.c.modality, "").not_in(NON_IMAGE_MODALITIES))
    return (
        sa.select(
            series.c.partition_key,
            series.c.study_instance_uid,
            series.c.series_instance_uid,
            series.c.modality,
            series.c.exam_name,
            series.c.body_part_examined,
            series.c.body_region_name,
            series.c.series_time,
            series.c.n_instances,
            station_label(device.c.station_canonical).label("station"),
            device.c.serial_pseudonym,
            device.c.manufacturer,
            device.c.model_name,
            device.c.software_versions,
            station_label(device.c.institution_canonical).label("institution"),
        )
        .select_from(joined)
        .where(*where)
        .subquery("device_series")
    )


def study_scanner(period: Period) -> sa.Subquery:
    """One row per study of the period: its scanner (the first canonical station of its image series),
    modality, exam and region as curated."""
    ds = device_series(period)
    per_study = (
        sa.select(
            ds.c.study_instance_uid,
            sa.func.min(ds.c.station).label("station"),
            sa.func.min(ds.c.modality).label("modality"),
            sa.func.min(ds.c.manufacturer).label("manufacturer"),
        )
        .group_by(ds.c.study_instance_uid)
        .subquery("per_study")
    )
    return (
        sa.select(
            study.c.partition_key,
            study.c.study_instance_uid,
            study.c.patient_pseudonym,
            study.c.study_time,
            study.c.exam_name,
            study.c.body_region_name,
            study.c.patient_age_years,
            study.c.n_instances,
            per_study.c.station,
            per_study.c.modality,
            per_study.c.manufacturer,
        )
        .select_from(study.join(per_study, per_study.c.study_instance_uid == study.c.study_instance_uid))
        .where(*period.clauses(study.c.partition_key))
        .subquery("study_scanner")
    )
