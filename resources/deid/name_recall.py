"""How well the scanner's generic pass finds names, and what clinical text it destroys doing so.

Measured without the per-patient deny list, so the names count as ones no header field lists:

* **recall on planted names** - of the (value, name) pairs planted in free text, the share whose
  scrubbed value keeps no word of the name;
* **clinical-word loss** - of the words of the radiology vocabulary (``clinical_vocabulary``) in the
  descriptions, the share that fall inside a replaced span;
* **other-word loss** - the same over every word of the descriptions that is not part of a planted
  identifier, a wider net than the vocabulary the recognizers are tuned with.

The corpus side (which values were planted, which descriptions exist) is the caller's: this engine
does not import the corpus generator.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from resources.deid.clinical_vocabulary import clinical_words
from resources.deid.phi_scanner import PhiScanner

_WORD = re.compile(r"[A-Za-z][A-Za-z']+")
_FREE_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC"})
# A planted identifier that is a person's name as free text writes it: two words or more, letters only.
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z'\-]*(?: [A-Za-z][A-Za-z'\-]*)+")


@dataclass(frozen=True)
class NameMeasure:
    """Counts behind the three rates (see the module docstring)."""

    planted: int
    caught: int
    clinical_words: int
    clinical_lost: int
    other_words: int
    other_lost: int

    @property
    def recall(self) -> float:
        return self.caught / self.planted if self.planted else 1.0

    @property
    def clinical_loss(self) -> float:
        return self.clinical_lost / self.clinical_words if self.clinical_words else 0.0

    @property
    def other_loss(self) -> float:
        return self.other_lost / self.other_words if self.other_words else 0.0


def _keeps_word(text: str, word: str) -> bool:
    return re.search(rf"(?i)(?<![A-Za-z]){re.escape(word)}(?![A-Za-z])", text) is not None


def measure_names(
    scanner: PhiScanner,
    planted_names: Iterable[tuple[str, str]],
    descriptions: Iterable[str],
    identifier_words: Iterable[str] = (),
) -> NameMeasure:
    """Recall on ``planted_names`` (value, name) and word loss over the distinct ``descriptions``.

    ``identifier_words`` are left out of the other-word count (they should be replaced).
    """
    pairs = set(planted_names)
    caught = 0
    for value, name in pairs:
        scrubbed = scanner.scrub(value, None).text
        if not any(_keeps_word(scrubbed, word) for word in _WORD.findall(name)):
            caught += 1
    vocabulary = clinical_words()
    excluded = {word.lower() for word in identifier_words}
    clinical_total = clinical_lost = other_total = other_lost = 0
    for text in set(descriptions):
        spans = scanner.generic(text)
        for match in _WORD.finditer(text):
            word = match.group(0).lower()
            lost = any(span.start < match.end() and match.start() < span.end for span in spans)
            if word in vocabulary:
                clinical_total += 1
                clinical_lost += lost
            elif word not in excluded:
                other_total += 1
                other_lost += lost
    return NameMeasure(len(pairs), caught, clinical_total, clinical_lost, other_total, other_lost)


def planted_names(planted_phi: Iterable[Mapping[str, Any]]) -> Iterator[tuple[str, str]]:
    """(value, name) for every person's name planted inside free text, from a corpus manifest's entries.

    A value counts when it is longer than the name (the name is inside other text) and the name is
    written plainly ("SMITH JOHN", not "SMITH^JOHN").
    """
    for entry in planted_phi:
        value = str(entry["value"])
        for identifier in entry.get("identifiers", ()):
            if _PLAIN_NAME.fullmatch(identifier) and identifier in value and value != identifier:
                yield value, identifier


def descriptions_of(datasets: Iterable[Dataset]) -> Iterator[str]:
    """Every free-text value (LO, SH, LT, ST, UT, UC) of the standard elements, at every depth."""
    for ds in datasets:
        for elem in ds.iterall():
            if elem.tag.is_private or elem.VR not in _FREE_TEXT_VRS or not elem.value:
                continue
            values = elem.value if isinstance(elem.value, MultiValue | list) else [elem.value]
            yield from (str(value) for value in values if value)
