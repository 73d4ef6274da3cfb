"""The Dagster face of the curation engine: research partitions in, the warehouse's curation tables out."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from resources.curation.arrival_delays import ARRIVAL_FILE
from resources.curation.curator import CurationSummary, PartitionCurator
from resources.curation.phi_findings import PHI_FINDINGS_FILE
from resources.curation.quality import QualityRules
from resources.quarantine import QuarantineStore
from resources.research_store import ResearchStore
from resources.site_resource import SiteConfigResource
from resources.warehouse.completeness import PartitionHealth
from resources.warehouse.lineage import Lineage
from resources.warehouse.resource import WarehouseResource
from resources.warehouse.tables import CURATION_TABLES

DEID_SUMMARY_FILE = "_deid_summary.json"


class CurationResource(dg.ConfigurableResource):
    """Curates the site's research partitions into its warehouse.

    Quality thresholds come from the site file's ``warehouse`` section (``ctdivol_ceiling_mgy``,
    ``max_age_years``, ``compression_force_max_n``, ``future_date_tolerance_days``); files that cannot be
    read go to the quarantine.
    """

    site: SiteConfigResource
    warehouse: WarehouseResource

    def research_files(self, partition_key: str) -> list[Path]:
        """The partition's de-identified files, in a stable order."""
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
        warehouse = self.warehouse.warehouse()
        try:
            with warehouse.writing_partition(lineage, CURATION_TABLES) as writer:
                return curator.curate(
                    research.iter_files(partition_key) if files is None else files,
                    writer,
                    phi_findings=research.partition_folder(partition_key) / PHI_FINDINGS_FILE,
                    arrivals=research.partition_folder(partition_key) / ARRIVAL_FILE,
                )
        finally:
            warehouse.dispose()

    def deid_profile_version(self, partition_key: str) -> str:
        """The de-identification profile version recorded in the partition's ``_deid_summary.json``.

        An absent or unreadable summary gives ``""``: the lineage column then says the version is unknown.
        """
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
        return str(value)  # whole: the warehouse column is Text (revision 0003)

    def partition_health(self, partition_key: str) -> PartitionHealth:
        """Whether the partition's curated rows account for its de-identified files."""
        return self.warehouse.partition_health(
            partition_key, expected_files=len(self.research_files(partition_key))
        )
