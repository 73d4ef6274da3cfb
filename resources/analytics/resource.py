"""The Dagster face of the analytics engine: an analysis of the site's warehouse and its UI metadata."""

from __future__ import annotations

import datetime as dt
from typing import Any

import dagster as dg

from resources.analytics.catalog import run_analysis
from resources.analytics.markdown import markdown_table
from resources.analytics.plots import markdown_image
from resources.analytics.result import Analysis
from resources.warehouse.resource import WarehouseResource


class AnalyticsResource(dg.ConfigurableResource):
    """Runs the analyses of :mod:`resources.analytics.catalog` on the site's (migrated) warehouse."""

    warehouse: WarehouseResource

    def analysis(self, key: str, *, start: dt.date | None = None, end: dt.date | None = None) -> Analysis:
        warehouse = self.warehouse.warehouse()
        try:
            return run_analysis(key, warehouse.engine, start=start, end=end)
        finally:
            warehouse.dispose()


def analysis_metadata(analysis: Analysis) -> dict[str, Any]:
    """Metadata an operator reads in the UI: every table as markdown, every figure as an image."""
    metadata: dict[str, Any] = {
        "dagster/row_count": analysis.row_count,
        "notes": dg.MetadataValue.md("\n".join(f"- {note}" for note in analysis.notes)),
    }
    for name, frame in analysis.tables.items():
        metadata[f"table_{name}"] = dg.MetadataValue.md(markdown_table(frame))
    for name, png in analysis.figures.items():
        metadata[f"plot_{name}"] = dg.MetadataValue.md(markdown_image(png, f"{analysis.title}: {name}"))
    return metadata
