"""Case selection: which studies to pull, which series are dose reports, the cohort CSV.

Selection reasons are fixed phrases (never the description or station text that matched), because
they end up in the spool index and may be counted in Dagster metadata.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from resources.pacs.errors import CohortFileError
from resources.pacs.find_results import InstanceRow, SeriesRow, StudyIndex
from resources.site_config import SelectionSettings
from resources.sop_classes import (
    DOSE_SR_CLASSES,
    GENERIC_SR_CLASSES,
)

_DOSE_WORDS = re.compile(r"dose|rdsr|radiation|exposure|dlp|ctdi", re.IGNORECASE)


@dataclass(frozen=True)
class SeriesKind:
    """How the retrieval policy should treat a series."""

    is_dose_report: bool  # a dose SR for sure, or an SR we could not rule out (SR series are tiny)
    is_sr: bool
    sop_class_uid: str | None  # the series' SOP class when image-level C-FIND told us, else None


def classify_series(series: SeriesRow, instances: Sequence[InstanceRow]) -> SeriesKind:
    """Decide from SERIES and IMAGE level answers whether a series is (or may be) a dose report.

    Modality SR plus the SOP class of its instances: RDSR / Radiopharmaceutical RDSR / Patient
    Radiation Dose SR are dose reports; Enhanced and Comprehensive SR count when the series
    description looks like dose; when the PACS did not answer at IMAGE level, or gave no SOP class,
    an SR series is treated as a possible dose report (retrieving a tiny SR series is cheaper than
    missing a dose report).
    """
    classes = {i.sop_class_uid for i in instances if i.sop_class_uid}
    sop_class = sorted(classes)[0] if len(classes) == 1 else None
    is_sr = (series.modality or "").upper() == "SR" or any(
        c.startswith("1.2.840.10008.5.1.4.1.1.88.") for c in classes
    )
    if not is_sr:
        return SeriesKind(is_dose_report=False, is_sr=False, sop_class_uid=sop_class)
    if classes & DOSE_SR_CLASSES:
        return SeriesKind(is_dose_report=True, is_sr=True, sop_class_uid=sop_class)
    if not classes:
        return SeriesKind(is_dose_report=True, is_sr=True, sop_class_uid=None)
    if classes & GENERIC_SR_CLASSES and _DOSE_WORDS.search(series.series_description or ""):
        return SeriesKind(is_dose_report=True, is_sr=True, sop_class_uid=sop_class)
    if classes <= GENERIC_SR_CLASSES and not series.series_description:
        # No description to judge by: when unsure, retrieve (SR series are tiny).
        return SeriesKind(is_dose_report=True, is_sr=True, sop_class_uid=sop_class)
    return SeriesKind(is_dose_report=False, is_sr=True, sop_class_uid=sop_class)


def _compile(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


@dataclass(frozen=True)
class Decision:
    selected: bool
    reason: str


class StudySelector:
    """The site's selection rules (modalities, description and station include/exclude patterns)."""

    def __init__(
        self,
        *,
        modalities: Sequence[str] = (),
        description_include: Sequence[str] = (),
        description_exclude: Sequence[str] = (),
        station_include: Sequence[str] = (),
        station_exclude: Sequence[str] = (),
    ) -> None:
        self.modalities = {m.upper() for m in modalities}
        self.description_include = _compile(description_include)
        self.description_exclude = _compile(description_exclude)
        self.station_include = _compile(station_include)
        self.station_exclude = _compile(station_exclude)

    @classmethod
    def from_settings(cls, settings: SelectionSettings) -> StudySelector:
        return cls(
            modalities=settings.modalities,
            description_include=settings.study_description_include,
            description_exclude=settings.study_description_exclude,
            station_include=settings.station_include,
            station_exclude=settings.station_exclude,
        )

    def decide(self, study: StudyIndex) -> Decision:
        """Select or skip a study; the reason is a fixed phrase safe for logs and metadata."""
        modalities = {m.upper() for m in study.modalities}
        if self.modalities and not modalities & self.modalities:
            return Decision(False, "no selected modality")
        description = study.study.study_description or ""
        if self.description_include and not any(p.search(description) for p in self.description_include):
            return Decision(False, "description not included")
        for number, pattern in enumerate(self.description_exclude, start=1):
            if pattern.search(description):
                return Decision(False, f"description excluded by pattern {number}")
        stations = study.station_names
        if self.station_include and not any(p.search(s) for p in self.station_include for s in stations):
            return Decision(False, "station not included")
        for number, pattern in enumerate(self.station_exclude, start=1):
            if any(pattern.search(s) for s in stations):
                return Decision(False, f"station excluded by pattern {number}")
        return Decision(True, "selected")


COHORT_COLUMN_ALIASES = {
    "accession_number": ("accession_number", "accessionnumber", "accession"),
    "patient_id": ("patient_id", "patientid", "mrn"),
}


def read_cohort_csv(path: Path, key: str) -> list[str]:
    """The identifiers listed in a cohort CSV, in file order, without duplicates or blanks.

    The file has a header row naming the column (``accession_number`` or ``patient_id``, a few
    spellings accepted); a one-column file without a recognised header is read as bare values.

    Raises
    ------
    CohortFileError
        If the file is missing or unreadable, or has several columns and none is the key column.
    """
    aliases = COHORT_COLUMN_ALIASES.get(key)
    if aliases is None:
        raise CohortFileError(f"unknown cohort key {key!r}; use accession_number or patient_id")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except OSError as exc:
        raise CohortFileError(f"{path}: cannot read the cohort file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CohortFileError(f"{path}: the cohort file is not UTF-8 text") from exc
    if not rows:
        return []
    header = [cell.strip().lower().replace(" ", "_") for cell in rows[0]]
    column = next((i for i, name in enumerate(header) if name in aliases), None)
    body = rows[1:]
    if column is None:
        if len(header) != 1:
            raise CohortFileError(f"{path}: no '{key}' column in the cohort file header")
        column, body = 0, rows  # bare values, no header
    seen: dict[str, None] = {}
    for number, row in enumerate(body, start=2):
        if column >= len(row):
            raise CohortFileError(f"{path}: line {number} has no value in the '{key}' column")
        value = row[column].strip()
        if value:
            seen.setdefault(value, None)
    return list(seen)
