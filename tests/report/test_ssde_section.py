"""The report's SSDE section on the demo's warehouse: every CT event with a CTDIvol counted by method,
the per-exam SSDE summaries agree with the rows, and a warehouse without dose events says so."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from resources.report.dose_sections import DoseContext
from resources.report.sql import partition_params
from resources.report.ssde_section import ssde_section
from tests.report.conftest import DemoSite


def _section(warehouse: Path, site: DemoSite):  # type: ignore[no-untyped-def]
    engine = sa.create_engine(f"sqlite:///{warehouse}")
    try:
        tables = set(sa.inspect(engine).get_table_names())
        with engine.connect() as connection:
            return ssde_section(connection, DoseContext(site.start, site.end, "", ""), tables)
    finally:
        engine.dispose()


def test_every_ct_event_with_a_ctdivol_is_counted_by_method_and_summarised_per_exam(
    demo_site: DemoSite,
) -> None:
    section = _section(demo_site.warehouse, demo_site)
    tables = {t.title: t for t in section.tables}
    params = partition_params(demo_site.start, demo_site.end)
    with sqlite3.connect(demo_site.warehouse) as con:
        in_period = "partition_key >= :start AND partition_key < :after AND ctdivol_mgy IS NOT NULL"
        with_ctdivol = con.execute(f"SELECT COUNT(*) FROM ct_dose_event WHERE {in_period}", params).fetchone()
        ssde_rows = con.execute(
            f"SELECT ssde_mgy, ctdivol_mgy FROM ct_dose_event WHERE {in_period} AND ssde_mgy IS NOT NULL",
            params,
        ).fetchall()
    methods = tables["CT events per SSDE method"]
    assert sum(int(row[2]) for row in methods.rows) == with_ctdivol[0] > 0
    # The demo's axial images are water ellipses: every event with a CTDIvol has an image-based SSDE.
    assert [row[0] for row in methods.rows] == ["image_dw_aapm220"]
    per_exam = tables["SSDE per CT event and exam (mGy)"]
    assert sum(int(row[1]) for row in per_exam.rows) == len(ssde_rows)
    largest = max(s for s, _ in ssde_rows)
    assert max(float(row[6]) for row in per_exam.rows) == pytest.approx(largest, rel=1e-3)
    ratios = tables["SSDE / CTDIvol per CT event and exam"]
    # Conversion factors of AAPM Report 204 for 8-45 cm patients lie between about 0.6 and 2.8.
    assert all(0.6 < float(row[2]) <= float(row[6]) < 2.8 for row in ratios.rows)
    assert len(section.figures) == 1 and section.figures[0].png.startswith(b"\x89PNG")


def test_a_warehouse_without_dose_events_says_so(demo_site: DemoSite, tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    section = _section(empty, demo_site)
    assert section.tables == () and section.notes == ("No CT dose events in the warehouse yet.",)
