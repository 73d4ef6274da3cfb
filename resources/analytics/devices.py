"""Device map: every scanner (canonical station, pseudonymised serial, manufacturer, model, modality)
with first and last source day seen, volume, weekly trend, share of studies with a dose report,
dose indices per exam and the software versions it ran.

"Seen" days and weeks are source study dates (partition keys), never shifted dates.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from resources.analytics import plots
from resources.analytics.result import Analysis
from resources.analytics.sources import device_series, mg_exposure, study_dose, study_scanner
from resources.analytics.sql import Period, day_of, fetch, grouped_quantiles, week_start

KEY = "device_map"
TITLE = "Device map"
SCANNER = ("station", "serial_pseudonym", "modality")


def _devices(connection: sa.Connection, ds: sa.Subquery) -> pd.DataFrame:
    keys = [ds.c[k] for k in SCANNER]
    return fetch(
        connection,
        sa.select(
            *keys,
            sa.func.min(ds.c.manufacturer).label("manufacturer"),
            sa.func.count(sa.distinct(ds.c.manufacturer)).label("manufacturer_spellings"),
            sa.func.max(ds.c.model_name).label("model_name"),
            sa.func.min(ds.c.institution).label("institution"),
            sa.func.min(day_of(ds.c.partition_key)).label("first_seen"),
            sa.func.max(day_of(ds.c.partition_key)).label("last_seen"),
            sa.func.count(sa.distinct(ds.c.study_instance_uid)).label("studies"),
            sa.func.count().label("series"),
            sa.func.coalesce(sa.func.sum(ds.c.n_instances), 0).label("instances"),
        )
        .group_by(*keys)
        .order_by(*keys),
        "devices",
    )


def _dose_report_share(connection: sa.Connection, period: Period) -> pd.DataFrame:
    scanned = study_scanner(period)
    reported = (
        sa.select(study_dose.c.study_instance_uid)
        .where(study_dose.c.origin == "rdsr", *period.clauses(study_dose.c.partition_key))
        .subquery("reported")
    )
    keys = [scanned.c.station, scanned.c.modality]
    return fetch(
        connection,
        sa.select(
            *keys,
            sa.func.count(sa.distinct(reported.c.study_instance_uid)).label("studies_with_dose_report"),
        )
        .select_from(
            scanned.outerjoin(reported, reported.c.study_instance_uid == scanned.c.study_instance_uid)
        )
        .group_by(*keys),
        "studies with a dose report per device",
    )


def _ct_dose_per_exam(connection: sa.Connection, period: Period) -> pd.DataFrame:
    scanned = study_scanner(period)
    source = (
        sa.select(
            scanned.c.station,
            sa.func.coalesce(study_dose.c.exam_name, "(unmapped)").label("exam_name"),
            study_dose.c.dlp_total_mgycm,
            study_dose.c.ctdivol_diagnostic_mean_mgy,
        )
        .select_from(
            study_dose.join(scanned, scanned.c.study_instance_uid == study_dose.c.study_instance_uid)
        )
        .where(*period.clauses(study_dose.c.partition_key))
        .subquery("ct_dose")
    )
    dialect = connection.dialect.name
    groups = ["station", "exam_name"]
    dlp = fetch(connection, grouped_quantiles(source, groups, "dlp_total_mgycm", dialect), "DLP per device")
    ctdi = fetch(
        connection,
        grouped_quantiles(source, groups, "ctdivol_diagnostic_mean_mgy", dialect, qs=(0.5,)),
        "CTDIvol per device",
    )
    ctdi = ctdi[[*groups, "median"]].rename(columns={"median": "median_ctdivol_mgy"})
    dlp = dlp.rename(columns={c: f"{c}_dlp_mgycm" for c in ("min", "p25", "median", "p75", "max")})
    return dlp.merge(ctdi, on=groups, how="outer").sort_values(groups, ignore_index=True)


def build(connection: sa.Connection, period: Period) -> Analysis:
    ds = device_series(period)
    devices = _devices(connection, ds)
    share = _dose_report_share(connection, period)
    devices = devices.merge(share, on=["station", "modality"], how="left")
    devices["studies_with_dose_report"] = devices["studies_with_dose_report"].fillna(0).astype(int)
    devices["share_with_dose_report"] = (devices["studies_with_dose_report"] / devices["studies"]).round(4)
    software_keys = [ds.c.station, ds.c.serial_pseudonym, ds.c.software_versions]
    software = fetch(
        connection,
        sa.select(
            *software_keys,
            sa.func.min(day_of(ds.c.partition_key)).label("first_seen"),
            sa.func.max(day_of(ds.c.partition_key)).label("last_seen"),
            sa.func.count().label("series"),
        )
        .group_by(*software_keys)
        .order_by(*software_keys),
        "software versions",
    )
    week = week_start(day_of(ds.c.partition_key)).label("week")
    weekly = fetch(
        connection,
        sa.select(ds.c.station, week, sa.func.count(sa.distinct(ds.c.study_instance_uid)).label("studies"))
        .group_by(ds.c.station, week)
        .order_by(ds.c.station, week),
        "weekly volume per device",
    )
    ct_dose = _ct_dose_per_exam(connection, period)
    mg_source = (
        sa.select(ds.c.station, mg_exposure.c.organ_dose_mgy)
        .select_from(mg_exposure.join(ds, ds.c.series_instance_uid == mg_exposure.c.series_instance_uid))
        .subquery("mg_dose")
    )
    mg_dose = fetch(
        connection,
        grouped_quantiles(mg_source, ["station"], "organ_dose_mgy", connection.dialect.name),
        "organ dose per device",
    )
    dlp_per_device = fetch(
        connection,
        grouped_quantiles(_study_dlp(period), ["station"], "dlp_total_mgycm", connection.dialect.name),
        "DLP per device",
    )
    return Analysis(
        key=KEY,
        title=TITLE,
        tables={
            "devices": devices,
            "software_versions": software,
            "weekly_volume": weekly,
            "ct_dose_per_exam": ct_dose,
            "ct_dlp_per_device": dlp_per_device,
            "mg_organ_dose_per_device": mg_dose,
        },
        figures=plots.figures(
            weekly_volume=plots.trend_lines(
                weekly, "week", "studies", "station", "Studies per week and device (source calendar)"
            ),
            dlp_per_device=plots.box_plot(
                dlp_per_device, "station", "Study DLP per device", "DLP (mGy cm); whiskers min-max"
            ),
            organ_dose_per_device=plots.box_plot(
                mg_dose, "station", "Organ dose per MG exposure", "organ dose (mGy); whiskers min-max"
            ),
        ),
        notes=(
            f"Source study dates {period.describe()}; first/last seen are source study dates.",
            "A device is its canonical station and pseudonymised serial: manufacturer spellings of one "
            "scanner are merged (their number is in manufacturer_spellings).",
            "Dose report share: studies whose CT dose was read from a dose SR (study_dose.origin = rdsr).",
        ),
    )


def _study_dlp(period: Period) -> sa.Subquery:
    scanned = study_scanner(period)
    return (
        sa.select(scanned.c.station, study_dose.c.dlp_total_mgycm)
        .select_from(
            study_dose.join(scanned, scanned.c.study_instance_uid == study_dose.c.study_instance_uid)
        )
        .where(*period.clauses(study_dose.c.partition_key))
        .subquery("study_dlp")
    )
