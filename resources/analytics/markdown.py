"""Aggregated tables as markdown (the Dagster UI renders it; the report may reuse it)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

MAX_ROWS = 40
"""Rows of a table shown in one markdown value; the whole table stays in the Analysis."""


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, *, max_rows: int = MAX_ROWS) -> str:
    """A pipe table of the first ``max_rows`` rows, with a line saying how many were left out."""
    if frame.empty:
        return "_no rows in this period_"
    columns = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.head(max_rows).itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    if len(frame) > max_rows:
        lines.append(f"\n_first {max_rows} of {len(frame)} rows_")
    return "\n".join(lines)
