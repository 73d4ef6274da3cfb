"""The report's SSDE section: size-specific dose per exam, the patient sizes it used, and how each
CT event got (or did not get) its SSDE.

SSDE (AAPM Reports 204 and 220) scales CTDIvol by a factor of the patient's water-equivalent diameter
Dw, so that a small patient's dose is not understated by the 32 cm phantom CTDIvol refers to. Each
event records its method (``ct_dose_event.ssde_method``); an event with a CTDIvol but no SSDE is
counted apart, never dropped. Everything aggregates in SQL (:func:`resources.report.sql.summaries`).
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from resources.dose.ssde import METHOD_LABELS
from resources.report.dose_sections import IN_PERIOD, DoseContext
from resources.report.model import ReportFigure, ReportTable, Section
from resources.report.plots import box_plot
from resources.report.sql import summaries

SSDE_EXPLANATION = (
    "Size-specific dose estimate (AAPM Reports 204 and 220): SSDE = f(Dw) x CTDIvol, where Dw is the "
    "patient's water-equivalent diameter and f the report's conversion factor for the 16 or 32 cm "
    "phantom the CTDIvol refers to. Dw comes from the first axial image of the event's series "
    "(image_dw_aapm220), else from the dose report's own SSDE or size, else from the AP and lateral "
    "dimensions; the method of every event is counted below. Events with a CTDIvol and no SSDE are "
    "counted as 'none' (no image, no size): their CTDIvol still counts in the DRL audit."
)
_EVENTS = (
    "FROM ct_dose_event e JOIN study_dose sd ON sd.study_instance_uid = e.study_instance_uid "
    "AND sd.partition_key = e.partition_key "
    "WHERE e.partition_key >= :start AND e.partition_key < :after AND e.ctdivol_mgy IS NOT NULL"
)


def ssde_section(connection: sa.Connection, context: DoseContext, tables: set[str]) -> Section:
    """SSDE per exam (table and box plots), Dw per exam, and the events per SSDE method."""
    title = "Size-specific dose estimate (SSDE)"
    if not {"ct_dose_event", "study_dose"} <= tables:
        return Section("ssde", title, SSDE_EXPLANATION, notes=("No CT dose events in the warehouse yet.",))
    methods = connection.execute(
        sa.text(
            "SELECT COALESCE(ssde_method, 'none') AS method, COUNT(*) AS events FROM ct_dose_event "
            f"WHERE {IN_PERIOD} AND ctdivol_mgy IS NOT NULL GROUP BY COALESCE(ssde_method, 'none') "
            "ORDER BY 2 DESC, 1"
        ),
        context.params,
    ).fetchall()
    if not methods:
        return Section("ssde", title, SSDE_EXPLANATION, notes=("No CT event with a CTDIvol in the period.",))
    method_table = pd.DataFrame(
        [(m, METHOD_LABELS.get(m, "no SSDE" if m == "none" else m), int(n)) for m, n in methods],
        columns=["method", "meaning", "events"],
    )
    exam = "COALESCE(sd.exam_name, 'unnamed') AS exam"
    per_exam = summaries(connection, f"SELECT {exam}, e.ssde_mgy AS x {_EVENTS}", ["exam"], context.params)
    ratio = summaries(
        connection,
        f"SELECT {exam}, e.ssde_mgy / e.ctdivol_mgy AS x {_EVENTS} AND e.ctdivol_mgy > 0",
        ["exam"],
        context.params,
    )
    sizes = summaries(
        connection,
        f"SELECT {exam}, e.water_equivalent_diameter_mm / 10.0 AS x {_EVENTS}",
        ["exam"],
        context.params,
    )
    tables_out = [ReportTable.from_frame("CT events per SSDE method", method_table)]
    figures: list[ReportFigure] = []
    notes: list[str] = []
    if per_exam.empty:
        notes.append("No CT event in the period has an SSDE (no image, dose report size or AP/LAT size).")
    else:
        tables_out += [
            ReportTable.from_frame("SSDE per CT event and exam (mGy)", per_exam),
            ReportTable.from_frame("SSDE / CTDIvol per CT event and exam", ratio),
            ReportTable.from_frame("Water-equivalent diameter Dw per CT event and exam (cm)", sizes),
        ]
        figures.append(
            ReportFigure(
                title="SSDE per CT event and exam",
                png=box_plot(per_exam, label="exam", xlabel="SSDE per event (mGy)"),
                alt="Box plots of SSDE per CT event for each exam",
            )
        )
    return Section("ssde", title, SSDE_EXPLANATION, tuple(tables_out), tuple(figures), tuple(notes))
