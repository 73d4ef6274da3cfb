"""The Dagster face of the warehouse: the migrated store and what its curation tables say of a partition."""

from __future__ import annotations

import dagster as dg

from resources.site_resource import SiteConfigResource
from resources.warehouse.completeness import (
    PartitionHealth,
    device_completeness,
    field_completeness,
    flag_counts,
    partition_health,
)
from resources.warehouse.store import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The site's warehouse (URL from the site config or ``$DICOM_LAKE_WAREHOUSE_URL``)."""

    site: SiteConfigResource

    def warehouse(self) -> Warehouse:
        """The warehouse, migrated to the latest schema revision."""
        warehouse = Warehouse(self.site.load().warehouse_url())
        warehouse.upgrade()
        return warehouse

    def completeness(self, partition_key: str) -> tuple[dict[str, float | None], dict[str, dict[str, float]]]:
        """Share of rows with each key field set, overall and per device."""
        warehouse = self.warehouse()
        try:
            return field_completeness(warehouse, partition_key), device_completeness(warehouse, partition_key)
        finally:
            warehouse.dispose()

    def flag_counts(self, partition_key: str) -> dict[str, dict[str, int]]:
        """Quality flag counts of the partition, by severity and rule."""
        warehouse = self.warehouse()
        try:
            return flag_counts(warehouse, partition_key)
        finally:
            warehouse.dispose()

    def partition_health(self, partition_key: str, *, expected_files: int) -> PartitionHealth:
        """Whether the partition's curated rows look whole, given how many files were to be curated."""
        warehouse = self.warehouse()
        try:
            return partition_health(warehouse, partition_key, expected_files=expected_files)
        finally:
            warehouse.dispose()
