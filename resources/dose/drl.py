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
listed.

A DRL compares the *median of a sample* with the level, never one patient: per category, per
(canonical) device and per source period the audit gives the number of studies and the median CTDIvol
and DLP against the DRL, and lists the individual examinations above it (for review, not as breaches).

Per-study quantities: DLP = the study's total DLP (all unique events); CTDIvol = the mean CTDIvol of
the study's diagnostic events (spiral, sequenced, cone-beam, free acquisitions), leaving out localisers
(constant angle) and bolus-tracking monitoring (stationary) as the UK NDRL survey does.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from resources.dose.errors import FactorSetError

DRL_DIR = Path(__file__).with_name("drl_sets")
DEFAULT_MAPPING = Path(__file__).with_name("drl_mapping.csv")
PERIODS = ("week", "month", "quarter", "year")


@dataclass(frozen=True, slots=True)
class DrlLevel:
    category: str
    examination: str
    ctdivol_mgy: float | None
    dlp_mgycm: float | None
    dap_gycm2: float | None = None
    age_min_y: float | None = None
    age_max_y: float | None = None
    weight_min_kg: float | None = None
    weight_max_kg: float | None = None

    @property
    def banded(self) -> bool:
        bounds = (self.age_min_y, self.age_max_y, self.weight_min_kg, self.weight_max_kg)
        return any(v is not None for v in bounds)

    def covers(self, age_years: float | None, weight_kg: float | None) -> bool:
        """Whether a study of this age / weight falls in the band (an unknown value never does)."""
        checks = (
            (self.age_min_y, self.age_max_y, age_years),
            (self.weight_min_kg, self.weight_max_kg, weight_kg),
        )
        for low, high, value in checks:
            if low is None and high is None:
                continue
            if value is None or (low is not None and value < low) or (high is not None and value >= high):
                return False
        return True


@dataclass(frozen=True)
class DrlSet:
    name: str
    edition: str
    source: str
    levels: dict[str, DrlLevel]
    bands: dict[str, tuple[DrlLevel, ...]] = field(default_factory=dict)

    def level_for(
        self, category: str, age_years: float | None = None, weight_kg: float | None = None
    ) -> DrlLevel | None:
        """The level of a study: the category's own row, else the band its age or weight falls in."""
        if category in self.levels:
            return self.levels[category]
        return next((b for b in self.bands.get(category, ()) if b.covers(age_years, weight_kg)), None)

    def knows(self, category: str) -> bool:
        return category in self.levels or category in self.bands


def _data_rows(path: Path) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return list(csv.DictReader(line for line in lines if line.strip() and not line.startswith("#")))


def _optional_float(text: str | None) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


def load_drl_csv(path: Path, default_name: str | None = None) -> DrlSet:
    """Load a DRL set from a CSV (national sets here, or a site's local DRLs).

    Parameters
    ----------
    path
        CSV with columns ``category, ctdivol_mgy, dlp_mgycm`` and optionally ``drl_set, edition, source,
        examination``; ``#`` lines are comments.
    default_name
        Set name when the file has no ``drl_set`` column (default: the file stem).

    Returns
    -------
    DrlSet

    Raises
    ------
    FactorSetError
        When the file is missing, empty or a row is malformed.
    """
    if not path.is_file():
        raise FactorSetError(f"DRL file not found: {path}")
    if re.search(r"^#\s*template:\s*true", path.read_text(encoding="utf-8-sig"), re.MULTILINE):
        raise FactorSetError(
            f"{path.name}: a template without published values (see its header); fill it in and load it "
            "as the site's local DRL file"
        )
    levels: dict[str, DrlLevel] = {}
    bands: dict[str, list[DrlLevel]] = defaultdict(list)
    name = default_name or path.stem
    editions: set[str] = set()
    sources: set[str] = set()
    for number, row in enumerate(_data_rows(path), start=1):
        try:
            category = row["category"].strip()
            level = DrlLevel(
                category=category,
                examination=(row.get("examination") or category).strip(),
                ctdivol_mgy=_optional_float(row.get("ctdivol_mgy")),
                dlp_mgycm=_optional_float(row.get("dlp_mgycm")),
                dap_gycm2=_optional_float(row.get("dap_gycm2")),
                age_min_y=_optional_float(row.get("age_min_y")),
                age_max_y=_optional_float(row.get("age_max_y")),
                weight_min_kg=_optional_float(row.get("weight_min_kg")),
                weight_max_kg=_optional_float(row.get("weight_max_kg")),
            )
        except (KeyError, ValueError, AttributeError) as exc:
            raise FactorSetError(f"{path.name} data row {number}: {exc}") from exc
        if not category:
            raise FactorSetError(f"{path.name} data row {number}: empty category")
        if level.banded:
            bands[category].append(level)
        else:
            levels[category] = level
        name = (row.get("drl_set") or name).strip()
        editions.add((row.get("edition") or "local").strip())
        sources.add((row.get("source") or f"local file {path.name}").strip())
    if not levels and not bands:
        raise FactorSetError(f"{path.name}: no DRL rows")
    return DrlSet(
        name=name,
        edition="; ".join(sorted(editions)),
        source="; ".join(sorted(sources)),
        levels=levels,
        bands={category: tuple(rows) for category, rows in bands.items()},
    )


@cache
def load_drl_set(name: str) -> DrlSet:
    """A DRL set shipped in ``drl_sets/`` (``uk_2022``, ``ireland_2012``, ...; ``available_sets()``).

    Raises
    ------
    FactorSetError
        When no such set exists.
    """
    if not re.fullmatch(r"[a-z0-9_]+", name) or not (DRL_DIR / f"{name}.csv").is_file():
        available = ", ".join(available_sets())
        raise FactorSetError(f"DRL set {name!r} not found; available: {available}")
    return load_drl_csv(DRL_DIR / f"{name}.csv", name)


def available_sets() -> list[str]:
    """The names of the shipped sets, templates included (loading a template says it is one)."""
    return sorted(p.stem for p in DRL_DIR.glob("*.csv"))


def normalise_name(text: str) -> str:
    """Lower case, every run of non-alphanumerics -> one space (how mapping names are compared)."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


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
        for number, row in enumerate(_data_rows(path), start=1):
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


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _exceeds(value: float | None, level: float | None) -> bool | None:
    if value is None or level is None:
        return None
    return value > level


def audit(studies: Iterable[AuditStudy], drl_set: DrlSet, period: str = "month") -> DrlAudit:
    """Medians per (category, device, period) against a DRL set, exceeding examinations listed.

    A banded set (by age or weight) is audited per band: the group's category is ``category:band``.

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
    for study in studies:
        if study.category is None:
            unmapped[study.exam_name or "(no name)"] += 1
            continue
        level = drl_set.level_for(study.category, study.age_years, study.weight_kg)
        if level is None:
            without_level[study.category] += 1
            continue
        key = f"{study.category}:{level.examination}" if level.banded else study.category
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
    return DrlAudit(drl_set, groups, dict(unmapped), dict(without_level))


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
    return "\n".join(lines)
