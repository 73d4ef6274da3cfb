"""Workflow timing: exam duration (first to last acquisition of a study), gaps between consecutive
images of a series, screening mammography visit length (every view of a patient's screening visit on
one source day), throughput per scanner and hour of day, and the delay from acquisition to arrival in
the lake on the prospective path.

Durations and gaps are differences of acquisition date-times of one patient, which the whole-day,
per-patient date shift of de-identification preserves; visits and days are grouped by the SOURCE
study date (the partition key). The arrival delay is ``instance.arrival_delay_s``, computed by
de-identification from the spool's receipt time and the source header (``resources.deid.arrival``);
only instances that came by the listener (``arrival_path = 'prospective'``) count, since a retrieval's
delay says how old the study was when it was fetched, not how fast the department forwards.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from resources.analytics import plots
from resources.analytics.result import Analysis
from resources.analytics.sources import device_series, instance, study, study_scanner
from resources.analytics.sql import (
    NON_IMAGE_MODALITIES,
    Period,
    day_of,
    fetch,
    grouped_quantiles,
    hour_of,
    seconds_between,
)

PROSPECTIVE = "prospective"  # instance.arrival_path of the listener (resources.deid.arrival)
KEY = "workflow_timing"
TITLE = "Workflow timing"
SCREENING_EXAM = "Mammography screening"  # the exam name exam_names.csv maps screening views to


def _acquired(period: Period) -> list[sa.ColumnElement[bool]]:
    return [
        *period.clauses(instance.c.partition_key),
        instance.c.acquisition_datetime.is_not(None),
        sa.func.coalesce(instance.c.modality, "").not_in(NON_IMAGE_MODALITIES),
    ]


def _exam_durations(connection: sa.Connection, period: Period) -> tuple[pd.DataFrame, pd.DataFrame]:
    spans = (
        sa.select(
            instance.c.study_instance_uid,
            seconds_between(
                sa.func.min(instance.c.acquisition_datetime), sa.func.max(instance.c.acquisition_datetime)
            ).label("duration_s"),
        )
        .where(*_acquired(period))
        .group_by(instance.c.study_instance_uid)
        .subquery("spans")
    )
    scanned = study_scanner(period)
    source = (
        sa.select(
            scanned.c.modality,
            scanned.c.station,
            sa.func.coalesce(scanned.c.exam_name, "(unmapped)").label("exam_name"),
            (spans.c.duration_s / 60.0).label("duration_min"),
        )
        .select_from(spans.join(scanned, scanned.c.study_instance_uid == spans.c.study_instance_uid))
        .subquery("durations")
    )
    dialect = connection.dialect.name
    per_device = fetch(
        connection,
        grouped_quantiles(source, ["modality", "station"], "duration_min", dialect),
        "exam duration",
    )
    per_exam = fetch(
        connection,
        grouped_quantiles(source, ["modality", "exam_name"], "duration_min", dialect),
        "exam duration per exam",
    )
    return per_device.sort_values(["modality", "station"], ignore_index=True), per_exam.sort_values(
        ["modality", "exam_name"], ignore_index=True
    )


def _image_gaps(connection: sa.Connection, period: Period) -> pd.DataFrame:
    previous = sa.func.lag(instance.c.acquisition_datetime).over(
        partition_by=instance.c.series_instance_uid,
        order_by=(instance.c.acquisition_datetime, instance.c.sop_instance_uid),
    )
    gaps = (
        sa.select(
            instance.c.series_instance_uid,
            seconds_between(previous, instance.c.acquisition_datetime).label("gap_s"),
        )
        .where(*_acquired(period))
        .subquery("gaps")
    )
    ds = device_series(period)
    source = (
        sa.select(ds.c.modality, ds.c.station, gaps.c.gap_s)
        .select_from(gaps.join(ds, ds.c.series_instance_uid == gaps.c.series_instance_uid))
        .subquery("gap_rows")
    )
    frame = fetch(
        connection,
        grouped_quantiles(source, ["modality", "station"], "gap_s", connection.dialect.name),
        "gaps between images",
    )
    return frame.sort_values(["modality", "station"], ignore_index=True)


def _screening_visits(connection: sa.Connection, period: Period) -> pd.DataFrame:
    ds = device_series(period)
    visits = (
        sa.select(
            study.c.patient_pseudonym,
            instance.c.partition_key,
            sa.func.min(ds.c.station).label("station"),
            (
                seconds_between(
                    sa.func.min(instance.c.acquisition_datetime), sa.func.max(instance.c.acquisition_datetime)
                )
                / 60.0
            ).label("visit_min"),
        )
        .select_from(
            instance.join(ds, ds.c.series_instance_uid == instance.c.series_instance_uid).join(
                study, study.c.study_instance_uid == instance.c.study_instance_uid
            )
        )
        .where(*_acquired(period), ds.c.modality == "MG", study.c.exam_name == SCREENING_EXAM)
        .group_by(study.c.patient_pseudonym, instance.c.partition_key)
        .subquery("visits")
    )
    frame = fetch(
        connection,
        grouped_quantiles(visits, ["station"], "visit_min", connection.dialect.name),
        "screening visit length",
    )
    return frame.sort_values("station", ignore_index=True)


def _throughput(connection: sa.Connection, period: Period) -> pd.DataFrame:
    scanned = study_scanner(period)
    hour = hour_of(scanned.c.study_time)
    slots = (
        sa.select(
            scanned.c.station,
            day_of(scanned.c.partition_key).label("partition_key"),
            hour.label("hour"),
            sa.func.count().label("studies"),
        )
        .where(scanned.c.study_time.is_not(None))
        .group_by(scanned.c.station, day_of(scanned.c.partition_key), hour)
        .subquery("slots")
    )
    per_hour = fetch(
        connection,
        sa.select(
            slots.c.station,
            slots.c.hour,
            sa.func.sum(slots.c.studies).label("studies"),
            sa.func.max(slots.c.studies).label("peak_studies_per_hour"),
        )
        .group_by(slots.c.station, slots.c.hour)
        .order_by(slots.c.station, slots.c.hour),
        "throughput per device and hour",
    )
    days = fetch(
        connection,
        sa.select(
            slots.c.station, sa.func.count(sa.distinct(slots.c.partition_key)).label("days_active")
        ).group_by(slots.c.station),
        "active days per device",
    )
    frame = per_hour.merge(days, on="station", how="left")
    # Mean over the days the scanner worked at all: a scanner idle for a week is not "slow".
    frame["mean_studies_per_hour"] = (frame["studies"] / frame["days_active"]).round(3)
    return frame


def _prospective_delays(period: Period) -> sa.Subquery:
    """One row per prospective instance of the period with a delay: its device, day and delay."""
    ds = device_series(period, images_only=False)
    return (
        sa.select(
            ds.c.modality,
            ds.c.station,
            day_of(instance.c.partition_key).label("partition_key"),  # the source day
            instance.c.arrival_delay_s.label("delay_s"),
        )
        .select_from(instance.join(ds, ds.c.series_instance_uid == instance.c.series_instance_uid))
        .where(
            *period.clauses(instance.c.partition_key),
            instance.c.arrival_path == PROSPECTIVE,
            instance.c.arrival_delay_s.is_not(None),
        )
        .subquery("arrival_delays")
    )


def _with_iqr(frame: pd.DataFrame) -> pd.DataFrame:
    frame["iqr"] = frame["p75"] - frame["p25"]
    return frame


def _arrival_delays(
    connection: sa.Connection, period: Period
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Delay from acquisition to arrival (seconds, prospective path) per device, per device and day,
    and per day over every device (what the per-day figure shows: one box per day).

    Negative delays (a modality clock ahead of the lake's) are kept in the statistics and counted.
    """
    source = _prospective_delays(period)
    dialect = connection.dialect.name
    per_device = fetch(
        connection,
        grouped_quantiles(source, ["modality", "station"], "delay_s", dialect),
        "arrival delay per device",
    )
    negative = fetch(
        connection,
        sa.select(source.c.modality, source.c.station, sa.func.count().label("n_negative"))
        .where(source.c.delay_s < 0)
        .group_by(source.c.modality, source.c.station),
        "negative arrival delays per device",
    )
    per_device = per_device.merge(negative, on=["modality", "station"], how="left")
    per_device["n_negative"] = per_device["n_negative"].fillna(0).astype(int)
    per_day = fetch(
        connection,
        grouped_quantiles(source, ["partition_key", "modality", "station"], "delay_s", dialect),
        "arrival delay per device and day",
    )
    days = fetch(
        connection,
        grouped_quantiles(source, ["partition_key"], "delay_s", dialect),
        "arrival delay per day",
    )
    return (
        _with_iqr(per_device).sort_values(["modality", "station"], ignore_index=True),
        _with_iqr(per_day).sort_values(["partition_key", "modality", "station"], ignore_index=True),
        days.sort_values("partition_key", ignore_index=True),
    )


def _device_label(frame: pd.DataFrame) -> pd.Series:
    return frame["modality"].astype(str) + " " + frame["station"].astype(str)


def _in_minutes(frame: pd.DataFrame, label: pd.Series) -> pd.DataFrame:
    minutes = frame[["n", "min", "p25", "median", "p75", "max"]].copy()
    for column in ("min", "p25", "median", "p75", "max"):
        minutes[column] = minutes[column] / 60.0
    return minutes.assign(label=label)


def build(connection: sa.Connection, period: Period) -> Analysis:
    durations, durations_per_exam = _exam_durations(connection, period)
    gaps = _image_gaps(connection, period)
    visits = _screening_visits(connection, period)
    throughput = _throughput(connection, period)
    arrival, arrival_per_day, arrival_days = _arrival_delays(connection, period)
    labelled = durations.assign(device=_device_label(durations))
    return Analysis(
        key=KEY,
        title=TITLE,
        tables={
            "exam_duration_per_device": durations,
            "exam_duration_per_exam": durations_per_exam,
            "image_gaps": gaps,
            "screening_visits": visits,
            "throughput": throughput,
            "arrival_delay_per_device": arrival,
            "arrival_delay_per_day": arrival_per_day,
        },
        figures=plots.figures(
            exam_duration=plots.box_plot(
                labelled, "device", "Exam duration per device", "minutes, first to last acquisition"
            ),
            screening_visit=plots.box_plot(
                visits, "station", "Screening mammography visit length", "minutes, first to last view"
            ),
            throughput=plots.trend_lines(
                throughput,
                "hour",
                "mean_studies_per_hour",
                "station",
                "Studies per hour of day (mean per active day)",
            ),
            arrival_delay=plots.box_plot(
                _in_minutes(arrival, _device_label(arrival)),
                "label",
                "Delay from acquisition to arrival in the lake (listener)",
                "minutes, acquisition to receipt",
            ),
            arrival_delay_per_day=plots.box_plot(
                _in_minutes(arrival_days, arrival_days["partition_key"].astype(str)),
                "label",
                "Delay from acquisition to arrival per source day, every device (listener)",
                "minutes, acquisition to receipt",
            ),
        ),
        notes=(
            f"Source study dates {period.describe()}.",
            "Durations are minutes from the first to the last acquisition of a study; gaps are seconds "
            "between consecutive images of a series (the first image of a series has none).",
            "Arrival delays are seconds from the source acquisition date-time (header time in its own "
            "UTC offset, else the site's zone) to receipt by the listener (prospective path only; "
            "retrieved instances are left out); negative delays, a modality clock ahead of the lake's, "
            "are kept and counted in n_negative.",
        ),
    )
