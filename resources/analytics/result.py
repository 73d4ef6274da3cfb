"""What an analysis returns: small tables, PNG figures and notes (the report and the assets read these)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Analysis:
    """One analysis of the warehouse over a period of source study dates.

    ``tables`` are the aggregated results (one row per group, never per instance); ``figures`` are PNG
    bytes keyed by a short name; ``notes`` say what the numbers mean and what is missing.
    """

    key: str
    title: str
    tables: dict[str, pd.DataFrame]
    figures: dict[str, bytes]
    notes: tuple[str, ...]

    @property
    def row_count(self) -> int:
        """Rows over every table (what the asset reports as ``dagster/row_count``)."""
        return sum(len(frame) for frame in self.tables.values())
