"""DRL sets: the levels of one set, banded or not, and the loading of their versioned files.

The files are ``drl_sets/*.csv`` (each row carrying set, edition and source) or a site's local DRL CSV
with the same columns; :mod:`resources.dose.drl` describes the columns and audits studies against a set.
A shipped set whose categories are not dicom-lake's (EUCLID's clinical indications) is loaded with its
own category mapping (:mod:`resources.dose.drl_set_mapping`).
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from resources.dose.drl_set_mapping import SetCategoryMapping, set_mapping_path
from resources.dose.errors import FactorSetError

DRL_DIR = Path(__file__).with_name("drl_sets")
NO_WEIGHT = "no patient weight (weight-banded levels)"
NO_AGE = "no patient age (age-banded levels)"
OUTSIDE_BANDS = "age or weight outside the set's bands"


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
        return self.by_age or self.by_weight

    @property
    def by_age(self) -> bool:
        return self.age_min_y is not None or self.age_max_y is not None

    @property
    def by_weight(self) -> bool:
        return self.weight_min_kg is not None or self.weight_max_kg is not None

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
    category_mapping: SetCategoryMapping | None = None  # for sets whose categories are not ours

    def level_for(
        self, category: str, age_years: float | None = None, weight_kg: float | None = None
    ) -> DrlLevel | None:
        """The level of a study: the category's own row, else the band its age or weight falls in."""
        if category in self.levels:
            return self.levels[category]
        return next((b for b in self.bands.get(category, ()) if b.covers(age_years, weight_kg)), None)

    def knows(self, category: str) -> bool:
        return category in self.levels or category in self.bands

    def categories(self) -> set[str]:
        return set(self.levels) | set(self.bands)

    def category_of(self, category: str | None, exam_name: str | None) -> str | None:
        """A study's category in this set: its own, or through the set's mapping where it has one."""
        if self.category_mapping is None:
            return category
        return self.category_mapping.category_of(category, exam_name)

    def band_miss(self, category: str, age_years: float | None, weight_kg: float | None) -> str | None:
        """Why a study of a banded category falls in no band (None if the category is not banded)."""
        bands = self.bands.get(category, ())
        if not bands:
            return None
        if weight_kg is None and any(b.by_weight for b in bands):
            return NO_WEIGHT
        if age_years is None and any(b.by_age for b in bands):
            return NO_AGE
        return OUTSIDE_BANDS


def data_rows(path: Path) -> list[dict[str, str]]:
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
    for number, row in enumerate(data_rows(path), start=1):
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
    drl_set = load_drl_csv(DRL_DIR / f"{name}.csv", name)
    mapping_file = set_mapping_path(name)
    if not mapping_file.is_file():
        return drl_set
    mapping = SetCategoryMapping.load(mapping_file, drl_set.categories())
    return DrlSet(drl_set.name, drl_set.edition, drl_set.source, drl_set.levels, drl_set.bands, mapping)


def available_sets() -> list[str]:
    """The names of the shipped sets, templates included (loading a template says it is one)."""
    return sorted(p.stem for p in DRL_DIR.glob("*.csv"))
