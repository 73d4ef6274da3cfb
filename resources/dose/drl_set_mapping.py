"""Per-set category mappings: from dicom-lake's DRL categories and exam names to a set's own categories.

Most shipped DRL sets name their levels by body region (``head``, ``chest``, ``abdomen_pelvis``), the
categories ``drl_mapping.csv`` gives every study. A set whose levels are *clinical indications* (the EU
clinical DRLs, EUCLID, Radiation Protection 195: stroke, pulmonary embolism, appendicitis ...) cannot be
audited with those categories: a head CT may be for a stroke or for a fall. Such a set ships a second
mapping beside ``drl_mapping.csv``, ``drl_mapping_<set>.csv``, with rows

``source,name,category``
    ``source`` is ``category`` (``name`` is a dicom-lake DRL category, e.g. ``ctpa``) or ``exam_name``
    (``name`` is an examination name: a canonical exam name of the curation, e.g. ``CT Pulmonary
    angiogram``, or a site's normalised protocol / study name that no national category matched);
    ``category`` is the set's category.

Only mappings that are unambiguous belong there: a study none of whose names or category the file
lists is not audited against the set (it is counted, not guessed). Exam names are tried before the
category, because a name can say more (an indication) than a body region does.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from resources.dose.errors import FactorSetError

MAPPING_DIR = Path(__file__).parent
SOURCES = ("category", "exam_name")


def normalise_name(text: str) -> str:
    """Lower case, every run of non-alphanumerics -> one space (how mapping names are compared)."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def set_mapping_path(set_name: str) -> Path:
    """Where a shipped set's own category mapping lives (it may not exist)."""
    return MAPPING_DIR / f"drl_mapping_{set_name}.csv"


@dataclass(frozen=True)
class SetCategoryMapping:
    """dicom-lake category / exam name -> the category of one DRL set."""

    by_category: dict[str, str]
    by_exam_name: dict[str, str]
    source: str

    @classmethod
    def load(cls, path: Path, known_categories: set[str]) -> SetCategoryMapping:
        """Read a per-set mapping and check every target is one of the set's categories.

        Raises
        ------
        FactorSetError
            When the file is missing or has no ``# source:`` line, a row has an unknown ``source``, a
            category the set does not have, or one name mapped to two categories.
        """
        if not path.is_file():
            raise FactorSetError(f"DRL set mapping not found: {path}")
        text = path.read_text(encoding="utf-8-sig")
        source = next((m.group(1).strip() for m in re.finditer(r"^#\s*source:(.*)$", text, re.M)), "")
        if not source:
            raise FactorSetError(f"{path.name}: no '# source:' line saying what the mapping is")
        tables: dict[str, dict[str, str]] = {name: {} for name in SOURCES}
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        for number, row in enumerate(csv.DictReader(lines), start=1):
            kind = (row.get("source") or "").strip()
            name = normalise_name(row.get("name") or "")
            category = (row.get("category") or "").strip()
            if kind not in tables or not name:
                raise FactorSetError(f"{path.name} data row {number}: source must be one of {SOURCES}")
            if category not in known_categories:
                raise FactorSetError(f"{path.name} data row {number}: the set has no category {category!r}")
            if tables[kind].get(name, category) != category:
                raise FactorSetError(f"{path.name} data row {number}: {name!r} mapped to two categories")
            tables[kind][name] = category
        return cls(tables["category"], tables["exam_name"], source)

    def category_of(self, category: str | None, exam_name: str | None) -> str | None:
        """The set's category of a study, or None where the mapping does not say."""
        if exam_name:
            mapped = self.by_exam_name.get(normalise_name(exam_name))
            if mapped:
                return mapped
        return self.by_category.get(category) if category else None
