"""The department analyses (activity, workflow, population, data quality) as report sections.

The analyses are computed by the analytics engine (``resources.analytics.catalog.run_analyses``),
which aggregates in SQL and hands back, per analysis, small tables and PNG plots. This module only
places them: each analysis goes to the section its key names, its tables pass the report's free-text
check (:meth:`~resources.report.model.ReportTable.from_frame`) and its plots are kept as they are.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import pandas as pd
import sqlalchemy as sa

from resources.report.model import ReportFigure, ReportTable, Section


class AnalysisLike(Protocol):
    """What the report reads of an analysis (``resources.analytics.catalog.Analysis``)."""

    @property
    def key(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def tables(self) -> Mapping[str, pd.DataFrame]: ...
    @property
    def figures(self) -> Mapping[str, bytes]: ...
    @property
    def notes(self) -> tuple[str, ...]: ...


AnalysesRunner = Callable[..., Iterable[AnalysisLike]]

# Section key, title and what a physicist should know to read it.
ANALYSIS_SECTIONS: tuple[tuple[str, str, str], ...] = (
    (
        "activity",
        "Activity and devices",
        "Studies, series and instances per modality, device and body region over the period, when in the "
        "week the scanners work, and the device map: each curated device with its first and last study, "
        "its volume, the share of its studies that carry a dose report and the software versions seen. "
        "Devices are the curated canonical devices (one scanner, one label), serial numbers pseudonymised.",
    ),
    (
        "workflow",
        "Workflow",
        "Exam duration is the time from the first to the last acquisition of a study (from the images' "
        "acquisition times, so it leaves out positioning before the first scan); inter-image gaps and the "
        "throughput per device and hour show how the rooms are used. Times are research-zone times, "
        "shifted per patient by whole days, so hours of the day are kept.",
    ),
    (
        "population",
        "Population",
        "Patients by age band and sex per modality and exam, the paediatric share, and dose by age band. "
        "Ages are the age at the study (from Patient's Age, else from birth and study dates, which the "
        "de-identification shifts by the same days); no birth date is kept. Paediatric examinations need "
        "their own reference levels.",
    ),
    (
        "data_quality",
        "Data quality",
        "How complete the audited attributes are per device and vendor, exam names the mapping does not "
        "know yet (as counts), and Body Part Examined disagreeing with the body region inferred from the "
        "exam: the literature reports about 15 % of Body Part Examined values to be wrong, so the lake "
        "infers the region and flags the disagreement instead of trusting the tag.",
    ),
)
_SECTION_KEYS = tuple(key for key, _, _ in ANALYSIS_SECTIONS)
# Analysis keys that do not name their section themselves; the more specific words first, so that
# "completeness_per_device" is data quality, not activity.
_KEY_WORDS = {
    "quality": "data_quality",
    "completeness": "data_quality",
    "unmapped": "data_quality",
    "body_part": "data_quality",
    "duration": "workflow",
    "throughput": "workflow",
    "delay": "workflow",
    "paediatric": "population",
    "pediatric": "population",
    "age": "population",
    "sex": "population",
    "device": "activity",
    "scanner": "activity",
    "heatmap": "activity",
    "volume": "activity",
}


def section_of(analysis_key: str) -> str:
    """The section an analysis belongs to: the section key it starts with or names, else by a word in
    it, else activity (the broadest)."""
    key = analysis_key.lower()
    for section in _SECTION_KEYS:
        if key.startswith(section) or section in key:
            return section
    for word, section in _KEY_WORDS.items():
        if word in key:
            return section
    return "activity"


def default_runner() -> AnalysesRunner | None:
    """``run_analyses`` of the analytics engine, or None when this installation has none."""
    try:
        module = importlib.import_module("resources.analytics.catalog")
    except ImportError:
        return None
    runner: Any = getattr(module, "run_analyses", None)
    return runner if callable(runner) else None


def analysis_sections(
    engine: sa.Engine,
    *,
    start: dt.date,
    end: dt.date,
    schema: str | None = None,
    runner: AnalysesRunner | None = None,
) -> list[Section]:
    """The four analysis sections for the period, in report order (a section without analyses says so)."""
    run = runner or default_runner()
    found: dict[str, list[AnalysisLike]] = {key: [] for key in _SECTION_KEYS}
    if run is not None:
        for analysis in run(engine, start=start, end=end, schema=schema):
            found[section_of(analysis.key)].append(analysis)
    sections: list[Section] = []
    for key, title, explanation in ANALYSIS_SECTIONS:
        tables: list[ReportTable] = []
        figures: list[ReportFigure] = []
        notes: list[str] = []
        for analysis in found[key]:
            for name, png in analysis.figures.items():
                figures.append(
                    ReportFigure(title=f"{analysis.title}: {name}", png=png, alt=f"{analysis.title}, {name}")
                )
            for name, frame in analysis.tables.items():
                table = ReportTable.from_frame(f"{analysis.title}: {name}", frame)
                if table.left_out_columns:
                    notes.append(
                        f"{table.title}: columns {', '.join(table.left_out_columns)} left out "
                        "(may hold free text)."
                    )
                if table.columns:
                    tables.append(table)
            notes.extend(analysis.notes)
        if run is None:
            notes.append("The department analyses are not installed with this version of dicom-lake.")
        elif not found[key]:
            notes.append("No analysis of this kind has results for the period.")
        sections.append(Section(key, title, explanation, tuple(tables), tuple(figures), tuple(notes)))
    return sections
