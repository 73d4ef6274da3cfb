"""Protocol names and study descriptions to standard examination names (``exam_names.csv``).

The step every dose audit needs: DRLs are set per examination, while sites name the same
examination a dozen ways. Names that match no row are counted (:class:`UnmappedTally`) and written to
the warehouse's ``unmapped_name`` table, so a physicist can extend the file.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from resources.curation.data_files import DATA_FOLDER, compile_pattern, read_data_file, tidy

EXAM_NAMES_CSV = DATA_FOLDER / "exam_names.csv"


@dataclass(frozen=True)
class ExamNameRule:
    exam_name: str
    modality: str
    ndrl_category: str | None
    pattern: re.Pattern[str]


class ExamNameMapper:
    """Maps free-text examination names to canonical names with the rules of a data file."""

    def __init__(self, path: Path = EXAM_NAMES_CSV) -> None:
        self.path = path
        self.version, rows = read_data_file(path)
        self.rules = [
            ExamNameRule(
                exam_name=row["exam_name"],
                modality=row.get("modality", "").upper(),
                ndrl_category=row.get("ndrl_category") or None,
                pattern=compile_pattern(row["pattern"], where=f"{path.name} row {line}"),
            )
            for line, row in enumerate(rows, start=2)
        ]

    @classmethod
    @cache
    def default(cls) -> ExamNameMapper:
        """The mapper of the shipped ``exam_names.csv`` (loaded once)."""
        return cls()

    def rule_for(self, text: str | None, modality: str | None = None) -> ExamNameRule | None:
        if not text or not text.strip():
            return None
        cleaned = tidy(text)
        wanted = (modality or "").upper()
        for rule in self.rules:
            if wanted and rule.modality and rule.modality != wanted and wanted != "SR":
                continue
            if rule.pattern.search(cleaned):
                return rule
        return None

    def map(self, text: str | None, modality: str | None = None) -> str | None:
        """The canonical examination name for ``text`` (None when no rule matches).

        ``modality`` (e.g. ``"CT"``) restricts the rules to that modality's examinations.
        """
        rule = self.rule_for(text, modality)
        return rule.exam_name if rule else None

    def map_first(self, texts: list[str | None], modality: str | None = None) -> str | None:
        """The first text (protocol name, then descriptions, in the caller's order) that maps."""
        for text in texts:
            name = self.map(text, modality)
            if name:
                return name
        return None

    def ndrl_category(self, exam_name: str) -> str | None:
        return next((r.ndrl_category for r in self.rules if r.exam_name == exam_name), None)

    @property
    def exam_names(self) -> list[str]:
        return list(dict.fromkeys(rule.exam_name for rule in self.rules))


class UnmappedTally:
    """Counts of names that a mapping did not cover, per kind (exam_name, institution, station)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def add(self, kind: str, name: str | None) -> None:
        if name and name.strip():
            self.counts[(kind, name.strip())] += 1

    def rows(self) -> list[dict[str, object]]:
        return [
            {"kind": kind, "name": name[:128], "count": count}
            for (kind, name), count in sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        ]

    def distinct(self, kind: str) -> int:
        return sum(1 for (k, _n) in self.counts if k == kind)
