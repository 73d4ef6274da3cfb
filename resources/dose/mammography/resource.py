"""The Dagster face of the mammography engine: header exposures per partition, breast audits overall."""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg
from sqlmodel import SQLModel

from resources.dose.mammography.audit import AuditSettings, BreastAudit, breast_audit
from resources.dose.mammography.drl_bands import load_thickness_drls
from resources.dose.mammography.exposures import PartitionExposures, partition_exposures
from resources.dose.mammography.qa_file import SiteQa, load_qa_file
from resources.research_store import ResearchStore
from resources.site_config import MammographySettings, SiteConfig
from resources.site_resource import SiteConfigResource
from resources.warehouse import mammography_tables as tables
from resources.warehouse.lineage import Lineage
from resources.warehouse.store import Warehouse

logger = logging.getLogger(__name__)

REPORT_PARTITION_KEY = "all"


class MammographyResource(dg.ConfigurableResource):
    """Settings come from the site file's ``mammography`` section."""

    site: SiteConfigResource

    def config(self) -> SiteConfig:
        return self.site.load()

    def settings(self) -> MammographySettings:
        return self.config().mammography

    def qa_path(self) -> Path | None:
        configured = self.settings().qa_file
        if configured is None:
            return None
        return configured if configured.is_absolute() else self.config().base_dir / configured

    def qa(self) -> SiteQa | None:
        """The site's QA file, or None when none is configured (then only the modality's figure).

        Raises
        ------
        QaFileError
            When a QA file is configured but missing or invalid (named, with the field).
        """
        path = self.qa_path()
        if path is None:
            logger.warning(
                "no mammography QA file configured: MGD is not computed, the modality's figure only"
            )
            return None
        return load_qa_file(path)

    def warehouse(self) -> Warehouse:
        warehouse = Warehouse(self.config().warehouse_url())
        mine = [SQLModel.metadata.tables[str(m.__tablename__)] for m in tables.ALL_TABLES]
        SQLModel.metadata.create_all(warehouse.engine, tables=mine)
        return warehouse

    def build_exposures(self, partition_key: str, run_id: str) -> PartitionExposures:
        """Read the partition's de-identified projection images; replace its header exposure rows."""
        config = self.config()
        files = ResearchStore(config.paths.research).iter_files(partition_key)
        result = partition_exposures(files, self.qa(), self.settings().mgd_tolerance_percent)
        self.warehouse().replace_partition(
            Lineage(partition_key, run_id), {tables.HeaderExposure: result.rows}
        )
        return result

    def audit_settings(self) -> AuditSettings:
        settings = self.settings()
        qa_path = self.qa_path()
        return AuditSettings(
            band_mm=settings.thickness_band_mm,
            period=settings.audit_period,
            force_min_n=settings.force_min_n,
            force_max_n=settings.force_max_n,
            tolerance_percent=settings.mgd_tolerance_percent,
            drl_set=settings.drl_set,
            drls=load_thickness_drls(settings.drl_set),
            qa_file=qa_path.name if qa_path is not None else None,
        )

    def build_audit(self, run_id: str) -> BreastAudit:
        """The breast-screening audits over the whole warehouse; replaces the three audit tables."""
        warehouse = self.warehouse()
        audit = breast_audit(warehouse.engine, self.audit_settings())
        warehouse.replace_partition(
            Lineage(REPORT_PARTITION_KEY, run_id),
            {
                tables.BreastDoseBand: audit.dose_bands,
                tables.BreastCompression: audit.compression,
                tables.BreastMgdComparison: audit.comparison,
            },
        )
        return audit
