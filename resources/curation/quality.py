"""Quality flag rules: impossible or implausible values, missing required tags, inconsistent studies.

Each flag names its rule, the field and the offending value (numbers, dates and codes only: no free
text). Thresholds are settings (:class:`QualityRules`) so a site can tighten them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

# Tags an instance of each modality must carry for the dose audit and the warehouse to make sense.
REQUIRED_TAGS: dict[str, tuple[str, ...]] = {
    "CT": ("StudyDate", "KVP", "CTDIvol", "SliceThickness", "Manufacturer", "ManufacturerModelName"),
    "MG": (
        "StudyDate",
        "KVP",
        "OrganDose",
        "BodyPartThickness",
        "CompressionForce",
        "ViewPosition",
        "Manufacturer",
    ),
    "SR": ("StudyDate", "Manufacturer"),
    "DX": ("StudyDate", "KVP", "Manufacturer"),
    "CR": ("StudyDate", "KVP", "Manufacturer"),
}

# Fields that must not differ between the instances of one study.
STUDY_CONSISTENT_FIELDS = ("patient_pseudonym", "patient_sex", "study_date", "patient_age_years")


@dataclass(frozen=True)
class QualityRules:
    max_age_years: float = 120.0
    ctdivol_ceiling_mgy: float = 200.0  # above every clinical protocol; perfusion studies stay below
    compression_force_max_n: float = 300.0  # IEC 60601-2-45 caps powered compression at 300 N
    compression_force_min_n: float = 0.0
    future_tolerance_days: int = 0
    today: dt.date | None = None  # None = the current UTC date
    required_tags: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(REQUIRED_TAGS))

    def reference_date(self) -> dt.date:
        return self.today or dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class Flag:
    rule: str
    field_name: str
    value: str | None
    level: str = "instance"
    severity: str = "warning"

    def row(self, *, study: str | None, series: str | None = None, sop: str | None = None) -> dict[str, Any]:
        return {
            "level": self.level,
            "study_instance_uid": study,
            "series_instance_uid": series,
            "sop_instance_uid": sop,
            "rule": self.rule,
            "field_name": self.field_name,
            "value": None if self.value is None else self.value[:128],
            "severity": self.severity,
        }


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def instance_flags(record: Mapping[str, Any], rules: QualityRules) -> Iterator[Flag]:
    """Flags of one flattened instance (see :func:`resources.curation.flatten.flatten_dataset`)."""
    age = record.get("patient_age_years")
    if age is not None and (age < 0 or age > rules.max_age_years):
        yield Flag("age_out_of_range", "patient_age_years", _fmt(age), severity="error")

    ctdivol = record.get("ctdivol_mgy")
    if ctdivol is not None:
        if ctdivol <= 0:
            yield Flag("ctdivol_not_positive", "ctdivol_mgy", _fmt(ctdivol), severity="error")
        elif ctdivol > rules.ctdivol_ceiling_mgy:
            yield Flag("ctdivol_above_ceiling", "ctdivol_mgy", _fmt(ctdivol))

    force = record.get("compression_force_n")
    if force is not None and not rules.compression_force_min_n <= force <= rules.compression_force_max_n:
        yield Flag("compression_force_out_of_range", "compression_force_n", _fmt(force), severity="error")

    study_date = record.get("study_date")
    if study_date is not None:
        limit = rules.reference_date() + dt.timedelta(days=rules.future_tolerance_days)
        if study_date > limit:
            yield Flag("study_date_in_future", "study_date", study_date.isoformat())

    acquired = record.get("acquisition_datetime")
    study_start = record.get("study_datetime")
    if acquired is not None and study_start is not None and acquired < study_start:
        yield Flag("acquisition_before_study_start", "acquisition_datetime", acquired.isoformat())

    for bad in record.get("unparseable", ()):
        yield Flag("unparseable_value", bad, None)

    modality = record.get("modality")
    is_localiser = "LOCALIZER" in (record.get("image_type") or "").upper()
    present: set[str] = record.get("present_tags", set())
    for tag in rules.required_tags.get(modality or "", ()):
        if tag == "CTDIvol" and is_localiser:
            continue  # localisers often carry no CTDIvol: absent, not zero
        if tag not in present:
            yield Flag("missing_required_tag", tag, modality)


class StudyConsistency:
    """Collects per-study values of :data:`STUDY_CONSISTENT_FIELDS` and flags studies where they differ."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, set[str]]] = {}

    def add(self, record: Mapping[str, Any]) -> None:
        study = record.get("study_instance_uid")
        if not study:
            return
        seen = self._values.setdefault(study, {})
        for name in STUDY_CONSISTENT_FIELDS:
            value = record.get(name)
            if value is not None:
                seen.setdefault(name, set()).add(_fmt(value))

    def flags(self) -> Iterator[tuple[str, Flag]]:
        for study, fields in self._values.items():
            for name, values in fields.items():
                if len(values) > 1:
                    shown = None if name == "patient_pseudonym" else "|".join(sorted(values))
                    yield study, Flag("inconsistent_within_study", name, shown, level="study")
