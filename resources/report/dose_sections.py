"""The dose sections: the DRL audit, and effective and cumulative dose, read from the warehouse.

Read-only SQL on the dose engine's tables (``study_dose``, ``drl_audit_row``, ``drl_exceeding_exam``,
``study_effective_dose``, ``patient_cumulative_dose``), aggregated in the database: what comes back is
one row per group (a five-number summary, a count per band) or a bounded list (the examinations above
a DRL, the patients nearest the cumulative threshold), never the period's rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from resources.report.model import ReportFigure, ReportTable, Section, require_no_free_text
from resources.report.plots import box_plot, count_bars, ratio_bars, threshold_bars
from resources.report.sql import band_labels, band_sql, in_clause, partition_params, period_labels, summaries

EFFECTIVE_DOSE_EDGES_MSV = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
MAX_LISTED = 25
IN_PERIOD = "partition_key >= :start AND partition_key < :after"

DRL_EXPLANATION = (
    "Diagnostic reference levels apply to the median of a sample of typical patients, per examination "
    "and room, never to one patient. The box plots show the period's per-study DLP and CTDIvol for each "
    "DRL category (box: interquartile range, line: median, whiskers: minimum to maximum) with the DRL "
    "marked in red. The audit table gives the medians per category, device and audit period against the "
    "DRL; a median above its DRL calls for a review of the protocol. The examinations above the DRL are "
    "listed for review (pseudonymised study UIDs), not as breaches. CTDIvol is the mean over the study's "
    "diagnostic events (localisers and bolus tracking left out); DLP is the study total."
)
EFFECTIVE_EXPLANATION = (
    "Effective dose E = k x DLP per irradiation event, summed per study, with the region- and age-specific "
    "conversion coefficients of the factor set named in the header. E is a population quantity for "
    "comparing techniques, not a patient's risk. A study with an event lacking DLP or region has no total "
    "and is counted apart. Cumulative dose sums a pseudonymised patient's study doses over rolling windows; "
    "the list shows the patients examined in this period whose highest rolling sum is nearest the alert "
    "threshold (whole warehouse, as of the last cumulative dose run)."
)


@dataclass(frozen=True)
class DoseContext:
    """What the dose sections need besides the connection: the period and the site's chosen sets."""

    start: dt.date
    end: dt.date
    drl_set: str
    factor_set: str

    @property
    def params(self) -> dict[str, str]:
        return partition_params(self.start, self.end)


def _frame(connection: sa.Connection, query: str, params: Mapping[str, Any], where: str) -> pd.DataFrame:
    result = connection.execute(sa.text(query), params)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    require_no_free_text(list(frame.columns), where)
    return frame


def _numeric(frame: pd.DataFrame, *names: str) -> pd.DataFrame:
    for name in names:
        frame[name] = pd.to_numeric(frame[name])
    return frame


def drl_levels(connection: sa.Connection, tables: set[str]) -> pd.DataFrame:
    """The DRL per category as the last audit used them (category, examination, CTDIvol, DLP)."""
    if "drl_audit_row" not in tables:
        return pd.DataFrame(columns=["category", "examination", "drl_ctdivol_mgy", "drl_dlp_mgycm"])
    query = (
        "SELECT category, MAX(examination) AS examination, MAX(drl_ctdivol_mgy) AS drl_ctdivol_mgy, "
        "MAX(drl_dlp_mgycm) AS drl_dlp_mgycm FROM drl_audit_row GROUP BY category ORDER BY category"
    )
    return _numeric(_frame(connection, query, {}, "drl levels"), "drl_ctdivol_mgy", "drl_dlp_mgycm")


def drl_section(connection: sa.Connection, context: DoseContext, tables: set[str]) -> Section:
    """Per-category distributions against the DRL, the audit medians and the examinations above."""
    notes: list[str] = []
    figures: list[ReportFigure] = []
    out_tables: list[ReportTable] = []
    if "study_dose" not in tables:
        notes.append("No CT dose table in the warehouse yet: the dose assets have not run.")
        return Section("drl_audit", "DRL audit", DRL_EXPLANATION, notes=tuple(notes))
    levels = drl_levels(connection, tables)
    by_category = levels.set_index("category") if len(levels) else None
    source = (
        "SELECT drl_category AS category, {value} AS x FROM study_dose "
        f"WHERE {IN_PERIOD} AND drl_category IS NOT NULL"
    )
    dlp = summaries(connection, source.format(value="dlp_total_mgycm"), ["category"], context.params)
    ctdi = summaries(
        connection, source.format(value="ctdivol_diagnostic_mean_mgy"), ["category"], context.params
    )
    for summary, column, name, unit in (
        (dlp, "drl_dlp_mgycm", "DLP per study", "mGy cm"),
        (ctdi, "drl_ctdivol_mgy", "CTDIvol per study", "mGy"),
    ):
        if summary.empty:
            continue
        levels_now = {} if by_category is None else by_category[column].dropna().to_dict()
        reference = {str(k): float(v) for k, v in levels_now.items()}
        figures.append(
            ReportFigure(
                title=f"{name} per DRL category, this period",
                png=box_plot(
                    summary, label="category", xlabel=f"{name} ({unit}); red = DRL", reference=reference
                ),
                alt=f"Box plots of {name} per DRL category with the DRL marked",
            )
        )
    if not dlp.empty:
        table = dlp.rename(columns={"median": "median_dlp_mgycm", "q1": "q1_dlp", "q3": "q3_dlp"})
        table = table[["category", "n", "q1_dlp", "median_dlp_mgycm", "q3_dlp"]]
        if by_category is not None:
            table = table.join(by_category[["drl_dlp_mgycm"]], on="category")
            table["median_percent_of_drl"] = (100 * table["median_dlp_mgycm"] / table["drl_dlp_mgycm"]).round(
                0
            )
        out_tables.append(ReportTable.from_frame("Study DLP per DRL category, this period", table))
    else:
        notes.append("No CT study in the period is mapped to a DRL category.")
    out_tables += _audit_rows(connection, context, tables, figures, notes)
    out_tables += _exceeding(connection, context, tables, notes)
    if "drl_unmapped_name" in tables:
        unmapped = connection.execute(sa.text("SELECT COUNT(*) FROM drl_unmapped_name")).scalar_one()
        if unmapped:
            notes.append(
                f"{unmapped} normalised exam names map to no DRL category (table drl_unmapped_name)."
            )
    return Section("drl_audit", "DRL audit", DRL_EXPLANATION, tuple(out_tables), tuple(figures), tuple(notes))


def _audit_rows(
    connection: sa.Connection,
    context: DoseContext,
    tables: set[str],
    figures: list[ReportFigure],
    notes: list[str],
) -> list[ReportTable]:
    if "drl_audit_row" not in tables:
        notes.append("No DRL audit in the warehouse yet: the drl_audit asset has not run.")
        return []
    labels = period_labels(context.start, context.end)
    placeholders, params = in_clause("period", labels)
    query = (
        "SELECT examination, device, period, n_studies, median_ctdivol_mgy, drl_ctdivol_mgy, "
        "median_dlp_mgycm, drl_dlp_mgycm, median_dlp_exceeds, n_exceeding FROM drl_audit_row "
        f"WHERE period IN ({placeholders}) "
        "ORDER BY CASE WHEN median_dlp_exceeds THEN 0 ELSE 1 END, examination, device, period"
    )
    rows = _frame(connection, query, params, "drl_audit_row")
    if rows.empty:
        notes.append(
            "No DRL audit row covers the audit periods this report touches: the audit has not run "
            "since these partitions were curated."
        )
        return []
    _numeric(rows, "median_dlp_mgycm", "drl_dlp_mgycm", "median_ctdivol_mgy", "drl_ctdivol_mgy")
    # SQLite hands booleans back as 0/1: shown as yes/no like PostgreSQL's.
    rows["median_dlp_exceeds"] = rows["median_dlp_exceeds"].astype("boolean")
    periods = sorted(set(rows["period"]))
    notes.append(
        "Audit medians are per calendar period of source study dates and cover whole periods: "
        + ", ".join(periods)
        + "."
    )
    ratio = rows.dropna(subset=["median_dlp_mgycm", "drl_dlp_mgycm"]).head(MAX_LISTED)
    if len(ratio):
        labels_shown = [f"{r.examination} | {r.device} | {r.period}" for r in ratio.itertuples()]
        figures.append(
            ReportFigure(
                title="Median DLP as a share of the DRL, per category, device and period",
                png=ratio_bars(
                    labels_shown,
                    list(ratio["median_dlp_mgycm"] / ratio["drl_dlp_mgycm"]),
                    xlabel="median DLP / DRL (%); red = above the DRL",
                ),
                alt="Bars of median DLP over DRL in percent per audit group",
            )
        )
    return [ReportTable.from_frame("Audit medians per examination, device and period", rows)]


def _exceeding(
    connection: sa.Connection, context: DoseContext, tables: set[str], notes: list[str]
) -> list[ReportTable]:
    if "drl_exceeding_exam" not in tables:
        return []
    # Restricted to the report's partitions through study_dose, whatever period the audit grouped by.
    query = (
        "SELECT e.study_instance_uid AS study, e.category, e.device, e.ctdivol_mgy, e.dlp_mgycm "
        "FROM drl_exceeding_exam e WHERE e.study_instance_uid IN "
        f"(SELECT study_instance_uid FROM study_dose WHERE {IN_PERIOD}) "
        "ORDER BY e.dlp_mgycm DESC"
    )
    count_query = f"SELECT COUNT(*) FROM ({query}) AS listed"
    total = connection.execute(sa.text(count_query), context.params).scalar_one()
    if not total:
        notes.append("No examination in the period is above its DRL.")
        return []
    rows = _frame(connection, query + f" LIMIT {MAX_LISTED}", context.params, "drl_exceeding_exam")
    caption = f"{total} examinations above the DRL" + (
        f"; the {MAX_LISTED} highest DLP shown" if total > MAX_LISTED else ""
    )
    return [ReportTable.from_frame("Examinations above the DRL (for review)", rows, caption=caption)]


def effective_dose_section(connection: sa.Connection, context: DoseContext, tables: set[str]) -> Section:
    """Effective dose per study (summary, per exam, per band) and the cumulative dose list."""
    title = "Effective dose and cumulative dose"
    if "study_effective_dose" not in tables:
        return Section(
            "effective_dose",
            title,
            EFFECTIVE_EXPLANATION,
            notes=("No effective dose table in the warehouse yet.",),
        )
    notes: list[str] = []
    figures: list[ReportFigure] = []
    out_tables: list[ReportTable] = []
    overall = summaries(
        connection,
        f"SELECT factor_set, effective_dose_msv AS x FROM study_effective_dose WHERE {IN_PERIOD}",
        ["factor_set"],
        context.params,
    )
    missing = _frame(
        connection,
        "SELECT factor_set, COUNT(*) AS studies_without_total FROM study_effective_dose "
        f"WHERE {IN_PERIOD} AND effective_dose_msv IS NULL GROUP BY factor_set",
        context.params,
        "study_effective_dose",
    )
    if overall.empty:
        notes.append("No study in the period has an effective dose.")
    else:
        overall = overall.merge(missing, on="factor_set", how="left")
        overall["studies_without_total"] = (
            pd.to_numeric(overall["studies_without_total"]).fillna(0).astype(int)
        )
        overall = overall.rename(columns={"n": "studies_with_total"})
        out_tables.append(ReportTable.from_frame("Effective dose per study (mSv)", overall))
    factor_sets = list(overall["factor_set"]) if not overall.empty else []
    chosen = (
        context.factor_set if context.factor_set in factor_sets else (factor_sets[0] if factor_sets else None)
    )
    if chosen is not None:
        params = {**context.params, "factor_set": chosen}
        per_exam = summaries(
            connection,
            "SELECT COALESCE(sd.exam_name, 'unnamed') AS exam, sed.effective_dose_msv AS x "
            "FROM study_effective_dose sed JOIN study_dose sd "
            "ON sd.study_instance_uid = sed.study_instance_uid "
            "AND sd.partition_key = sed.partition_key "
            "WHERE sed.partition_key >= :start AND sed.partition_key < :after "
            "AND sed.factor_set = :factor_set",
            ["exam"],
            params,
        )
        if not per_exam.empty:
            figures.append(
                ReportFigure(
                    title=f"Effective dose per study and exam ({chosen})",
                    png=box_plot(per_exam, label="exam", xlabel="effective dose per study (mSv)"),
                    alt="Box plots of study effective dose per exam",
                )
            )
            out_tables.append(ReportTable.from_frame(f"Effective dose per exam (mSv, {chosen})", per_exam))
        query, band_params = band_sql(
            "SELECT effective_dose_msv AS x FROM study_effective_dose "
            f"WHERE {IN_PERIOD} AND factor_set = :factor_set",
            EFFECTIVE_DOSE_EDGES_MSV,
        )
        bands = connection.execute(sa.text(query), {**params, **band_params}).fetchall()
        counts = dict.fromkeys(range(len(EFFECTIVE_DOSE_EDGES_MSV) + 1), 0) | {
            int(b): int(n) for b, n in bands
        }
        figures.append(
            ReportFigure(
                title=f"Studies per effective dose band ({chosen})",
                png=count_bars(
                    band_labels(EFFECTIVE_DOSE_EDGES_MSV, "mSv"),
                    list(counts.values()),
                    xlabel="effective dose per study",
                    ylabel="studies",
                ),
                alt="Bar chart of studies per effective dose band",
            )
        )
    out_tables += _cumulative(connection, context, tables, figures, notes)
    return Section(
        "effective_dose", title, EFFECTIVE_EXPLANATION, tuple(out_tables), tuple(figures), tuple(notes)
    )


def _cumulative(
    connection: sa.Connection,
    context: DoseContext,
    tables: set[str],
    figures: list[ReportFigure],
    notes: list[str],
) -> list[ReportTable]:
    if "patient_cumulative_dose" not in tables:
        notes.append("No cumulative dose table in the warehouse yet: patient_cumulative_dose has not run.")
        return []
    seen = f"SELECT patient_pseudonym FROM study_effective_dose WHERE {IN_PERIOD}"
    windows = [
        int(w)
        for (w,) in connection.execute(
            sa.text(
                f"SELECT DISTINCT window_years FROM patient_cumulative_dose "
                f"WHERE patient_pseudonym IN ({seen}) ORDER BY 1"
            ),
            context.params,
        )
    ]
    out: list[ReportTable] = []
    for window in windows:
        params = {**context.params, "window": window}
        alerts = connection.execute(
            sa.text(
                "SELECT COUNT(*) FROM patient_cumulative_dose WHERE window_years = :window AND alert "
                f"AND patient_pseudonym IN ({seen})"
            ),
            params,
        ).scalar_one()
        rows = _frame(
            connection,
            (
                "SELECT patient_pseudonym AS patient, factor_set, n_studies, studies_without_dose, "
                "max_rolling_msv, max_window_start, max_window_end, current_msv, threshold_msv, alert "
                "FROM patient_cumulative_dose WHERE window_years = :window "
                f"AND patient_pseudonym IN ({seen}) "
                f"ORDER BY max_rolling_msv DESC, patient_pseudonym LIMIT {MAX_LISTED}"
            ),
            params,
            "patient_cumulative_dose",
        )
        _numeric(rows, "max_rolling_msv", "threshold_msv")
        rows["alert"] = rows["alert"].astype("boolean")
        threshold = float(rows["threshold_msv"].max()) if len(rows) else None
        figures.append(
            ReportFigure(
                title=f"Highest {window}-year cumulative effective dose, patients examined in the period",
                png=threshold_bars(
                    list(rows["patient"]),
                    list(rows["max_rolling_msv"]),
                    threshold,
                    xlabel=f"highest {window}-year rolling sum (mSv)",
                ),
                alt=f"Bars of the highest {window}-year cumulative dose per pseudonymised patient",
            )
        )
        out.append(
            ReportTable.from_frame(
                f"Cumulative effective dose, {window}-year window (pseudonymised patients)",
                rows,
                caption=f"{alerts} patients examined in the period at or above the alert threshold",
            )
        )
    if not windows:
        notes.append("No patient examined in the period has a cumulative dose row yet.")
    return out
