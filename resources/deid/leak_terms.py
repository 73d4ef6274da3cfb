"""What the leak check searches the output for: each identifier of the source, in the forms that leak.

Built from the source's identifiers (``identifier_collection``): every full form of each person name
(components joined, initials with the family name) and each single name component of four letters or
more, IDs and accession numbers, the birth date in its typed formats, address parts, phone numbers
(digits with any separators), device serial numbers, and institution names unless the output retains
institution identity. Full forms, IDs, dates and the rest are *strong* terms; single name components
are *weak*: a word such as "Head" or "Text" may be a surname and common vocabulary at once, so weak
terms are not searched in the meanings of standard-scheme codes.

Matching is case-insensitive and word-bounded (a term's neighbours are not letters or digits), the same
rule as the scrubber's deny list. What the engine writes itself (``ANONYMIZED``, ``[PERSON]``-style
markers) is blanked before matching, and a source value equal to the engine's dummy is no identifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from resources.deid.deny_list import (
    Identifiers,
    birth_date_variants,
    name_variants,
    phone_pattern,
    trie_pattern,
)

_MIN_COMPONENT_LETTERS = 4
_MIN_ID = 3
_MIN_ADDRESS_PART = 4
# The engine's own replacement text: a dummy value and the scrubber's [ENTITY] markers.
_ENGINE_TEXT = re.compile(r"ANONYMIZED|\[[A-Z_]+\]")
_ENGINE_WORDS = frozenset({"anonymized"})
# What a phone number pattern allows between its digits (``deny_list.phone_pattern``: ``[\s\-().+]``),
# as the Latin-1 bytes that read as it.
_SEPARATOR_BYTES = bytes(b for b in range(256) if re.match(r"[\s\-().+]", chr(b)))


@dataclass(frozen=True)
class LeakMatch:
    """One source identifier found in a text (its entity type; never the text)."""

    start: int
    end: int
    entity_type: str


class LeakTerms:
    """The word-bounded, case-insensitive search for a source's identifiers in output text."""

    def __init__(self, identifiers: Identifiers, *, institution_retained: bool) -> None:
        strong: dict[str, str] = {}
        weak: dict[str, str] = {}
        for name in identifiers.names:
            for variant in name_variants(name):
                if re.search(r"[\s,.]", variant.strip(" .,")):
                    strong.setdefault(variant, "PERSON")
                elif sum(ch.isalpha() for ch in variant) >= _MIN_COMPONENT_LETTERS:
                    weak.setdefault(variant, "PERSON")
        for value in identifiers.ids:
            if len(value.strip()) >= _MIN_ID:
                strong.setdefault(value.strip(), "ID")
        for value in identifiers.birth_dates:
            for variant in birth_date_variants(value):
                strong.setdefault(variant, "BIRTH_DATE")
        for value in identifiers.addresses:
            for part in re.split(r"[\^,\n]+", value):
                if len(part.strip()) >= _MIN_ADDRESS_PART:
                    strong.setdefault(part.strip(), "LOCATION")
        for value in identifiers.phones:
            if value.strip():
                strong.setdefault(value.strip(), "PHONE_NUMBER")
        for value in getattr(identifiers, "serials", frozenset()):
            strong.setdefault(value.strip(), "DEVICE_SERIAL")
        if not institution_retained:
            for value in getattr(identifiers, "institutions", frozenset()):
                strong.setdefault(value.strip(), "ORGANIZATION")
        self._strong = {
            t.lower(): e for t, e in strong.items() if t.strip() and t.lower() not in _ENGINE_WORDS
        }
        self._weak = {
            t.lower(): e
            for t, e in weak.items()
            if t.lower() not in self._strong and t.lower() not in _ENGINE_WORDS
        }
        self._all = {**self._weak, **self._strong}
        phones = [p for p in (phone_pattern(v) for v in identifiers.phones) if p]
        self._phone = re.compile(r"(?<!\d)(?:" + "|".join(phones) + r")(?!\d)") if phones else None
        # Each phone number as its digits only: a match of its pattern is those digits with nothing
        # but separators between them, so the digits occur in the text with its separators deleted.
        # Only for digits Latin-1 can encode (None otherwise: the pattern is searched directly).
        digits = [re.sub(r"\D", "", v) for v in identifiers.phones if phone_pattern(v) is not None]
        self._phone_digits: tuple[bytes, ...] | None = (
            tuple(d.encode("latin-1") for d in digits) if all(_is_latin1(d) for d in digits) else None
        )
        self._regex: dict[bool, re.Pattern[str]] = {}

    def find(self, text: str, *, strong_only: bool = False) -> list[LeakMatch]:
        """Every identifier in ``text`` (weak name components too unless ``strong_only``)."""
        terms = self._strong if strong_only else self._all
        found: list[LeakMatch] = []
        lowered = text.lower()
        if len(lowered) == len(text):
            found.extend(_bounded_matches(lowered, terms))
        elif terms:  # a character changes length when lower-cased (rare): the regex on the text itself
            pattern = self._regex.get(strong_only)
            if pattern is None:
                body = trie_pattern(terms)
                pattern = re.compile(r"(?<![^\W_])" + body + r"(?![^\W_])", re.IGNORECASE)
                self._regex[strong_only] = pattern
            found.extend(
                LeakMatch(m.start(), m.end(), terms.get(m.group(0).lower(), "PERSON"))
                for m in pattern.finditer(text)
            )
        if self._phone is not None:
            found.extend(LeakMatch(m.start(), m.end(), "PHONE_NUMBER") for m in self._phone.finditer(text))
        return found

    def may_occur_in_file(self, text: str, latin1_bytes: bytes | None = None) -> bool:
        """Screen of a whole encoded file read as text: False only when no term occurs in any value.

        It over-reports on purpose, so a False answer is final: only a term's left neighbour is
        checked. A value's first character follows its length field, whose last byte is never a letter
        or digit in a little-endian file (a text value is far shorter than 12,288 bytes); its last
        character is followed by the next element's tag, whose first byte may read as one ("2" for
        group 0032, "T" for group 0054, "\u00fe" for an item tag), so a term at the end of an
        even-length value has no right boundary in the file although it has one in the value.
        The engine's dummy value is blanked as :meth:`find_in_value` blanks it. ``latin1_bytes``: the
        bytes ``text`` is the Latin-1 reading of, for a cheaper first screen of phone numbers.
        """
        if "ANONYMIZED" in text:
            text = text.replace("ANONYMIZED", " " * len("ANONYMIZED"))
        lowered = text.lower()
        if len(lowered) != len(text):
            return True  # a character changes length when lower-cased (rare): the element walk decides
        for term in self._all:
            start = lowered.find(term)
            while start != -1:
                if start == 0 or not lowered[start - 1].isalnum():
                    return True
                start = lowered.find(term, start + 1)
        if self._phone is None:
            return False
        if latin1_bytes is not None and self._phone_digits is not None:
            digits_only = latin1_bytes.translate(None, _SEPARATOR_BYTES)
            if not any(digits in digits_only for digits in self._phone_digits):
                return False
        return self._phone.search(text) is not None

    def find_in_value(self, text: str, *, strong_only: bool = False) -> list[LeakMatch]:
        """Like :meth:`find`, for one output value: the engine's own replacement text is not searched."""
        if "ANONYMIZED" in text or "[" in text:
            text = _ENGINE_TEXT.sub(lambda m: " " * len(m.group(0)), text)
        return self.find(text, strong_only=strong_only)


def _is_latin1(text: str) -> bool:
    return all(ord(ch) < 256 for ch in text)


def _bounded_matches(lowered: str, terms: dict[str, str]) -> list[LeakMatch]:
    size = len(lowered)
    found = []
    for term, entity in terms.items():
        start = lowered.find(term)
        while start != -1:
            end = start + len(term)
            before_ok = start == 0 or not lowered[start - 1].isalnum()
            if before_ok and (end == size or not lowered[end].isalnum()):
                found.append(LeakMatch(start, end, entity))
            start = lowered.find(term, start + 1)
    return found


@lru_cache(maxsize=256)
def leak_terms_for(identifiers: Identifiers, institution_retained: bool) -> LeakTerms:
    """Cached: the instances of one study share one identifier set."""
    return LeakTerms(identifiers, institution_retained=institution_retained)
