"""The report model and renderers on a small hand-made warehouse and a local fake of the analyses
contract: free-text columns kept out, markup escaped, analyses placed in their sections, tables cut."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from resources.report import ReportRequest, build_report, render_html, render_pdf
from resources.report.analysis_sections import section_of
from resources.report.errors import EmptyPeriodError, ReportContentError, WarehouseMissingError
from resources.report.html_render import html_text
from resources.report.model import MAX_TABLE_ROWS, ReportTable, format_cell, require_no_free_text
from resources.report.plots import count_bars
from resources.warehouse.lineage import Lineage
from resources.warehouse.store import Warehouse
from resources.warehouse.tables import Study

DAY = dt.date(2026, 11, 9)


@dataclass(frozen=True)
class FakeAnalysis:
    """The analyses contract (resources.analytics.catalog.Analysis), as the report reads it."""

    key: str
    title: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, bytes] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def _warehouse(tmp_path: Path, *, studies: int = 3) -> str:
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    warehouse = Warehouse(url)
    warehouse.create_all()
    rows = [
        {"study_instance_uid": f"2.25.{i}", "patient_pseudonym": f"P{i:04d}", "exam_name": "CT Head"}
        for i in range(studies)
    ]
    lineage = Lineage(partition_key=DAY.isoformat(), run_id="r1", deid_profile_version="ps315-2026c:test")
    warehouse.replace_partition(lineage, {Study: rows})
    warehouse.dispose()
    return url


def _request(url: str, start: dt.date = DAY, end: dt.date = DAY) -> ReportRequest:
    return ReportRequest("Test site", start, end, url, drl_set="uk_2022", factor_set="aapm96_icrp60")


def _fake_runner(analyses: list[FakeAnalysis]) -> Any:
    calls: list[dict[str, Any]] = []

    def run(engine: Any, *, start: dt.date, end: dt.date, schema: str | None) -> list[FakeAnalysis]:
        calls.append({"start": start, "end": end, "schema": schema})
        return analyses

    run.calls = calls  # type: ignore[attr-defined]
    return run


def test_analyses_go_to_their_sections_and_free_text_stays_out(tmp_path: Path) -> None:
    png = count_bars(["a", "b"], [1, 2], xlabel="x", ylabel="y")
    devices = pd.DataFrame(
        {
            "station": ["CT1", "<b>CT2</b>"],
            "protocol_name": ["THORAX DR SMITH", "x"],
            "study_description": ["HEAD MRS JONES", "y"],
            "studies": [3, 4],
        }
    )
    runner = _fake_runner(
        [
            FakeAnalysis("device_map", "Device map", {"devices": devices}, {"volume": png}),
            FakeAnalysis("workflow_timing", "Workflow timing", {"t": pd.DataFrame({"n": [1]})}, {"d": png}),
            FakeAnalysis("population", "Population", {}, {"age": png}, ("Ages at the study.",)),
        ]
    )
    report = build_report(_request(_warehouse(tmp_path)), runner=runner)
    assert runner.calls == [{"start": DAY, "end": DAY, "schema": None}]
    sections = {s.key: s for s in report.sections}
    assert list(sections) == [
        "drl_audit",
        "effective_dose",
        "ssde",
        "activity",
        "workflow",
        "population",
        "data_quality",
    ]
    activity = sections["activity"]
    assert [t.columns for t in activity.tables] == [("station", "studies")]
    assert any("protocol_name, study_description left out" in note for note in activity.notes)
    assert len(sections["workflow"].figures) == 1 and "Ages at the study." in sections["population"].notes
    assert "No analysis of this kind" in " ".join(sections["data_quality"].notes)
    page = html_text(report)
    assert "DR SMITH" not in page and "MRS JONES" not in page
    assert "&lt;b&gt;CT2&lt;/b&gt;" in page and "<b>CT2" not in page  # autoescaped
    assert "ps315-2026c:test" in page and "Test site" in page


def test_without_analyses_installed_the_sections_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import resources.report.analysis_sections as placing

    monkeypatch.setattr(placing, "default_runner", lambda: None)
    report = build_report(_request(_warehouse(tmp_path)))
    activity = next(s for s in report.sections if s.key == "activity")
    assert activity.empty and "not installed" in activity.notes[0]
    # No dose tables with data yet: the dose sections explain instead of failing.
    drl = report.sections[0]
    assert "No CT study in the period is mapped to a DRL category." in drl.notes


def test_missing_warehouse_empty_period_and_reversed_period(tmp_path: Path) -> None:
    missing = tmp_path / "absent" / "warehouse.sqlite"
    with pytest.raises(WarehouseMissingError, match="does not exist"):
        build_report(_request(f"sqlite:///{missing}"))
    assert not missing.parent.exists()  # not created by looking
    url = _warehouse(tmp_path)
    with pytest.raises(EmptyPeriodError, match=r"holds 2026-11-09 to 2026-11-09"):
        build_report(_request(url, dt.date(2026, 10, 1), dt.date(2026, 10, 31)), runner=_fake_runner([]))
    with pytest.raises(Exception, match="ends before it starts"):
        build_report(_request(url, dt.date(2026, 11, 10), DAY))


def test_a_table_is_cut_and_says_so_in_both_renderers(tmp_path: Path) -> None:
    big = pd.DataFrame({"exam_name": [f"CT Exam {i}" for i in range(120)], "n": range(120)})
    runner = _fake_runner([FakeAnalysis("activity", "Activity", {"per_exam": big})])
    report = build_report(_request(_warehouse(tmp_path)), runner=runner)
    table = next(s for s in report.sections if s.key == "activity").tables[0]
    assert table.cut and len(table.rows) == MAX_TABLE_ROWS and table.total_rows == 120
    page = render_html(report, tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert f"first {MAX_TABLE_ROWS} of 120 rows" in page
    pypdf = pytest.importorskip("pypdf", reason="pypdf (dev dependency) reads the PDF's text")
    reader = pypdf.PdfReader(str(render_pdf(report, tmp_path / "out" / "report.pdf")))
    text = " ".join(" ".join(p.extract_text() or "" for p in reader.pages).split())
    assert f"first {MAX_TABLE_ROWS} of 120 rows" in text and "CT Exam 39" in text and "CT Exam 40" not in text


def test_section_of_places_the_catalogue_keys() -> None:
    assert section_of("activity") == "activity"
    assert section_of("device_map") == "activity"
    assert section_of("workflow_timing") == "workflow"
    assert section_of("population") == "population"
    assert section_of("data_quality") == "data_quality"
    assert section_of("completeness_per_device") == "data_quality"


def test_the_report_own_queries_refuse_free_text_columns() -> None:
    with pytest.raises(ReportContentError, match="series_description"):
        require_no_free_text(["study", "series_description"], "a query")
    table = ReportTable.from_frame(
        "t", pd.DataFrame({"exam_name": ["CT Head"], "acquisition_protocol": ["x"]})
    )
    assert table.columns == ("exam_name",) and table.left_out_columns == ("acquisition_protocol",)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (float("nan"), ""),
        (3.0, "3"),
        (2.34567, "2.346"),
        (True, "yes"),
        (pd.Timestamp("2026-11-09 10:30"), "2026-11-09 10:30"),
        (dt.date(2026, 11, 9), "2026-11-09"),
        ("two\nlines", "two lines"),
    ],
)
def test_format_cell(value: Any, text: str) -> None:
    assert format_cell(value) == text
