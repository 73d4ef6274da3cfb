"""Body region of a study or series, from every piece of evidence, with the evidence and a confidence.

Evidence, strongest first: a CT dose SR's Target Region code (123014), the description texts (study and
series descriptions, protocol names), then Body Part Examined (0018,0015). Body Part Examined is wrong
in about 15% of studies (Gueld et al. 2002), so it never wins alone against clear description evidence:
when they disagree the descriptions decide and the confidence drops. The vocabulary and its codes
(DICOM CID 4031, SNOMED CT) live in ``body_regions.csv``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from resources.curation.data_files import DATA_FOLDER, compile_pattern, read_data_file, squeeze

logger = logging.getLogger(__name__)

BODY_REGIONS_CSV = DATA_FOLDER / "body_regions.csv"

# Confidence levels: what each combination of evidence is worth.
CONFIDENCE_SR_AND_TEXT = 0.98
CONFIDENCE_SR = 0.9
CONFIDENCE_TEXT_AND_BODY_PART = 0.95
CONFIDENCE_TEXT = 0.85
CONFIDENCE_TEXT_OVER_BODY_PART = 0.7
CONFIDENCE_MIXED_TEXT = 0.55
CONFIDENCE_BODY_PART = 0.5


@dataclass(frozen=True)
class Region:
    name: str
    code: str
    scheme: str
    display: str
    sr_codes: frozenset[tuple[str, str]]
    body_parts: frozenset[str]
    includes: frozenset[str]


@dataclass(frozen=True)
class BodyRegionResult:
    """The inferred region (``code`` is SNOMED CT) and how it was reached."""

    name: str
    code: str
    scheme: str
    display: str
    confidence: float
    evidence: tuple[str, ...]

    @property
    def evidence_text(self) -> str:
        return "; ".join(self.evidence)


class BodyRegionVocabulary:
    """The regions of ``body_regions.csv`` and the matchers built from them."""

    def __init__(self, path: Path = BODY_REGIONS_CSV) -> None:
        self.version, rows = read_data_file(path)
        self.regions: dict[str, Region] = {}
        self._patterns = []
        for line, row in enumerate(rows, start=2):
            codes = frozenset(
                (code.split(":", 1)[1], code.split(":", 1)[0])
                for code in row.get("sr_codes", "").split("|")
                if ":" in code
            )
            region = Region(
                name=row["name"],
                code=row["code"],
                scheme=row["scheme"] or "SCT",
                display=row["display"],
                sr_codes=codes | {(row["code"], row["scheme"] or "SCT")},
                body_parts=frozenset(squeeze(p) for p in row.get("body_parts", "").split("|") if p),
                includes=frozenset(p for p in row.get("includes", "").split("|") if p),
            )
            self.regions[region.name] = region
            if row.get("patterns"):
                self._patterns.append(
                    (region, compile_pattern(row["patterns"], where=f"{path.name} row {line}"))
                )
        self._by_code = {code: region for region in self.regions.values() for code in region.sr_codes}
        self._by_body_part = {part: region for region in self.regions.values() for part in region.body_parts}

    def from_text(self, text: str) -> Region | None:
        for region, pattern in self._patterns:
            if pattern.search(text):
                return region
        return None

    def from_body_part(self, body_part: str) -> Region | None:
        return self._by_body_part.get(squeeze(body_part))

    def from_code(self, code: str, scheme: str | None = None) -> Region | None:
        if scheme:
            return self._by_code.get((code, scheme.upper()))
        return next((r for (c, _s), r in self._by_code.items() if c == code), None)

    def agree(self, a: Region, b: Region) -> bool:
        """Same region, or one contains the other (ABDOMEN agrees with abdomen and pelvis)."""
        return a.name == b.name or b.name in a.includes or a.name in b.includes

    def infer(
        self,
        body_part_examined: str | None = None,
        descriptions: Iterable[str | None] = (),
        target_region: tuple[str, str] | str | None = None,
    ) -> BodyRegionResult | None:
        evidence: list[str] = []
        sr_region: Region | None = None
        if target_region:
            code, scheme = (target_region, None) if isinstance(target_region, str) else target_region
            sr_region = self.from_code(code, scheme)
            evidence.append(f"sr_target_region={code}" + ("" if sr_region else " (unknown code)"))

        text_regions: list[Region] = []
        for index, text in enumerate(descriptions):
            if not text:
                continue
            region = self.from_text(text)
            if region is not None:
                text_regions.append(region)
                evidence.append(f"description[{index}]->{region.name}")
        text_region = _consensus(text_regions, self)

        part_region = self.from_body_part(body_part_examined) if body_part_examined else None
        if body_part_examined:
            evidence.append(
                f"body_part_examined->{part_region.name}" if part_region else "body_part_examined unknown"
            )

        chosen: Region | None
        confidence: float
        if sr_region is not None:
            chosen = sr_region
            agrees = text_region is not None and self.agree(sr_region, text_region)
            confidence = CONFIDENCE_SR_AND_TEXT if agrees else CONFIDENCE_SR
        elif text_region is not None:
            chosen = text_region
            mixed = len({r.name for r in text_regions}) > 1 and not all(
                self.agree(text_region, r) for r in text_regions
            )
            if mixed:
                confidence = CONFIDENCE_MIXED_TEXT
                evidence.append("descriptions disagree")
            elif part_region is None:
                confidence = CONFIDENCE_TEXT
            elif self.agree(text_region, part_region):
                confidence = CONFIDENCE_TEXT_AND_BODY_PART
            else:
                confidence = CONFIDENCE_TEXT_OVER_BODY_PART
                evidence.append("body_part_examined contradicts descriptions")
        elif part_region is not None:
            chosen, confidence = part_region, CONFIDENCE_BODY_PART
        else:
            return None
        return BodyRegionResult(
            name=chosen.name,
            code=chosen.code,
            scheme=chosen.scheme,
            display=chosen.display,
            confidence=confidence,
            evidence=tuple(evidence),
        )


def _consensus(regions: list[Region], vocabulary: BodyRegionVocabulary) -> Region | None:
    """The region the descriptions point at: the widest region that every other one agrees with, else
    the most frequent (first seen on ties)."""
    if not regions:
        return None
    for candidate in sorted(regions, key=lambda r: -len(r.includes)):
        if all(vocabulary.agree(candidate, other) for other in regions):
            return candidate
    return Counter(regions).most_common(1)[0][0]


@cache
def default_vocabulary() -> BodyRegionVocabulary:
    return BodyRegionVocabulary()


def infer_body_region(
    body_part_examined: str | None = None,
    descriptions: Iterable[str | None] = (),
    target_region: tuple[str, str] | str | None = None,
) -> BodyRegionResult | None:
    """Infer the body region from Body Part Examined, description texts and a dose SR's target region.

    Parameters
    ----------
    body_part_examined
        Body Part Examined (0018,0015) as written, e.g. ``"CHEST"`` (may be wrong).
    descriptions
        Study/series descriptions and protocol names (already de-identified).
    target_region
        A CT dose SR's Target Region as ``(code value, coding scheme)`` or a bare code value.

    Returns
    -------
    BodyRegionResult or None
        None when no evidence names a known region.
    """
    return default_vocabulary().infer(body_part_examined, descriptions, target_region)
