"""`make demo` in small: the embedded demo PACS through the whole chain into the warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from orchestration.demo import DemoLayout, format_summary, run_demo

pytestmark = pytest.mark.slow


def test_demo_runs_the_chain_on_the_embedded_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # run_demo points the process at its own site, secret and instance; delenv restores them afterwards.
    for name in ("DAGSTER_HOME", "DICOM_LAKE_CONFIG", "DICOM_LAKE_SECRET_KEY", "DICOM_LAKE_WAREHOUSE_URL"):
        monkeypatch.delenv(name, raising=False)
    layout = DemoLayout(root=tmp_path / "demo", dagster_home=tmp_path / "dagster-home")
    summary = run_demo(seed=11, studies=8, start=dt.date(2026, 11, 9), days=2, layout=layout)

    assert summary.failed_runs == []
    assert summary.studies_found == 8
    assert summary.instances_retrieved > summary.studies_found  # dose SRs + key images
    assert summary.research_files == summary.instances_retrieved - summary.quarantined
    assert summary.warehouse_rows["study"] == 8
    assert summary.warehouse_rows["ct_dose_event"] > 0
    assert summary.ct_dose_events == summary.warehouse_rows["ct_dose_event"]
    assert 0 < summary.ct_dose_events_with_ssde <= summary.ct_dose_events
    assert summary.warehouse_rows["effective_dose"] > 0
    assert summary.warehouse_rows["drl_audit_row"] > 0
    # The secret was generated for the demo and kept owner-only.
    assert (layout.secret_path.stat().st_mode & 0o077) == 0
    text = format_summary(layout, summary)
    assert "make ui" in text
    assert f"({summary.ct_dose_events_with_ssde} with SSDE)" in text
    assert str(layout.root / "warehouse.sqlite") in text
