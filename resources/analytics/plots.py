"""Figures of the analyses as PNG bytes (matplotlib, Agg), drawn from already aggregated tables.

Box plots are drawn from the quantiles the database computed (``Axes.bxp``), never from raw rows;
whiskers are the group's minimum and maximum. :func:`markdown_image` embeds a PNG in markdown as the
DLP plot of the dose assets does, so Dagster's UI and the HTML report show it without a file.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import pandas as pd

DPI = 80
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on a server; must precede the pyplot import
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return buffer.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    """``![alt](data:image/png;base64,...)``: a figure inside a markdown metadata value."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def hour_of_week_heatmap(frame: pd.DataFrame, value: str = "studies") -> bytes | None:
    """Studies per weekday x hour, one panel per modality (``modality``, ``weekday``, ``hour`` columns)."""
    if frame.empty:
        return None
    plt = _pyplot()
    modalities = sorted(frame["modality"].unique())
    fig, axes = plt.subplots(len(modalities), 1, figsize=(9, 2.4 * len(modalities)), squeeze=False)
    for ax, modality in zip(axes[:, 0], modalities, strict=True):
        mine = frame[frame["modality"] == modality]
        grid = mine.pivot_table(index="weekday", columns="hour", values=value, aggfunc="sum", fill_value=0)
        grid = grid.reindex(index=range(7), columns=range(24), fill_value=0)
        image = ax.imshow(grid.to_numpy(), aspect="auto", cmap="viridis")
        ax.set_yticks(range(7), WEEKDAYS)
        ax.set_xticks(range(0, 24, 2))
        ax.set_title(f"{modality}: {value} per hour of week (source calendar)")
        ax.set_xlabel("hour of day")
        fig.colorbar(image, ax=ax)
    return _png(fig)


def box_plot(frame: pd.DataFrame, group: str, title: str, xlabel: str) -> bytes | None:
    """Horizontal box per ``group`` from its ``min``, ``p25``, ``median``, ``p75``, ``max`` columns."""
    rows = frame.dropna(subset=["median"])
    if rows.empty:
        return None
    plt = _pyplot()
    stats = [
        {
            "label": f"{row[group]} (n={int(row['n'])})",
            "whislo": row["min"],
            "q1": row["p25"],
            "med": row["median"],
            "q3": row["p75"],
            "whishi": row["max"],
            "fliers": [],
        }
        for _, row in rows.iterrows()
    ]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(stats) + 1.5))
    ax.bxp(stats, orientation="horizontal", showfliers=False)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return _png(fig)


def trend_lines(frame: pd.DataFrame, x: str, y: str, line: str, title: str) -> bytes | None:
    """One line per value of ``line``: ``y`` over ``x`` (periods of the source calendar)."""
    if frame.empty:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.5))
    grid = frame.pivot_table(index=x, columns=line, values=y, aggfunc="sum", fill_value=0).sort_index()
    for name in grid.columns:
        ax.plot(list(grid.index), grid[name].to_numpy(), marker="o", label=str(name))
    ax.set_title(title)
    ax.set_ylabel(y)
    ax.tick_params(axis="x", labelrotation=45)
    ax.legend(fontsize="small", ncols=2)
    return _png(fig)


def stacked_bars(frame: pd.DataFrame, x: str, stack: str, y: str, title: str) -> bytes | None:
    """Bars of ``y`` per ``x``, stacked by ``stack``."""
    if frame.empty:
        return None
    plt = _pyplot()
    grid = frame.pivot_table(index=x, columns=stack, values=y, aggfunc="sum", fill_value=0)
    grid = grid.reindex(list(dict.fromkeys(frame[x])))  # the table's order (age bands are not alphabetical)
    fig, ax = plt.subplots(figsize=(9, 3.5))
    bottom = None
    for name in grid.columns:
        values = grid[name].to_numpy()
        ax.bar([str(i) for i in grid.index], values, bottom=bottom, label=str(name))
        bottom = values if bottom is None else bottom + values
    ax.set_title(title)
    ax.set_ylabel(y)
    ax.tick_params(axis="x", labelrotation=45)
    ax.legend(fontsize="small", ncols=2)
    return _png(fig)


def figures(**drawn: bytes | None) -> dict[str, bytes]:
    """The figures that could be drawn (an empty table draws none)."""
    return {name: png for name, png in drawn.items() if png is not None}
