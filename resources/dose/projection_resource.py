"""The Dagster face of the projection X-ray dose engine: reads the research store, writes its tables."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
from sqlmodel import SQLModel

from resources.dose.fluoro_cumulative import alert_markdown, cumulative_rows
from resources.dose.projection_events import ProjectionPartitionAnalysis, analyse_projection_files
from resources.dose.projection_rows import FluoroscopyCumulativeDoseRow, ProjectionStudyDoseRow
from resources.dose.projection_study import projection_study_rows
from resources.dose.table_rows import table_rows
from resources.research_store import ResearchStore
from resources.site_config import SiteConfig
from resources.site_resource import SiteConfigResource
from resources.warehouse import projection_tables as tables
from resources.warehouse.lineage import Lineage
from resources.warehouse.store import Warehouse

REPORT_PARTITION_KEY = "all"


@dataclass(frozen=True)
class CumulativeReport:
    """The cumulative table's rows and the summary the asset shows (pseudonyms only)."""

    rows: list[FluoroscopyCumulativeDoseRow]
    patients_in_alert: int
    markdown: str


class ProjectionDoseResource(dg.ConfigurableResource):
    """Projection dose settings come from the site file's ``dose`` section."""

    site: SiteConfigResource

    def config(self) -> SiteConfig:
        return self.site.load()

    def warehouse(self) -> Warehouse:
        warehouse = Warehouse(self.config().warehouse_url())
        own = [SQLModel.metadata.tables[m.__tablename__] for m in tables.ALL_TABLES]
        SQLModel.metadata.create_all(warehouse.engine, tables=own)
        return warehouse

    def build_events(self, partition_key: str, run_id: str) -> ProjectionPartitionAnalysis:
        """Read the partition's files; replace its event, total, link and study-context rows."""
        files = ResearchStore(self.config().paths.research).iter_files(partition_key)
        analysis = analyse_projection_files(files)
        self.warehouse().replace_partition(
            Lineage(partition_key, run_id),
            {
                tables.ProjectionDoseEvent: table_rows(tables.ProjectionDoseEvent, analysis.events),
                tables.ProjectionAccumulatedDose: table_rows(
                    tables.ProjectionAccumulatedDose, analysis.accumulated
                ),
                tables.ProjectionEventLink: table_rows(tables.ProjectionEventLink, analysis.links),
                tables.ProjectionStudyContext: table_rows(tables.ProjectionStudyContext, analysis.contexts),
            },
        )
        return analysis

    def build_study_dose(self, partition_key: str, run_id: str) -> list[ProjectionStudyDoseRow]:
        """Aggregate the partition's events per study (SQL); replace its study rows."""
        warehouse = self.warehouse()
        rows = projection_study_rows(warehouse, partition_key)
        warehouse.replace_partition(
            Lineage(partition_key, run_id),
            {tables.ProjectionStudyDose: table_rows(tables.ProjectionStudyDose, rows)},
        )
        return rows

    def build_cumulative(self, run_id: str) -> CumulativeReport:
        """Every fluoroscopy study's rolling-window dose per patient; replaces the report table."""
        warehouse = self.warehouse()
        settings = self.config().dose
        rows = cumulative_rows(
            warehouse,
            settings.fluoro_cumulative_window_weeks,
            settings.fluoro_alert_dap_cgycm2,
            settings.fluoro_alert_dose_rp_gy,
        )
        warehouse.replace_partition(
            Lineage(REPORT_PARTITION_KEY, run_id),
            {tables.FluoroscopyCumulativeDose: table_rows(tables.FluoroscopyCumulativeDose, rows)},
        )
        in_alert, markdown = alert_markdown(warehouse)
        return CumulativeReport(rows, in_alert, markdown)
