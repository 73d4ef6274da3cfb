"""Population: age band and sex per modality and exam, the paediatric share, and CT dose (DLP and
effective dose) by age band.

Age bands are the curation's (``resources.curation.ages.age_band``), computed in SQL from the age at
the study; groups are limited to the SOURCE study dates (partition keys) of the period.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from resources.analytics import plots
from resources.analytics.result import Analysis
from resources.analytics.sources import patient, study, study_dose, study_effective_dose, study_scanner
from resources.analytics.sql import Period, age_band, fetch, grouped_quantiles

KEY = "population"
TITLE = "Population"
PAEDIATRIC_BELOW_YEARS = 18


def _demographics(connection: sa.Connection, period: Period) -> pd.DataFrame:
    scanned = study_scanner(period)
    joined = scanned.outerjoin(
        patient,
        sa.and_(
            patient.c.patient_pseudonym == scanned.c.patient_pseudonym,
            patient.c.partition_key == scanned.c.partition_key,
        ),
    )
    keys = [
        scanned.c.modality,
        sa.func.coalesce(scanned.c.exam_name, "(unmapped)").label("exam_name"),
        sa.func.coalesce(age_band(scanned.c.patient_age_years), "(unknown)").label("age_band"),
        sa.func.coalesce(patient.c.sex, "(unknown)").label("sex"),
    ]
    return fetch(
        connection,
        sa.select(*keys, sa.func.count().label("studies"))
        .select_from(joined)
        .group_by(*keys)
        .order_by(*keys),
        "studies per age band and sex",
    )


def _paediatric(connection: sa.Connection, period: Period) -> pd.DataFrame:
    scanned = study_scanner(period)
    age = scanned.c.patient_age_years
    frame = fetch(
        connection,
        sa.select(
            scanned.c.modality,
            sa.func.count().label("studies"),
            sa.func.count(age).label("studies_with_age"),
            sa.func.coalesce(sa.func.sum(sa.case((age < PAEDIATRIC_BELOW_YEARS, 1), else_=0)), 0).label(
                "paediatric_studies"
            ),
        )
        .group_by(scanned.c.modality)
        .order_by(scanned.c.modality),
        "paediatric share",
    )
    with_age = frame["studies_with_age"].where(frame["studies_with_age"] > 0)
    frame["paediatric_share"] = (frame["paediatric_studies"] / with_age).round(4)
    return frame


def _dose_by_age(connection: sa.Connection, period: Period) -> tuple[pd.DataFrame, pd.DataFrame]:
    dialect = connection.dialect.name
    dlp_source = (
        sa.select(
            sa.func.coalesce(age_band(study_dose.c.patient_age_years), "(unknown)").label("age_band"),
            study_dose.c.dlp_total_mgycm,
        )
        .where(*period.clauses(study_dose.c.partition_key))
        .subquery("dlp_by_age")
    )
    dlp = fetch(
        connection, grouped_quantiles(dlp_source, ["age_band"], "dlp_total_mgycm", dialect), "DLP by age"
    )
    effective_source = (
        sa.select(
            study_effective_dose.c.factor_set,
            sa.func.coalesce(age_band(study.c.patient_age_years), "(unknown)").label("age_band"),
            study_effective_dose.c.effective_dose_msv,
        )
        .select_from(
            study_effective_dose.outerjoin(
                study, study.c.study_instance_uid == study_effective_dose.c.study_instance_uid
            )
        )
        .where(*period.clauses(study_effective_dose.c.partition_key))
        .subquery("effective_by_age")
    )
    effective = fetch(
        connection,
        grouped_quantiles(effective_source, ["factor_set", "age_band"], "effective_dose_msv", dialect),
        "effective dose by age",
    )
    return _by_band(dlp), _by_band(effective)


def _band_order(band: str) -> int:
    head = band.split("-")[0].rstrip("+")
    return int(head) if head.isdigit() else 999


def _by_band(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("age_band", key=lambda bands: bands.map(_band_order), ignore_index=True)


def build(connection: sa.Connection, period: Period) -> Analysis:
    demographics = _demographics(connection, period)
    paediatric = _paediatric(connection, period)
    dlp_by_age, effective_by_age = _dose_by_age(connection, period)
    pyramid = demographics.groupby(["age_band", "sex"], dropna=False)["studies"].sum().reset_index()
    pyramid = _by_band(pyramid)
    return Analysis(
        key=KEY,
        title=TITLE,
        tables={
            "demographics": demographics,
            "paediatric_share": paediatric,
            "ct_dlp_by_age_band": dlp_by_age,
            "effective_dose_by_age_band": effective_by_age,
        },
        figures=plots.figures(
            age_and_sex=plots.stacked_bars(
                pyramid, "age_band", "sex", "studies", "Studies per age band and sex"
            ),
            dlp_by_age=plots.box_plot(dlp_by_age, "age_band", "CT study DLP by age band", "DLP (mGy cm)"),
            effective_dose_by_age=plots.box_plot(
                effective_by_age.assign(
                    group=effective_by_age["factor_set"] + " " + effective_by_age["age_band"]
                ),
                "group",
                "Effective dose by age band",
                "effective dose (mSv)",
            ),
        ),
        notes=(
            f"Source study dates {period.describe()}.",
            f"Paediatric: younger than {PAEDIATRIC_BELOW_YEARS} years at the study; the share is of studies "
            "with a known age.",
            "Dose by age band reads the study_dose and study_effective_dose tables (CT).",
        ),
    )
