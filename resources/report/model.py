"""The report as data: a header, then sections, each a title, an explanation, tables and plots.

Both renderers (HTML and PDF) draw the same model, so what one shows the other shows. Tables are cut
to a bounded number of rows (the caption says how many there were) and their cells are already text,
formatted once here. A table is checked before it enters the model: a column that could carry source
free text (descriptions, protocol names, names of people or places) is left out and the section says
so, because the report is handed on outside the team that runs the lake.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from resources.report.errors import ReportContentError

MAX_TABLE_ROWS = 40

# Column names (lower case) that hold, or could hold, free text from the sources or a person's
# identity. Normalised exam names (``exam_name``, ``examination``), DRL categories and curated device
# labels are not among them: they come from the lake's own mapping files.
FREE_TEXT_COLUMNS = frozenset(
    {
        "study_description",
        "series_description",
        "protocol_name",
        "acquisition_protocol",
        "institution_name",
        "institution_address",
        "station_name",
        "patient_name",
        "patient_id",
        "other_patient_ids",
        "patient_birth_date",
        "accession_number",
        "referring_physician_name",
        "performing_physician_name",
        "operators_name",
        "requesting_physician",
        "body_region_evidence",
        "reason",
        "comment",
        "comments",
        "text",
        "free_text",
        "raw_name",
        "source_name",
    }
)


@dataclass(frozen=True)
class ReportTable:
    """A table as the report shows it: column names and text cells, at most ``MAX_TABLE_ROWS`` rows."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]
    total_rows: int
    caption: str = ""
    left_out_columns: tuple[str, ...] = ()

    @property
    def cut(self) -> bool:
        return self.total_rows > len(self.rows)

    @classmethod
    def from_frame(
        cls, title: str, frame: pd.DataFrame, *, caption: str = "", max_rows: int = MAX_TABLE_ROWS
    ) -> ReportTable:
        """The first ``max_rows`` rows of ``frame``, free-text columns left out (:func:`allowed_columns`)."""
        keep, dropped = allowed_columns([str(c) for c in frame.columns])
        frame = frame.loc[:, [c for c in frame.columns if str(c) in keep]]
        head = frame.head(max_rows)
        numeric = tuple(bool(pd.api.types.is_numeric_dtype(head[c])) for c in head.columns)
        rows = tuple(tuple(format_cell(v) for v in record) for record in head.itertuples(index=False))
        return cls(
            title=title,
            columns=tuple(str(c) for c in head.columns),
            rows=rows,
            numeric=numeric,
            total_rows=len(frame),
            caption=caption,
            left_out_columns=tuple(dropped),
        )


@dataclass(frozen=True)
class ReportFigure:
    """A plot as PNG bytes; ``alt`` says in words what it shows."""

    title: str
    png: bytes
    alt: str

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    explanation: str
    tables: tuple[ReportTable, ...] = ()
    figures: tuple[ReportFigure, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.tables and not self.figures


@dataclass(frozen=True)
class ReportHeader:
    site_name: str
    period_start: dt.date
    period_end: dt.date
    generated_at: dt.datetime  # UTC
    software_version: str
    drl_sets: tuple[str, ...]
    factor_sets: tuple[str, ...]
    deid_profile_versions: tuple[str, ...]
    n_studies: int
    n_partitions: int

    def rows(self) -> list[tuple[str, str]]:
        """The header as (label, value) pairs, in the order both renderers show them."""
        unknown = "not recorded"
        return [
            ("Site", self.site_name),
            (
                "Period (source study dates)",
                f"{self.period_start.isoformat()} to {self.period_end.isoformat()} "
                f"({self.n_studies} studies in {self.n_partitions} daily partitions)",
            ),
            ("Generated (UTC)", self.generated_at.strftime("%Y-%m-%d %H:%M:%S")),
            ("Software", f"dicom-lake {self.software_version}"),
            ("DRL set", "; ".join(self.drl_sets) or unknown),
            ("Effective dose factor set", "; ".join(self.factor_sets) or unknown),
            ("De-identification profile", "; ".join(self.deid_profile_versions) or unknown),
        ]


@dataclass(frozen=True)
class Report:
    header: ReportHeader
    sections: tuple[Section, ...] = field(default_factory=tuple)

    @property
    def title(self) -> str:
        h = self.header
        return f"Dose and activity report, {h.site_name}, {h.period_start} to {h.period_end}"


def allowed_columns(columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``columns`` into those the report may show and those left out as possible free text."""
    keep: list[str] = []
    dropped: list[str] = []
    for name in columns:
        (dropped if _is_free_text(name) else keep).append(name)
    return keep, dropped


def _is_free_text(name: str) -> bool:
    key = name.strip().lower().replace(" ", "_")
    return key in FREE_TEXT_COLUMNS or key.endswith("_description") or key.endswith("_protocol")


def require_no_free_text(columns: Sequence[str], where: str) -> None:
    """For the report's own queries: a free-text column there is a programming error, not data.

    Raises
    ------
    ReportContentError
        Naming ``where`` and the columns.
    """
    _, dropped = allowed_columns(columns)
    if dropped:
        raise ReportContentError(f"{where}: columns {', '.join(dropped)} may hold source free text")


def format_cell(value: Any) -> str:
    """One cell as text: floats with at most three decimals (and no ``nan``), dates in ISO form."""
    if isinstance(value, np.generic):
        value = value.item()  # numpy scalars as Python ones, so bools and floats format alike
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value == int(value) and abs(value) < 1e12:
            return str(int(value))
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.4g}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return " ".join(str(value).split())
