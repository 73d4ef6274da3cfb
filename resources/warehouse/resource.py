"""The Dagster face of the warehouse and the curation engine."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from resources.curation.curator import CurationSummary, PartitionCurator
from resources.curation.quality import QualityRules
from resources.quarantine import QuarantineStore
from resources.research_store import ResearchStore
from resources.site_resource import SiteConfigResource
from resources.warehouse.completeness import (
    PartitionHealth,
    device_completeness,
    field_completeness,
    flag_counts,
    partition_health,
)
from resources.warehouse.lineage import Lineage
from resources.warehouse.store import Warehouse
from resources.warehouse.tables import CURATION_TABLES

PHI_FINDINGS_FILE = "_phi_findings.jsonl"
DEID_SUMMARY_FILE = "_deid_summary.json"


class WarehouseResource(dg.ConfigurableResource):
    """The site's warehouse (URL from the site config or ``$DICOM_LAKE_WAREHOUSE_URL``).

    Quality thresholds come from the site file's ``warehouse`` section (``ctdivol_ceiling_mgy``,
    ``max_age_years``, ``compression_force_max_n``, ``future_date_tolerance_days``).
    """

    site: SiteConfigResource

    def warehouse(self) -> Warehouse:
        """The warehouse, migrated to the latest schema revision."""
        warehouse = Warehouse(self.site.load().warehouse_url())
        warehouse.upgrade()
        return warehouse

    def research_files(self, partition_key: str) -> list[Path]:
        return ResearchStore(self.site.load().paths.research).files(partition_key)

    def curate_partition(self, lineage: Lineage, *, files: list[Path] | None = None) -> CurationSummary:
        """Replace the partition's rows in every curation table from its de-identified files."""
        config = self.site.load()
        research = ResearchStore(config.paths.research)
        quarantine = QuarantineStore(config.paths.quarantine)
        partition_key = lineage.partition_key

        def quarantine_unreadable(path: Path, reason: str) -> None:
            quarantine.put(
                stage="curation", partition_key=partition_key, name=path.name, reason=reason, source=path
            )

        curator = PartitionCurator(
            rules=QualityRules(
                ctdivol_ceiling_mgy=config.warehouse.ctdivol_ceiling_mgy,
                max_age_years=config.warehouse.max_age_years,
                compression_force_max_n=config.warehouse.compression_force_max_n,
                future_tolerance_days=config.warehouse.future_date_tolerance_days,
            ),
            on_unreadable=quarantine_unreadable,
        )
        warehouse = self.warehouse()
        try:
            with warehouse.writing_partition(lineage, CURATION_TABLES) as writer:
                return curator.curate(
                    research.iter_files(partition_key) if files is None else files,
                    writer,
                    phi_findings=research.partition_folder(partition_key) / PHI_FINDINGS_FILE,
                )
        finally:
            warehouse.dispose()

    def deid_profile_version(self, partition_key: str) -> str:
        """The de-identification profile version recorded in the partition's ``_deid_summary.json``."""
        summary = (
            ResearchStore(self.site.load().paths.research).partition_folder(partition_key) / DEID_SUMMARY_FILE
        )
        if not summary.exists():
            return ""
        try:
            data = json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return ""
        if not isinstance(data, dict):
            return ""
        value = data.get("profile_version") or data.get("deid_profile_version") or ""
        return str(value)[:64]

    def completeness(self, partition_key: str) -> tuple[dict[str, float | None], dict[str, dict[str, float]]]:
        warehouse = self.warehouse()
        try:
            return field_completeness(warehouse, partition_key), device_completeness(warehouse, partition_key)
        finally:
            warehouse.dispose()

    def flag_counts(self, partition_key: str) -> dict[str, dict[str, int]]:
        warehouse = self.warehouse()
        try:
            return flag_counts(warehouse, partition_key)
        finally:
            warehouse.dispose()

    def partition_health(self, partition_key: str) -> PartitionHealth:
        warehouse = self.warehouse()
        try:
            return partition_health(
                warehouse, partition_key, expected_files=len(self.research_files(partition_key))
            )
        finally:
            warehouse.dispose()
