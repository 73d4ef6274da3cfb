"""The ``physics_report`` asset on the demo's site: the month's report written into the research store,
and a month without studies materialised without writing anything."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from assets.physics_report import PhysicsReportConfig, physics_report, report_month
from resources.report.resource import ReportResource, last_complete_month
from resources.site_resource import SiteConfigResource
from tests.report.conftest import DemoSite

pytestmark = pytest.mark.slow


def _materialize(demo_site: DemoSite, month: str) -> dg.ExecuteInProcessResult:
    resource = ReportResource(site=SiteConfigResource(config_path=str(demo_site.config)))
    return dg.materialize(
        [physics_report],
        resources={"report": resource},
        run_config={"ops": {"physics_report": {"config": {"month": month}}}},
    )


def test_the_month_report_lands_in_the_research_store(demo_site: DemoSite) -> None:
    result = _materialize(demo_site, f"{demo_site.start:%Y-%m}")
    assert result.success
    metadata = result.asset_materializations_for_node("physics_report")[0].metadata
    assert metadata["written"].value is True
    assert metadata["studies"].value > 0 and metadata["sections"].value == 7 and metadata["plots"].value >= 7
    html = metadata["html"].value
    folder = demo_site.config.parent / "research" / "_reports" / f"{demo_site.start:%Y-%m}"
    assert html == str(folder / "report.html")
    assert (folder / "report.html").stat().st_size > 0 and (folder / "report.pdf").stat().st_size > 0


def test_a_month_without_studies_writes_nothing(demo_site: DemoSite) -> None:
    result = _materialize(demo_site, "2020-02")
    assert result.success
    metadata = result.asset_materializations_for_node("physics_report")[0].metadata
    assert metadata["written"].value is False
    assert not (demo_site.config.parent / "research" / "_reports" / "2020-02").exists()


def test_report_month() -> None:
    assert last_complete_month(dt.date(2026, 3, 1)) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert last_complete_month(dt.date(2027, 1, 15)) == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    assert report_month(PhysicsReportConfig(month="2024-02"), dt.date(2026, 5, 5)) == (
        dt.date(2024, 2, 1),
        dt.date(2024, 2, 29),
    )
    with pytest.raises(dg.Failure, match="not YYYY-MM"):
        report_month(PhysicsReportConfig(month="2024-13"), dt.date(2026, 5, 5))
