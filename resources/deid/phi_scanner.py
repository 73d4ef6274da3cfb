"""Free-text PHI scanning: a per-patient deny list plus presidio pattern recognizers.

One :class:`PhiScanner` per process. Its presidio ``AnalyzerEngine`` is built with an explicit NLP
engine - a blank spaCy pipeline (tokeniser only) - so nothing is downloaded; a spaCy NER model is used
only when one is installed and named in the site config. Generic recognizer results are cached per
distinct string (descriptions repeat across thousands of instances). The per-patient deny list (names
and their variants, IDs, accession, birth date formats, address, phone) is a compiled regular
expression built from the source header, cached per identifier set, and applied separately.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer
    from presidio_analyzer.nlp_engine import NlpEngine
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

logger = logging.getLogger(__name__)

_GENERIC_CACHE_SIZE = 20_000
PHONE_REGIONS = ("GB", "US", "DE", "FR", "NL", "IE")
_SCORE_THRESHOLD = 0.5
# Presidio entity -> the placeholder written in place of the span.
GENERIC_ENTITIES = (
    "DATE_TIME",
    "PHONE_NUMBER",
    "EMAIL_ADDRESS",
    "URL",
    "IP_ADDRESS",
    "UK_NHS",
    "US_SSN",
    "MEDICAL_RECORD_NUMBER",
    "PERSON",
    "LOCATION",
)
_MRN_CONTEXT = (
    r"(?:MRN|M\.R\.N\.|hospital\s+(?:no|number)|patient\s+(?:id|no|number)"
    r"|record\s+(?:no|number)|NHS\s+(?:no|number)|RN|ID)"
)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    entity_type: str
    score: float


@dataclass(frozen=True)
class ScrubResult:
    text: str
    spans: tuple[Span, ...]


def _offline_email_recognizer() -> EntityRecognizer:
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    # presidio's e-mail check fetches the public suffix list from the internet on first use; the
    # snapshot bundled with tldextract is enough to tell a domain from a dotted word.
    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return bool(offline(pattern_text).fqdn)

    return OfflineEmailRecognizer()


def _digit_gated_phone_recognizer(regions: tuple[str, ...]) -> PhoneRecognizer:
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    class DigitGatedPhoneRecognizer(PhoneRecognizer):
        """presidio's phone recognizer, not run on text without a digit (most descriptions).

        ``phonenumbers`` accepts a candidate only with at least two decimal digits (its
        VALID_PHONE_NUMBER pattern), so text without any digit character cannot hold a phone number;
        its matcher costs more than every other recognizer together.
        """

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            if not any(char.isdigit() for char in text):
                return []
            return list(super().analyze(text, entities, nlp_artifacts))

    return DigitGatedPhoneRecognizer(supported_regions=regions)


def _build_nlp_engine(spacy_model: str | None) -> NlpEngine:
    import spacy
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": spacy_model or "blank"}])
    # Set the pipeline ourselves instead of load(): load() downloads a missing model from the internet.
    engine.nlp = {"en": spacy.load(spacy_model) if spacy_model else spacy.blank("en")}  # type: ignore[assignment]
    return engine


def build_analyzer(spacy_model: str | None = None) -> AnalyzerEngine:
    """A presidio ``AnalyzerEngine`` that needs no network: pattern recognizers (+ NER if a model is named).

    Raises
    ------
    OSError
        If ``spacy_model`` is named but not installed (spaCy's own error).
    """
    # presidio logs its device and every recognizer it loads at INFO: noise for one scanner per process.
    logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.predefined_recognizers import (
        DateRecognizer,
        IpRecognizer,
        NhsRecognizer,
        SpacyRecognizer,
        UrlRecognizer,
        UsSsnRecognizer,
    )

    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (
        DateRecognizer(),
        _offline_email_recognizer(),
        IpRecognizer(),
        NhsRecognizer(),
        _digit_gated_phone_recognizer(PHONE_REGIONS),
        UrlRecognizer(),
        UsSsnRecognizer(),
    ):
        registry.add_recognizer(recognizer)
    registry.add_recognizer(
        PatternRecognizer(
            supported_entity="MEDICAL_RECORD_NUMBER",
            name="MrnNearContextRecognizer",
            patterns=[
                Pattern(
                    "mrn_after_context_word",
                    rf"(?i)\b{_MRN_CONTEXT}\s*[:#.]?\s*[A-Z]{{0,3}}\d{{5,12}}\b",
                    0.8,
                )
            ],
        )
    )
    if spacy_model:
        registry.add_recognizer(SpacyRecognizer(supported_entities=["PERSON", "LOCATION"]))
    return AnalyzerEngine(
        registry=registry, nlp_engine=_build_nlp_engine(spacy_model), supported_languages=["en"]
    )


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
    """

    def __init__(self, identifiers: Identifiers) -> None:
        terms = identifiers.literal_terms()
        self._entity_of = {term.lower(): entity for term, entity in terms.items()}
        self._terms = tuple(self._entity_of)
        self._phone_alternatives = [p for p in (phone_pattern(v) for v in identifiers.phones) if p]
        self._phone: re.Pattern[str] | None = None
        self._pattern = ""
        self._regex_any_case: re.Pattern[str] | None = None  # compiled when first needed (rare)

    def _word_pattern(self) -> str:
        if not self._pattern:
            self._pattern = r"(?<![^\W_])" + trie_pattern(self._entity_of) + r"(?![^\W_])"
        return self._pattern

    def _term_matches(self, lowered: str) -> list[tuple[int, int]]:
        longest: dict[int, int] = {}  # start -> end of the longest bounded term there
        size = len(lowered)
        for term in self._terms:
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

    def find(self, text: str) -> list[Span]:
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
        phone = self._phone_regex()
        if phone is not None:
            spans.extend(Span(m.start(), m.end(), "PHONE_NUMBER", 1.0) for m in phone.finditer(text))
        return spans


@lru_cache(maxsize=256)
def deny_list_for(identifiers: Identifiers) -> DenyList:
    """Deny lists are cached: the instances of one study share one identifier set."""
    return DenyList(identifiers)


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            if span.end > last.end:
                merged[-1] = Span(last.start, span.end, last.entity_type, max(last.score, span.score))
            continue
        merged.append(span)
    return merged


def replace_spans(text: str, spans: list[Span]) -> str:
    out = []
    position = 0
    for span in spans:
        out.append(text[position : span.start])
        out.append(f"[{span.entity_type}]")
        position = span.end
    out.append(text[position:])
    return "".join(out)


class PhiScanner:
    """Scrubs free text: deny list first (exact identifiers), then cached presidio generic recognizers."""

    def __init__(self, spacy_model: str | None = None, *, score_threshold: float = _SCORE_THRESHOLD) -> None:
        self._analyzer = build_analyzer(spacy_model)
        self.score_threshold = score_threshold
        self.generic = lru_cache(maxsize=_GENERIC_CACHE_SIZE)(self._generic)
        self.spacy_model = spacy_model

    def _generic(self, text: str) -> tuple[Span, ...]:
        if not any(ch.isalnum() for ch in text):
            return ()
        results = self._analyzer.analyze(text=text, language="en", score_threshold=self.score_threshold)
        return tuple(Span(r.start, r.end, r.entity_type, round(float(r.score), 3)) for r in results)

    def scrub(self, text: str, deny_list: DenyList | None) -> ScrubResult:
        """Replace every identifier span with ``[ENTITY]``; the spans say what was found (no text).

        The deny list runs first, so the generic recognizers see ``CT HEAD for [PERSON]``: the same
        string for every patient, which is what makes their per-string cache effective.
        """
        denied: tuple[Span, ...] = ()
        if deny_list is not None:
            found = deny_list.find(text)
            if found:
                denied = tuple(merge_spans(found))
                text = replace_spans(text, list(denied))
        generic = self.generic(text)
        if not generic:
            return ScrubResult(text, denied)
        merged = merge_spans(generic)
        return ScrubResult(replace_spans(text, merged), denied + tuple(merged))
