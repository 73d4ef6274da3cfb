"""The per-patient deny list: every identifier of a source header, in the forms people type it.

:class:`Identifiers` holds what identifies the patient and study in one source header (gathered by
``identifier_collection``). :class:`DenyList` turns them into literal terms - names and their variants,
IDs and accession numbers, the birth date in fifteen formats, address parts, phone numbers - and finds
them in any text, case-insensitively and word-bounded. The scrubber and the leak check use the same
matcher, cached per identifier set (the instances of one study share one).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from resources.deid.text_spans import Span

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def birth_date_variants(value: str) -> list[str]:
    """A DA birth date in the formats people type it in free text."""
    try:
        day = dt.datetime.strptime(value.strip(), "%Y%m%d").date()
    except ValueError:
        return [value.strip()] if value.strip() else []
    d, m, y = day.day, day.month, day.year
    month = _MONTHS[m - 1]
    return [
        f"{y:04d}{m:02d}{d:02d}",
        f"{y:04d}-{m:02d}-{d:02d}",
        f"{y:04d}/{m:02d}/{d:02d}",
        f"{d:02d}/{m:02d}/{y:04d}",
        f"{m:02d}/{d:02d}/{y:04d}",
        f"{d}/{m}/{y}",
        f"{m}/{d}/{y}",
        f"{d:02d}.{m:02d}.{y:04d}",
        f"{d:02d}-{m:02d}-{y:04d}",
        f"{d} {month} {y}",
        f"{d} {month[:3]} {y}",
        f"{month} {d}, {y}",
        f"{month[:3]} {d}, {y}",
        f"{d:02d}{month[:3]}{y}",
        f"{d:02d}/{m:02d}/{y % 100:02d}",
    ]


def name_variants(name: str) -> list[str]:
    """A PN value's variants: components split on ^, = and spaces, full forms, initials with surname."""
    groups = [g for g in name.split("=") if g.strip()]
    out: set[str] = set()
    for group in groups:
        components = [c.strip() for c in group.split("^")]
        family = components[0] if components else ""
        given = components[1] if len(components) > 1 else ""
        words = [w for c in components for w in re.split(r"[\s,]+", c) if w]
        out.update(w for w in words if len(w.strip(".")) >= 2)
        full = " ".join(w for w in words)
        if full:
            out.add(full)
        if family and given:
            out.update({f"{given} {family}", f"{family} {given}", f"{family}, {given}", f"{family},{given}"})
            for given_word in given.split():
                initial = given_word[0]
                out.update(
                    {
                        f"{initial} {family}",
                        f"{initial}. {family}",
                        f"{initial}.{family}",
                        f"{family} {initial}",
                        f"{family}, {initial}",
                    }
                )
    return sorted(out)


def phone_pattern(value: str) -> str | None:
    """A pattern for a phone number's digits with any separators between them; None below six digits."""
    digits = re.sub(r"\D", "", value)
    if len(digits) < 6:
        return None
    return r"[\s\-().+]*".join(re.escape(d) for d in digits)


@dataclass(frozen=True)
class Identifiers:
    """What identifies the patient and study in one source header (never logged)."""

    names: frozenset[str] = frozenset()
    ids: frozenset[str] = frozenset()
    birth_dates: frozenset[str] = frozenset()
    addresses: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()

    def literal_terms(self) -> dict[str, str]:
        """``{term: entity type}`` for every literal the deny list and the leak check look for."""
        terms: dict[str, str] = {}
        for name in self.names:
            for variant in name_variants(name):
                terms.setdefault(variant, "PERSON")
        for value in self.ids:
            if len(value.strip()) >= 3:
                terms.setdefault(value.strip(), "ID")
        for value in self.birth_dates:
            for variant in birth_date_variants(value):
                terms.setdefault(variant, "BIRTH_DATE")
        for value in self.addresses:
            for part in re.split(r"[\^,\n]+", value):
                if len(part.strip()) >= 4:
                    terms.setdefault(part.strip(), "LOCATION")
        for value in self.phones:
            if value.strip():
                terms.setdefault(value.strip(), "PHONE_NUMBER")
        return terms


# A word as the deny list bounds it: a maximal run of letters and digits (str.isalnum).
_WORD = re.compile(r"[^\W_]+")
_DIGIT = re.compile(r"\d")
# IDs of digits only (NHS numbers, numeric MRNs) are also found with separators between the digits.
_NUMERIC_ID = re.compile(r"\d{6,}")
_REGEX_SPECIAL = frozenset("\\.^$*+?{}[]|()#&~- \t\n\r\v\f")


def _escape(char: str) -> str:
    # re.escape per character is a third of the cost of building a deny list.
    return "\\" + char if char in _REGEX_SPECIAL else char


def trie_pattern(words: Iterable[str]) -> str:
    """One regular expression matching any of ``words``, as a character trie.

    Python's ``re`` tries every alternative of ``a|b|c`` at every position; a trie shares prefixes,
    so most positions fail after one character. That is what makes searching a whole encoded file
    for a hundred identifier variants cheap.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        ends_here = "" in node
        branches = [_escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends_here else body

    return build(trie)


class DenyList:
    """One case-insensitive matcher for a patient/study's identifiers (word-bounded).

    Terms are looked up with ``str.find`` in the lower-cased text instead of a compiled regular
    expression: compiling the trie pattern of a study's identifiers costs more than searching all of
    its files. :meth:`find` returns exactly what the word-bounded trie pattern (:meth:`_word_pattern`,
    kept for text whose length changes when lower-cased) finds with ``finditer``: at each position
    from the left, the longest term whose neighbours are not letters or digits (``str.isalnum``, what
    ``[^\\W_]`` means), then on after its end. A test compares the two.

    Only the terms that can match are searched: a bounded match starts and ends at word boundaries
    and its own separators bound the words inside it, so each word (maximal run of letters and digits)
    of a matched term is a whole word of the text. A term is tried only when its first word is one
    of the text's words; one ``findall`` over the text replaces a ``str.find`` per term (most texts
    hold no identifier, and a study has a hundred terms).
    """

    def __init__(self, identifiers: Identifiers, extra_terms: Mapping[str, str] | None = None) -> None:
        terms = identifiers.literal_terms()
        for term, entity in (extra_terms or {}).items():
            terms.setdefault(term, entity)
        self._entity_of = {term.lower(): entity for term, entity in terms.items()}
        self._terms = tuple(self._entity_of)
        by_first_word: dict[str, list[str]] = {}
        wordless: list[str] = []
        for term in self._terms:
            first = _WORD.search(term)
            if first is None:
                wordless.append(term)
            else:
                by_first_word.setdefault(first.group(0), []).append(term)
        self._terms_by_first_word = {word: tuple(terms) for word, terms in by_first_word.items()}
        self._wordless_terms = tuple(wordless)
        self._phone_alternatives = [p for p in (phone_pattern(v) for v in identifiers.phones) if p]
        self._phone: re.Pattern[str] | None = None
        # A numeric ID typed with separators ("NHS 943 476 5919"): its digits with any separators
        # (the NHS number in a comment would otherwise make each patient's comment a new string).
        self._spaced_id_alternatives = [
            p for p in (phone_pattern(v) for v in identifiers.ids if _NUMERIC_ID.fullmatch(v.strip())) if p
        ]
        self._spaced_id: re.Pattern[str] | None = None
        self._pattern = ""
        self._regex_any_case: re.Pattern[str] | None = None  # compiled when first needed (rare)

    def _word_pattern(self) -> str:
        if not self._pattern:
            self._pattern = r"(?<![^\W_])" + trie_pattern(self._entity_of) + r"(?![^\W_])"
        return self._pattern

    def _term_matches(self, lowered: str) -> list[tuple[int, int]]:
        longest: dict[int, int] = {}  # start -> end of the longest bounded term there
        size = len(lowered)
        candidates = list(self._wordless_terms)
        for word in self._terms_by_first_word.keys() & set(_WORD.findall(lowered)):
            candidates.extend(self._terms_by_first_word[word])
        for term in candidates:
            start = lowered.find(term)
            while start != -1:
                end = start + len(term)
                if (
                    end > longest.get(start, -1)
                    and (start == 0 or not lowered[start - 1].isalnum())
                    and (end == size or not lowered[end].isalnum())
                ):
                    longest[start] = end
                start = lowered.find(term, start + 1)
        matches: list[tuple[int, int]] = []
        position = 0
        for start in sorted(longest):
            if start >= position:
                position = longest[start]
                matches.append((start, position))
        return matches

    def _phone_regex(self) -> re.Pattern[str] | None:
        if self._phone is None and self._phone_alternatives:
            self._phone = re.compile(r"(?<!\d)(?:" + "|".join(self._phone_alternatives) + r")(?!\d)")
        return self._phone

    def _spaced_id_regex(self) -> re.Pattern[str] | None:
        if self._spaced_id is None and self._spaced_id_alternatives:
            alternatives = "|".join(self._spaced_id_alternatives)
            self._spaced_id = re.compile(r"(?<![^\W_])(?:" + alternatives + r")(?![^\W_])")
        return self._spaced_id

    def find(self, text: str) -> list[Span]:
        """Every identifier in ``text``, leftmost-longest and word-bounded, plus phone numbers."""
        spans: list[Span] = []
        if self._terms:
            lowered = text.lower()
            if len(lowered) == len(text):
                for start, end in self._term_matches(lowered):
                    entity = self._entity_of.get(lowered[start:end], "PERSON")
                    spans.append(Span(start, end, entity, 1.0))
            else:  # a character changes length when lower-cased (rare): offsets differ, regex on the text
                if self._regex_any_case is None:
                    self._regex_any_case = re.compile(self._word_pattern(), re.IGNORECASE)
                for match in self._regex_any_case.finditer(text):
                    entity = self._entity_of.get(match.group(0).lower(), "PERSON")
                    spans.append(Span(match.start(), match.end(), entity, 1.0))
        if (self._phone_alternatives or self._spaced_id_alternatives) and _DIGIT.search(text):
            phone, spaced_id = self._phone_regex(), self._spaced_id_regex()
            if phone is not None:
                spans.extend(Span(m.start(), m.end(), "PHONE_NUMBER", 1.0) for m in phone.finditer(text))
            if spaced_id is not None:  # word-bounded like a term; without separators it is the term
                covered = {(span.start, span.end) for span in spans}
                spans.extend(
                    Span(m.start(), m.end(), "ID", 1.0)
                    for m in spaced_id.finditer(text)
                    if not m.group(0).isdigit() and (m.start(), m.end()) not in covered
                )
        return spans


@lru_cache(maxsize=256)
def deny_list_for(identifiers: Identifiers, *, scrub_institutions: bool = False) -> DenyList:
    """Deny lists are cached: the instances of one study share one identifier set.

    ``scrub_institutions``: the source's institution names (``identifiers.institutions`` when it
    carries them) are scrubbed from kept text too, as the header attributes are cleaned when the
    output does not retain institution identity. Without it such a name typed into a description
    would be caught only by the blocking leak check, and the whole instance quarantined.
    """
    institutions = getattr(identifiers, "institutions", ()) if scrub_institutions else ()
    return DenyList(identifiers, {v.strip(): "ORGANIZATION" for v in institutions if v.strip()})
