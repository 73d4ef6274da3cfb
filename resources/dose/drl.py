"""Diagnostic reference level (DRL) audit.

DRL sets are versioned data files in ``drl_sets/`` (national and European sets, each row carrying set,
edition and source); a site's local DRLs are a CSV with the same columns (``category,ctdivol_mgy,
dlp_mgycm`` are required, the rest optional). Optional columns: ``dap_gycm2`` (projection radiography
and fluoroscopy DRLs, per examination), and ``age_min_y, age_max_y, weight_min_kg, weight_max_kg`` for
sets banded by age or weight (EU paediatric DRLs, RP 185): a banded row applies to a study of that
category whose age (or weight) lies in ``[min, max)``. A file marked ``# template: true`` lists the
categories of a set whose published values could not be verified; loading it fails with that reason.
Studies are mapped to DRL categories through ``drl_mapping.csv`` (user-editable), by canonical exam
name first, then by the normalised study description / protocol name; names that match nothing are
listed. A set whose categories are not body regions (EUCLID's clinical indications) ships its own
mapping from those categories and exam names to its categories (:mod:`resources.dose.drl_set_mapping`).

A banded set places each study by the quantity its rows are banded by: age for RP 185 head, patient
weight (the curated study's ``patient_weight_kg``) for RP 185 body. A study whose age or weight is
unknown, or outside every band, is not audited against the set, and the audit counts it with the reason.

A DRL compares the *median of a sample* with the level, never one patient: per category, per
(canonical) device and per source period the audit gives the number of studies and the median CTDIvol
and DLP against the DRL, and lists the individual examinations above it (for review, not as breaches).

Per-study quantities: DLP = the study's total DLP (all unique events); CTDIvol = the mean CTDIvol of
the study's diagnostic events (spiral, sequenced, cone-beam, free acquisitions), leaving out localisers
(constant angle) and bolus-tracking monitoring (stationary) as the UK NDRL survey does.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# The set, its loaders and the name normalisation are imported from here by the rest of the engine.
from resources.dose.drl_levels import DRL_DIR as DRL_DIR
from resources.dose.drl_levels import NO_AGE as NO_AGE
from resources.dose.drl_levels import NO_WEIGHT as NO_WEIGHT
from resources.dose.drl_levels import OUTSIDE_BANDS as OUTSIDE_BANDS
from resources.dose.drl_levels import DrlLevel as DrlLevel
from resources.dose.drl_levels import DrlSet, data_rows
from resources.dose.drl_levels import available_sets as available_sets
from resources.dose.drl_levels import load_drl_csv as load_drl_csv
from resources.dose.drl_levels import load_drl_set as load_drl_set
from resources.dose.drl_set_mapping import normalise_name as normalise_name
from resources.dose.errors import FactorSetError

DEFAULT_MAPPING = Path(__file__).with_name("drl_mapping.csv")
PERIODS = ("week", "month", "quarter", "year")


@dataclass(frozen=True)
class DrlMapping:
    """Normalised exam/protocol name -> DRL category (from ``drl_mapping.csv`` or a site copy)."""

    categories: dict[str, str]

    @classmethod
    def load(cls, path: Path = DEFAULT_MAPPING) -> DrlMapping:
        """Read a mapping CSV (``name,category``).

        Raises
        ------
        FactorSetError
            When the file is missing or has no ``name``/``category`` columns.
        """
        if not path.is_file():
            raise FactorSetError(f"DRL mapping file not found: {path}")
        mapping: dict[str, str] = {}
        for number, row in enumerate(data_rows(path), start=1):
            if "name" not in row or "category" not in row:
                raise FactorSetError(f"{path.name} data row {number}: needs columns name,category")
            mapping[normalise_name(row["name"])] = row["category"].strip()
        return cls(mapping)

    def category_for(self, *names: str | None) -> str | None:
        """The category of the first name (in order given) that the mapping knows."""
        for name in names:
            if name:
                category = self.categories.get(normalise_name(name))
                if category:
                    return category
        return None


@dataclass(frozen=True, slots=True)
class AuditStudy:
    """One study as the DRL audit sees it.

    ``device`` is the curated canonical device (one scanner, however its headers spell it);
    ``source_date`` is the partition's date, i.e. the unshifted calendar day the study belongs to:
    aggregate reports group by it, because the per-patient shifted study dates would scatter one
    week of work over a year of periods.
    """

    study_instance_uid: str
    device: str
    source_date: str  # ISO date of the partition (source calendar, not shifted)
    category: str | None
    exam_name: str | None  # normalised name used for mapping (listed when unmapped)
    ctdivol_mgy: float | None
    dlp_mgycm: float | None
    device_label: str | None = None  # the label the dose report gave (counted per canonical device)
    age_years: float | None = None
    weight_kg: float | None = None


def period_of(iso_date: str, period: str) -> str:
    """``2026-03-14`` -> ``2026-W11`` / ``2026-03`` / ``2026-Q1`` / ``2026`` (ISO weeks)."""
    year, month = iso_date[:4], int(iso_date[5:7])
    if period == "week":
        iso = dt.date.fromisoformat(iso_date[:10]).isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if period == "month":
        return f"{year}-{month:02d}"
    if period == "quarter":
        return f"{year}-Q{(month - 1) // 3 + 1}"
    return year


@dataclass(frozen=True, slots=True)
class DrlAuditGroup:
    drl_set: str
    category: str
    examination: str
    device: str
    period: str
    n_studies: int
    device_labels: int
    median_ctdivol_mgy: float | None
    median_dlp_mgycm: float | None
    drl_ctdivol_mgy: float | None
    drl_dlp_mgycm: float | None
    median_ctdivol_exceeds: bool | None
    median_dlp_exceeds: bool | None
    exceeding_study_uids: tuple[str, ...]


@dataclass(frozen=True)
class DrlAudit:
    drl_set: DrlSet
    groups: list[DrlAuditGroup]
    unmapped_names: dict[str, int] = field(default_factory=dict)
    categories_without_level: dict[str, int] = field(default_factory=dict)
    # (category, reason) -> studies of a banded category placed in no band (also in the count above)
    band_misses: dict[tuple[str, str], int] = field(default_factory=dict)
    # dicom-lake category -> studies the set's own mapping does not place (EUCLID: not an indication)
    not_in_set_mapping: dict[str, int] = field(default_factory=dict)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _exceeds(value: float | None, level: float | None) -> bool | None:
    if value is None or level is None:
        return None
    return value > level


def audit(studies: Iterable[AuditStudy], drl_set: DrlSet, period: str = "month") -> DrlAudit:
    """Medians per (category, device, period) against a DRL set, exceeding examinations listed.

    A banded set (by age or weight) is audited per band: the group's category is ``category:band``;
    a study placed in no band is counted in ``band_misses`` with the reason. A set with its own category
    mapping audits a study under the set's category the mapping gives, or counts it as not placed.

    Raises
    ------
    ValueError
        When ``period`` is not one of week, month, quarter, year.
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, not {period!r}")
    grouped: dict[tuple[str, str, str], list[AuditStudy]] = defaultdict(list)
    level_of: dict[str, DrlLevel] = {}
    unmapped: dict[str, int] = defaultdict(int)
    without_level: dict[str, int] = defaultdict(int)
    band_misses: dict[tuple[str, str], int] = defaultdict(int)
    not_placed: dict[str, int] = defaultdict(int)
    for study in studies:
        category = drl_set.category_of(study.category, study.exam_name)
        if category is None:
            if study.category is None:
                unmapped[study.exam_name or "(no name)"] += 1
            else:
                not_placed[study.category] += 1
            continue
        level = drl_set.level_for(category, study.age_years, study.weight_kg)
        if level is None:
            without_level[category] += 1
            reason = drl_set.band_miss(category, study.age_years, study.weight_kg)
            if reason is not None:
                band_misses[(category, reason)] += 1
            continue
        key = f"{category}:{level.examination}" if level.banded else category
        level_of[key] = level
        grouped[(key, study.device, period_of(study.source_date, period))].append(study)
    groups: list[DrlAuditGroup] = []
    for (category, device, when), members in sorted(grouped.items()):
        level = level_of[category]
        ctdi = _median([s.ctdivol_mgy for s in members if s.ctdivol_mgy is not None])
        dlp = _median([s.dlp_mgycm for s in members if s.dlp_mgycm is not None])
        exceeding = tuple(
            sorted(
                s.study_instance_uid
                for s in members
                if _exceeds(s.dlp_mgycm, level.dlp_mgycm) or _exceeds(s.ctdivol_mgy, level.ctdivol_mgy)
            )
        )
        groups.append(
            DrlAuditGroup(
                drl_set=drl_set.name,
                category=category,
                examination=level.examination,
                device=device,
                period=when,
                n_studies=len(members),
                device_labels=len({s.device_label or s.device for s in members}),
                median_ctdivol_mgy=ctdi,
                median_dlp_mgycm=dlp,
                drl_ctdivol_mgy=level.ctdivol_mgy,
                drl_dlp_mgycm=level.dlp_mgycm,
                median_ctdivol_exceeds=_exceeds(ctdi, level.ctdivol_mgy),
                median_dlp_exceeds=_exceeds(dlp, level.dlp_mgycm),
                exceeding_study_uids=exceeding,
            )
        )
    return DrlAudit(drl_set, groups, dict(unmapped), dict(without_level), dict(band_misses), dict(not_placed))


def medians_markdown(result: DrlAudit) -> str:
    """The audit as a markdown table (medians against the DRL), for asset metadata."""
    lines = [
        f"DRL set: {result.drl_set.name} ({result.drl_set.edition})",
        "",
        "| Category | Device | Period | n | median CTDIvol (mGy) | DRL CTDIvol "
        "| median DLP (mGy cm) | DRL DLP |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def fmt(value: float | None, exceeds: bool | None = None) -> str:
        if value is None:
            return "-"
        return f"**{value:.1f}**" if exceeds else f"{value:.1f}"

    for g in result.groups:
        lines.append(
            f"| {g.examination} | {g.device} | {g.period} | {g.n_studies} | "
            f"{fmt(g.median_ctdivol_mgy, g.median_ctdivol_exceeds)} | {fmt(g.drl_ctdivol_mgy)} | "
            f"{fmt(g.median_dlp_mgycm, g.median_dlp_exceeds)} | {fmt(g.drl_dlp_mgycm)} |"
        )
    return "\n".join(lines + not_audited_lines(result))


def not_audited_lines(result: DrlAudit) -> list[str]:
    """Markdown lines counting the studies the set could not place: no band, or not in its mapping."""
    notes = [
        f"- {category}: {n} stud{'y' if n == 1 else 'ies'} not audited, {reason}"
        for (category, reason), n in sorted(result.band_misses.items())
    ]
    mapping = result.drl_set.category_mapping
    if mapping is not None and result.not_in_set_mapping:
        notes += [
            f"- {category}: {n} stud{'y' if n == 1 else 'ies'} not audited, no unambiguous category of "
            f"{result.drl_set.name}"
            for category, n in sorted(result.not_in_set_mapping.items())
        ]
        notes.append(f"- categories mapped by: {mapping.source}")
    return ["", "Not audited against this set:", *notes] if notes else []
