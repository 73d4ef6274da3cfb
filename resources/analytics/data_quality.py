"""Data quality: completeness of each audited attribute per scanner and vendor spelling, unmapped names
per source month, and Body Part Examined disagreeing with the inferred body region per scanner.

Body Part Examined is wrong in about 15 % of studies in the literature (Gueld et al. 2002). The
database groups series by (scanner, Body Part Examined as written, inferred region); each of those few
groups is then judged with the curation vocabulary's own agreement rule, so the verdict is the one
curation applied. Unmapped names are reported as counts only, per source month (partition key).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import sqlalchemy as sa

from resources.analytics import plots
from resources.analytics.result import Analysis
from resources.analytics.sources import (
    ct_acquisition,
    device,
    mg_exposure,
    series,
    station_label,
    study,
    study_scanner,
    unmapped_name,
)
from resources.analytics.sql import NON_IMAGE_MODALITIES, Period, fetch, month_of
from resources.curation.body_region import BodyRegionVocabulary, default_vocabulary
from resources.warehouse.completeness import COMPLETENESS_FIELDS

KEY = "data_quality"
TITLE = "Data quality"


def _device_join(child: sa.Table) -> Any:
    """``child`` joined to its series and to the device row of that series' partition."""
    if child is device:
        return device
    joined: Any = child
    if child is not series:
        joined = joined.join(series, series.c.series_instance_uid == child.c.series_instance_uid)
    joined = joined.outerjoin(
        device,
        sa.and_(device.c.device_key == series.c.device_key, device.c.partition_key == series.c.partition_key),
    )
    return joined


def _completeness_of(
    connection: sa.Connection, period: Period, name: str, fields: tuple[str, ...]
) -> pd.DataFrame:
    station: sa.ColumnElement[str]
    maker: sa.ColumnElement[Any]
    if name == "study":
        scanned = study_scanner(period)
        source: Any = study.join(scanned, scanned.c.study_instance_uid == study.c.study_instance_uid)
        station, maker, rows_of = scanned.c.station, scanned.c.manufacturer, study
    else:
        child = {
            "series": series,
            "ct_acquisition": ct_acquisition,
            "mg_exposure": mg_exposure,
            "device": device,
        }[name]
        source = _device_join(child)
        station, maker, rows_of = station_label(device.c.station_canonical), device.c.manufacturer, child
    keys = [station.label("station"), sa.func.coalesce(maker, "(unknown)").label("manufacturer")]
    frame = fetch(
        connection,
        sa.select(
            *keys,
            sa.func.count().label("rows"),
            *(sa.func.count(rows_of.c[f]).label(f"filled_{f}") for f in fields),
        )
        .select_from(source)
        .where(*period.clauses(rows_of.c.partition_key))
        .group_by(*keys),
        f"completeness of {name}",
    )
    # Labels carry a prefix: the device table has a field named like a grouping column (manufacturer).
    long = frame.melt(id_vars=["station", "manufacturer", "rows"], var_name="field", value_name="filled")
    long.insert(2, "attribute", name + "." + long.pop("field").str.removeprefix("filled_"))
    return long


def _completeness(connection: sa.Connection, period: Period) -> pd.DataFrame:
    parts = [
        _completeness_of(connection, period, name, fields) for name, fields in COMPLETENESS_FIELDS.items()
    ]
    frame = pd.concat(parts, ignore_index=True)
    frame["share"] = (frame["filled"] / frame["rows"]).round(4)
    return frame.sort_values(["attribute", "station", "manufacturer"], ignore_index=True)


def _unmapped(connection: sa.Connection, period: Period) -> pd.DataFrame:
    month = month_of(unmapped_name.c.partition_key).label("month")
    return fetch(
        connection,
        sa.select(
            month,
            unmapped_name.c.kind,
            sa.func.coalesce(sa.func.sum(unmapped_name.c.count), 0).label("occurrences"),
            sa.func.count(sa.distinct(unmapped_name.c.name)).label("distinct_names"),
        )
        .where(*period.clauses(unmapped_name.c.partition_key))
        .group_by(month, unmapped_name.c.kind)
        .order_by(month, unmapped_name.c.kind),
        "unmapped names per month",
    )


def _verdict(vocabulary: BodyRegionVocabulary, body_part: str, region_name: str | None) -> str:
    """``agrees`` (same region, or Body Part Examined names a region containing the inferred one),
    ``narrower`` (it names only a part of the inferred region: CHEST for a chest-abdomen-pelvis),
    ``disagrees`` (curation's contradiction: neither contains the other), or why no verdict."""
    written = vocabulary.from_body_part(body_part)
    inferred = vocabulary.regions.get(region_name) if region_name else None
    if written is None:
        return "unknown_body_part"
    if inferred is None:
        return "no_inferred_region"
    if written.name == inferred.name or inferred.name in written.includes:
        return "agrees"
    return "narrower" if written.name in inferred.includes else "disagrees"


def _body_part_disagreement(connection: sa.Connection, period: Period) -> pd.DataFrame:
    source = _device_join(series)
    keys = [
        station_label(device.c.station_canonical).label("station"),
        series.c.body_part_examined,
        series.c.body_region_name,
    ]
    groups = fetch(
        connection,
        sa.select(*keys, sa.func.count().label("series"))
        .select_from(source)
        .where(
            *period.clauses(series.c.partition_key),
            series.c.body_part_examined.is_not(None),
            sa.func.coalesce(series.c.modality, "").not_in(NON_IMAGE_MODALITIES),
        )
        .group_by(*keys),
        "body part examined against region",
    )
    columns = ["agrees", "narrower", "disagrees", "unknown_body_part", "no_inferred_region"]
    if groups.empty:
        return pd.DataFrame(
            columns=["station", "series_with_body_part", *columns, "share_disagreeing", "share_narrower"]
        )
    vocabulary = default_vocabulary()
    groups["verdict"] = [
        _verdict(vocabulary, str(part), region)
        for part, region in zip(groups["body_part_examined"], groups["body_region_name"], strict=True)
    ]
    frame = groups.pivot_table(
        index="station", columns="verdict", values="series", aggfunc="sum", fill_value=0
    )
    frame = frame.reindex(columns=columns, fill_value=0).reset_index()
    frame.insert(1, "series_with_body_part", frame[columns].sum(axis=1))
    judged = frame["agrees"] + frame["narrower"] + frame["disagrees"]
    frame["share_disagreeing"] = (frame["disagrees"] / judged.where(judged > 0)).round(4)
    frame["share_narrower"] = (frame["narrower"] / judged.where(judged > 0)).round(4)
    frame.columns.name = None
    return frame


def build(connection: sa.Connection, period: Period) -> Analysis:
    completeness = _completeness(connection, period)
    unmapped = _unmapped(connection, period)
    body_part = _body_part_disagreement(connection, period)
    per_attribute = completeness.groupby("attribute", as_index=False)[["rows", "filled"]].sum()
    per_attribute["share"] = (per_attribute["filled"] / per_attribute["rows"]).round(4)
    return Analysis(
        key=KEY,
        title=TITLE,
        tables={
            "completeness_per_attribute": per_attribute,
            "completeness_per_device": completeness,
            "unmapped_names_per_month": unmapped,
            "body_part_disagreement": body_part,
        },
        figures=plots.figures(
            unmapped_names=plots.stacked_bars(
                unmapped, "month", "kind", "occurrences", "Unmapped names per month (source calendar)"
            ),
            body_part_disagreement=plots.stacked_bars(
                body_part.melt(
                    id_vars=["station"], value_vars=["agrees", "narrower", "disagrees", "unknown_body_part"]
                ),
                "station",
                "variable",
                "value",
                "Image series: Body Part Examined against the inferred region",
            ),
        ),
        notes=(
            f"Source study dates {period.describe()}.",
            "Completeness: share of rows with the attribute set, per canonical station and manufacturer "
            "spelling (the same attributes the curation checks audit).",
            "Body Part Examined disagrees when the vocabulary's region for it and the region curation "
            "inferred from all evidence contain neither the other; narrower when it names only a part "
            "of the inferred region (CHEST for a chest-abdomen-pelvis study).",
        ),
    )
