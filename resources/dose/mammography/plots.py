"""The breast audit's plots (base64 PNG in markdown, as Dagster metadata shows them) and tables."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

from resources.dose.mammography.drl_bands import ThicknessDrl


def _png_markdown(fig: Any, alt: str) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return f"![{alt}](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()})"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def agd_scatter_markdown(points: Sequence[tuple[str, float, float]], drls: Sequence[ThicknessDrl]) -> str:
    """AGD per exposure against compressed breast thickness by view, the DRL per band as red steps."""
    if not points:
        return "_no 2D mammography exposures with thickness and AGD_"
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for view, colour in (("CC", "tab:blue"), ("MLO", "tab:green"), ("OTHER", "tab:grey")):
        xs = [p[1] for p in points if p[0] == view]
        ys = [p[2] for p in points if p[0] == view]
        if xs:
            ax.scatter(xs, ys, s=8, alpha=0.5, color=colour, label=f"{view} ({len(xs)})")
    for band in drls:
        style = "-" if band.view in ("ANY", "CC") else "--"
        label = f"DRL {band.drl_set} {band.view}" if band is drls[0] or band.view != drls[0].view else None
        ax.plot(
            [band.min_mm, band.max_mm], [band.drl_mgy] * 2, style, color="tab:red", linewidth=2, label=label
        )
    ax.set_xlabel("compressed breast thickness (mm)")
    ax.set_ylabel("AGD per exposure (mGy)")
    ax.legend(loc="upper left", fontsize=8)
    return _png_markdown(fig, "AGD against compressed breast thickness with DRL")


def force_histogram_markdown(bins: Sequence[tuple[str, int, int]], force_min: float, force_max: float) -> str:
    """Compression force distribution per system (10 N bins), the site's range shaded."""
    systems = sorted({b[0] for b in bins})
    if not systems:
        return "_no exposures with a compression force_"
    plt = _pyplot()
    fig, axes = plt.subplots(len(systems), 1, figsize=(8, 2.2 * len(systems) + 0.5), squeeze=False)
    for ax, system in zip(axes[:, 0], systems, strict=True):
        mine = [b for b in bins if b[0] == system]
        ax.bar([b[1] + 5 for b in mine], [b[2] for b in mine], width=9, color="tab:blue")
        ax.axvspan(force_min, force_max, color="tab:green", alpha=0.1)
        ax.set_title(system, fontsize=9)
        ax.set_ylabel("exposures")
    axes[-1, 0].set_xlabel("compression force (N); shaded = site range")
    return _png_markdown(fig, "compression force per system")


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], limit: int = 60) -> str:
    """A markdown table of the first ``limit`` rows (the full table is in the warehouse)."""
    if not rows:
        return "_none_"

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3g}"
        return "" if value is None else str(value).replace("|", "/")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"_{len(rows) - limit} more rows in the warehouse_")
    return "\n".join(lines)
