"""The report's own plots, drawn from aggregates (five-number summaries, counts), as PNG bytes.

``matplotlib.figure.Figure`` is used directly, not pyplot: no global figure state, no GUI backend, so
a report can be drawn in a worker thread or a Dagster step.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure

DPI = 100
EXCEEDS = "#c0392b"
WITHIN = "#2e86c1"


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def box_plot(
    summary: pd.DataFrame,
    *,
    label: str,
    xlabel: str,
    reference: dict[str, float] | None = None,
    reference_name: str = "DRL",
) -> bytes:
    """Horizontal box plots from ``summary`` rows (``label`` column, min, q1, median, q3, max, n).

    Whiskers span min to max (the summary holds no outliers). ``reference`` marks a level per label
    in red (a DRL), so a box to the right of its mark is a distribution above the level.
    """
    labels = [str(v) for v in summary[label]]
    stats = [
        {
            "label": f"{name} (n={int(row['n'])})",
            "whislo": row["min"],
            "q1": row["q1"],
            "med": row["median"],
            "q3": row["q3"],
            "whishi": row["max"],
        }
        for name, row in zip(labels, summary.to_dict("records"), strict=True)
    ]
    fig = Figure(figsize=(8, 0.45 * len(stats) + 1.4))
    ax = fig.subplots()
    ax.bxp(
        stats,
        orientation="horizontal",
        showfliers=False,
        patch_artist=True,
        boxprops={"facecolor": "#d6eaf8"},
        medianprops={"color": "black"},
    )
    marked = False
    for position, name in enumerate(labels, start=1):
        level = (reference or {}).get(name)
        if level is not None:
            ax.plot(
                [level, level],
                [position - 0.4, position + 0.4],
                color=EXCEEDS,
                linewidth=2.5,
                label=reference_name if not marked else None,
            )
            marked = True
    if marked:
        ax.legend(loc="lower right", fontsize=8)
    ax.invert_yaxis()  # first label on top, in the order of the table below the plot
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def ratio_bars(labels: Sequence[str], ratios: Sequence[float], *, xlabel: str) -> bytes:
    """Horizontal bars of value / reference in percent, red past 100 %, a line at 100 %."""
    fig = Figure(figsize=(8, 0.32 * len(labels) + 1.4))
    ax = fig.subplots()
    percents = [100.0 * r for r in ratios]
    colours = [EXCEEDS if p > 100 else WITHIN for p in percents]
    ax.barh(range(len(labels)), percents, color=colours)
    ax.axvline(100, color="black", linewidth=1, linestyle="--")
    ax.set_yticks(range(len(labels)), list(labels), fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def count_bars(labels: Sequence[str], counts: Sequence[int], *, xlabel: str, ylabel: str) -> bytes:
    """Vertical bars of counts per band."""
    fig = Figure(figsize=(8, 3.2))
    ax = fig.subplots()
    ax.bar(range(len(labels)), counts, color=WITHIN)
    ax.set_xticks(range(len(labels)), list(labels), rotation=20, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def threshold_bars(
    labels: Sequence[str], values: Sequence[float], threshold: float | None, *, xlabel: str
) -> bytes:
    """Horizontal bars with a dashed threshold line; bars at or past it red."""
    fig = Figure(figsize=(8, 0.32 * len(labels) + 1.4))
    ax = fig.subplots()
    colours = [EXCEEDS if threshold is not None and v >= threshold else WITHIN for v in values]
    ax.barh(range(len(labels)), values, color=colours)
    if threshold is not None:
        ax.axvline(threshold, color="black", linewidth=1, linestyle="--", label="alert threshold")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(range(len(labels)), list(labels), fontsize=7, family="monospace")
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
