"""The report as a PDF, drawn with matplotlib's ``PdfPages``: A4 pages of text, tables and the plots.

matplotlib is already a dependency (the dose plots), needs no system library (no cairo, pango or
browser) and embeds its own fonts, so the PDF is made the same on a locked-down hospital machine as in
CI. Fonts are embedded as TrueType (``pdf.fonttype`` 42) rather than Type 3, so the text can be
searched, copied and extracted.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import matplotlib
import matplotlib.image
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from resources.report.model import Report, ReportTable, Section

A4 = (8.27, 11.69)  # inches
MARGIN = 0.6
WIDTH = A4[0] - 2 * MARGIN
BOTTOM = A4[1] - MARGIN - 0.35  # the footer lies below
MAX_CELL = 48  # characters; a longer cell (a long device label) is cut with an ellipsis
PLOT_DPI = 100  # the DPI the plots were drawn at (resources.report.plots.DPI)


class _Pages:
    """A cursor down A4 pages: each block asks for its height and starts a new page when it lacks room."""

    def __init__(self, pdf: PdfPages, footer: str) -> None:
        self.pdf = pdf
        self.footer = footer
        self.fig: Figure | None = None
        self.y = MARGIN
        self.page = 0
        self.heading = ""

    def _finish(self) -> None:
        if self.fig is not None:
            self.fig.text(
                MARGIN / A4[0], 0.3 / A4[1], f"{self.footer}    page {self.page}", fontsize=7, color="#566573"
            )
            self.pdf.savefig(self.fig)
        self.fig = None

    def new_page(self) -> Figure:
        self._finish()
        self.fig = Figure(figsize=A4)
        self.page += 1
        self.y = MARGIN
        if self.heading:
            self._line(f"{self.heading} (continued)", 8, color="#566573")
        return self.fig

    def ensure(self, height: float) -> Figure:
        if self.fig is None or self.y + height > BOTTOM:
            return self.new_page()
        return self.fig

    def _line(self, text: str, size: float, **style: object) -> None:
        assert self.fig is not None
        self.fig.text(MARGIN / A4[0], 1 - self.y / A4[1], text, fontsize=size, va="top", **style)  # type: ignore[arg-type]
        self.y += size * 1.4 / 72

    def text(self, text: str, size: float = 9, width: int = 100, gap: float = 0.08, **style: object) -> None:
        for line in textwrap.wrap(text, width=width) or [""]:
            self.ensure(size * 1.4 / 72)
            self._line(line, size, **style)
        self.y += gap

    def image(self, png: bytes, caption: str) -> None:
        pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
        height_px, width_px = pixels.shape[0], pixels.shape[1]
        width = min(WIDTH, width_px / PLOT_DPI)
        height = width * height_px / width_px
        room = BOTTOM - MARGIN - 0.6
        if height > room:  # a tall plot (many categories) is shrunk to one page
            width, height = width * room / height, room
        fig = self.ensure(height + 0.3)
        ax = fig.add_axes((MARGIN / A4[0], 1 - (self.y + height) / A4[1], width / A4[0], height / A4[1]))
        ax.imshow(pixels)
        ax.set_axis_off()
        self.y += height + 0.05
        self.text(caption, size=7.5, color="#566573", gap=0.15)

    def table(self, table: ReportTable) -> None:
        cells = [[_cut(c) for c in row] for row in table.rows]
        widths = [
            max([len(h) for h in _header_lines(name)] + [len(row[i]) for row in cells] + [3])
            for i, name in enumerate(table.columns)
        ]
        size = max(4.5, min(7.5, WIDTH * 72 / (sum(widths) * 0.6 + 1.5 * len(widths))))
        char = size * 0.6 / 72
        pad = 1.5 * char
        xs: list[float] = []
        x = MARGIN
        for width in widths:
            xs.append(x)
            x += width * char + pad
        row_height = size * 1.45 / 72
        header_height = row_height * max(len(_header_lines(n)) for n in table.columns)
        self.text(table.title, size=9, weight="bold", gap=0.02)

        def draw_header() -> None:
            fig = self.ensure(header_height + row_height)
            for left, name in zip(xs, table.columns, strict=True):
                fig.text(
                    left / A4[0],
                    1 - self.y / A4[1],
                    "\n".join(_header_lines(name)),
                    fontsize=size,
                    va="top",
                    weight="bold",
                    linespacing=1.1,
                )
            self.y += header_height
            fig.add_artist(
                Line2D(
                    [MARGIN / A4[0], min(x, A4[0] - MARGIN) / A4[0]],
                    [1 - self.y / A4[1]] * 2,
                    color="#2e86c1",
                    linewidth=0.6,
                )
            )
            self.y += 0.03

        draw_header()
        for row in cells:
            if self.y + row_height > BOTTOM:
                self.new_page()
                draw_header()
            assert self.fig is not None
            for left, width, cell, numeric in zip(xs, widths, row, table.numeric, strict=True):
                at = (left + width * char) if numeric else left
                self.fig.text(
                    at / A4[0],
                    1 - self.y / A4[1],
                    cell,
                    fontsize=size,
                    va="top",
                    ha="right" if numeric else "left",
                )
            self.y += row_height
        note = table.caption
        if table.cut:
            note = (note + "; " if note else "") + f"first {len(table.rows)} of {table.total_rows} rows"
        if note:
            self.text(note, size=7, color="#566573", gap=0.02)
        self.y += 0.12

    def close(self) -> None:
        self._finish()


def _header_lines(name: str) -> list[str]:
    return textwrap.wrap(name.replace("_", " "), width=12) or [name]


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "\u2026"


def _section(pages: _Pages, section: Section) -> None:
    pages.heading = ""
    pages.new_page()
    pages.text(section.title, size=15, weight="bold", gap=0.1)
    pages.heading = section.title
    pages.text(section.explanation, size=9, gap=0.12)
    for note in section.notes:
        pages.text(f"- {note}", size=8, color="#6e2c00", width=110, gap=0.02)
    pages.y += 0.1
    for figure in section.figures:
        pages.image(figure.png, figure.title)
    for table in section.tables:
        pages.table(table)


def render_pdf(report: Report, path: Path) -> Path:
    """Write the report to ``path`` as a PDF (through a temporary file, replaced at the end)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    header = report.header
    period = f"{header.period_start} to {header.period_end}"
    footer = f"dicom-lake {header.software_version} - {header.site_name} - {period}"
    with (
        matplotlib.rc_context({"pdf.fonttype": 42, "font.family": "DejaVu Sans"}),
        PdfPages(
            partial, metadata={"Title": report.title, "Creator": f"dicom-lake {header.software_version}"}
        ) as pdf,
    ):
        pages = _Pages(pdf, footer)
        pages.new_page()
        pages.text(report.title, size=16, weight="bold", width=55, gap=0.2)
        for label, value in header.rows():
            pages.text(label, size=9, weight="bold", gap=0.0)
            pages.text(value, size=8.5, width=110, gap=0.08)
        pages.y += 0.15
        pages.text("Contents", size=11, weight="bold", gap=0.04)
        for number, section in enumerate(report.sections, start=1):
            pages.text(f"{number}. {section.title}", size=9, gap=0.0)
        for section in report.sections:
            _section(pages, section)
        pages.close()
    partial.replace(path)
    return path
