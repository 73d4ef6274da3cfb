"""Breast-screening audits, aggregated in SQL (the same statements on SQLite and PostgreSQL).

* AGD against compressed breast thickness per source, view (CC/MLO/OTHER), system and period in
  thickness bands, with the national DRL per band (2D exposures only: the DRLs are for 2D).
* Compression force (and pressure where sent) per site, system and pseudonymised operator, with the
  share of exposures outside the site's force range.
* The Dance MGD against the modality's figure per system.

Medians and quartiles come from window functions (ROW_NUMBER / COUNT OVER), which both databases have;
a median is the mean of the middle one or two values, a quartile the nearest-rank value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa

from resources.dose.mammography.drl_bands import ThicknessDrl, drl_for_band
from resources.dose.mammography.sources import SYSTEM_SQL, exposure_source_sql

Period = Literal["month", "quarter", "year"]
MAX_BAND_MM = 200
MAX_FORCE_N = 400
PLOT_POINT_LIMIT = 5000


@dataclass(frozen=True)
class AuditSettings:
    band_mm: int
    period: Period
    force_min_n: float
    force_max_n: float
    tolerance_percent: float
    drl_set: str
    drls: list[ThicknessDrl]
    qa_file: str | None


@dataclass
class BreastAudit:
    dose_bands: list[dict[str, Any]] = field(default_factory=list)
    compression: list[dict[str, Any]] = field(default_factory=list)
    comparison: list[dict[str, Any]] = field(default_factory=list)
    scatter: list[tuple[str, float, float]] = field(default_factory=list)  # view, thickness, AGD
    force_histogram: list[tuple[str, int, int]] = field(default_factory=list)  # system, bin start, count
    sources: tuple[str, ...] = ()


def band_sql(column: str, width: int, upper: int = MAX_BAND_MM) -> str:
    """The lower edge of ``column``'s band as a CASE expression (no FLOOR: SQLite may lack it)."""
    arms = " ".join(
        f"WHEN {column} >= {low} AND {column} < {low + width} THEN {low}" for low in range(0, upper, width)
    )
    return f"CASE {arms} ELSE NULL END"


def period_sql(column: str, period: Period) -> str:
    text = f"CAST({column} AS TEXT)"
    if period == "year":
        return f"substr({text}, 1, 4)"
    if period == "quarter":
        quarter = f"CAST(((CAST(substr({text}, 6, 2) AS INTEGER) + 2) / 3) AS TEXT)"
        return f"substr({text}, 1, 4) || '-Q' || {quarter}"
    return f"substr({text}, 1, 7)"


def _median_sql(base: str, keys: list[str], value: str) -> str:
    """Per ``keys``: n, median, nearest-rank p25/p75 and mean of ``value`` over the rows of ``base``."""
    group = ", ".join(keys)
    return f"""
        WITH r AS (
            SELECT {group}, {value} AS v,
                   ROW_NUMBER() OVER (PARTITION BY {group} ORDER BY {value}) AS rn,
                   COUNT(*) OVER (PARTITION BY {group}) AS n
            FROM ({base}) AS base WHERE {value} IS NOT NULL
        )
        SELECT {group}, MAX(n) AS n,
               AVG(CASE WHEN rn IN ((n + 1) / 2, (n + 2) / 2) THEN v END) AS median,
               MAX(CASE WHEN rn = (n * 25 + 99) / 100 THEN v END) AS p25,
               MAX(CASE WHEN rn = (n * 75 + 99) / 100 THEN v END) AS p75,
               AVG(v) AS mean
        FROM r GROUP BY {group}
    """


def _fetch(connection: sa.Connection, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in connection.execute(sa.text(sql), params or {})]


def _dose_bands(connection: sa.Connection, source: str, settings: AuditSettings) -> list[dict[str, Any]]:
    base = f"""
        SELECT source, view, system, {period_sql("study_date", settings.period)} AS period,
               {band_sql("thickness_mm", settings.band_mm)} AS band_min, agd_mgy, mgd_mgy
        FROM ({source}) AS src
        WHERE is_2d = 1 AND study_date IS NOT NULL AND thickness_mm IS NOT NULL
    """
    keys = ["source", "view", "system", "period", "band_min"]
    agd = _fetch(connection, _median_sql(base, keys, "agd_mgy") + " ORDER BY 1, 2, 3, 4, 5")
    mgd = {
        tuple(r[k] for k in keys): r["median"] for r in _fetch(connection, _median_sql(base, keys, "mgd_mgy"))
    }
    rows = []
    for r in agd:
        if r["band_min"] is None:
            continue
        band_min, band_max = int(r["band_min"]), int(r["band_min"]) + settings.band_mm
        drl = drl_for_band(settings.drls, r["view"], band_min, band_max)
        rows.append(
            {
                "source": r["source"],
                "view": r["view"],
                "system": r["system"],
                "period": r["period"],
                "band_min_mm": band_min,
                "band_max_mm": band_max,
                "n_exposures": int(r["n"]),
                "median_agd_mgy": r["median"],
                "mean_agd_mgy": r["mean"],
                "median_mgd_mgy": mgd.get(tuple(r[k] for k in keys)),
                "drl_set": settings.drl_set,
                "drl_mgy": drl,
                "median_exceeds_drl": None if drl is None or r["median"] is None else r["median"] > drl,
            }
        )
    return rows


def _compression(connection: sa.Connection, source: str, settings: AuditSettings) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    params = {"lo": settings.force_min_n, "hi": settings.force_max_n}
    for kind, column in (("site", "site"), ("system", "system"), ("operator", "operator")):
        base = (
            f"SELECT source, COALESCE({column}, 'not recorded') AS group_value, force_n, pressure_kpa"
            f" FROM ({source}) AS src"
        )
        keys = ["source", "group_value"]
        force = _fetch(connection, _median_sql(base, keys, "force_n"))
        pressure = {
            (r["source"], r["group_value"]): r["median"]
            for r in _fetch(connection, _median_sql(base, keys, "pressure_kpa"))
        }
        outside = {
            (r["source"], r["group_value"]): int(r["n_out"] or 0)
            for r in _fetch(
                connection,
                f"SELECT source, group_value, SUM(CASE WHEN force_n < :lo OR force_n > :hi THEN 1 ELSE 0 END)"
                f" AS n_out FROM ({base}) AS b WHERE force_n IS NOT NULL GROUP BY source, group_value",
                params,
            )
        }
        for r in sorted(force, key=lambda r: (r["source"], r["group_value"])):
            key = (r["source"], r["group_value"])
            n = int(r["n"])
            rows.append(
                {
                    "source": r["source"],
                    "group_kind": kind,
                    "group_value": r["group_value"],
                    "n_exposures": n,
                    "median_force_n": r["median"],
                    "p25_force_n": r["p25"],
                    "p75_force_n": r["p75"],
                    "median_pressure_kpa": pressure.get(key),
                    "force_min_n": settings.force_min_n,
                    "force_max_n": settings.force_max_n,
                    "n_outside_range": outside.get(key, 0),
                    "share_outside_range": outside.get(key, 0) / n if n else None,
                }
            )
    return rows


def _comparison(connection: sa.Connection, settings: AuditSettings) -> list[dict[str, Any]]:
    base = f"""
        SELECT {SYSTEM_SQL} AS system, mgd_difference_percent, mgd_flagged
        FROM header_exposure WHERE modality = 'MG' AND counted
    """
    medians = {
        r["system"]: r["median"]
        for r in _fetch(connection, _median_sql(base, ["system"], "mgd_difference_percent"))
    }
    counts = _fetch(
        connection,
        f"""SELECT system, COUNT(*) AS n, COUNT(mgd_difference_percent) AS n_compared,
                   SUM(CASE WHEN mgd_flagged THEN 1 ELSE 0 END) AS n_flagged
            FROM ({base}) AS b GROUP BY system ORDER BY system""",
    )
    return [
        {
            "system": r["system"],
            "n_exposures": int(r["n"]),
            "n_compared": int(r["n_compared"]),
            "n_flagged": int(r["n_flagged"] or 0),
            "median_difference_percent": medians.get(r["system"]),
            "tolerance_percent": settings.tolerance_percent,
            "qa_file": settings.qa_file,
        }
        for r in counts
    ]


def breast_audit(engine: sa.Engine, settings: AuditSettings) -> BreastAudit:
    """Every audit over the whole warehouse, plus the (bounded) points the plots need."""
    source, names = exposure_source_sql(engine)
    audit = BreastAudit(sources=names)
    with engine.connect() as connection:
        audit.dose_bands = _dose_bands(connection, source, settings)
        audit.compression = _compression(connection, source, settings)
        audit.comparison = _comparison(connection, settings)
        audit.scatter = [
            (r["view"], float(r["thickness_mm"]), float(r["agd_mgy"]))
            for r in _fetch(
                connection,
                f"""SELECT view, thickness_mm, agd_mgy FROM ({source}) AS src
                    WHERE is_2d = 1 AND thickness_mm IS NOT NULL AND agd_mgy IS NOT NULL
                    ORDER BY exposure_uid LIMIT {PLOT_POINT_LIMIT}""",
            )
        ]
        audit.force_histogram = [
            (r["system"], int(r["bin"]), int(r["n"]))
            for r in _fetch(
                connection,
                f"""SELECT system, {band_sql("force_n", 10, MAX_FORCE_N)} AS bin, COUNT(*) AS n
                    FROM ({source}) AS src WHERE force_n IS NOT NULL
                    GROUP BY system, {band_sql("force_n", 10, MAX_FORCE_N)} ORDER BY 1, 2""",
            )
            if r["bin"] is not None
        ]
    return audit
