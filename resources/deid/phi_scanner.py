"""Free-text PHI scanning: the per-patient deny list first, then the generic recognizers.

One :class:`PhiScanner` per process (building its presidio analyzer, in ``phi_recognizers``, and its
name finder, in ``name_recognizers``, is costly). Generic results are cached per distinct string
(descriptions repeat across thousands of instances). The per-patient deny list (``deny_list``) runs
first, so the generic recognizers see ``CT HEAD for [PERSON]``: the same string for every patient.

The generic recognizers are two passes: the name finder (titles, context phrases, gazetteer; pure
Python, no model) and presidio's pattern recognizers. presidio runs only on strings one of its
recognizers could match: every date, phone, NHS, SSN, MRN and IPv4 pattern needs a decimal digit, an
e-mail address an ``@``, a URL a ``.`` and an IPv6 address a ``:``. Strings without any of them
("CT HEAD W/O CONTRAST") skip presidio's per-call cost (its tokeniser and a dozen recognizers) when
no spaCy NER model is named; with one, presidio sees every string.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import lru_cache

from resources.deid.deny_list import DenyList
from resources.deid.name_recognizers import NameFinder
from resources.deid.phi_recognizers import build_analyzer
from resources.deid.text_spans import Span, merge_spans, replace_spans

_GENERIC_CACHE_SIZE = 20_000
_SCORE_THRESHOLD = 0.5
# A character without which no presidio pattern recognizer can match (see the module docstring).
_PRESIDIO_GATE = re.compile(r"[\d@.:]")


@dataclass(frozen=True)
class ScrubResult:
    """Scrubbed text and the spans replaced in it (entity types and scores, never the source text)."""

    text: str
    spans: tuple[Span, ...]


@dataclass
class ScannerStats:
    """What the generic pass cost: distinct strings scanned, how many presidio saw, seconds spent."""

    distinct_strings: int = 0
    presidio_strings: int = 0
    seconds: float = 0.0

    @property
    def presidio_share(self) -> float:
        """The share of distinct strings presidio had to scan (0 when none was scanned)."""
        return self.presidio_strings / self.distinct_strings if self.distinct_strings else 0.0

    @property
    def seconds_per_string(self) -> float:
        """Mean cost of the generic pass per distinct string."""
        return self.seconds / self.distinct_strings if self.distinct_strings else 0.0


class PhiScanner:
    """Scrubs free text: deny list first (exact identifiers), then the cached generic recognizers.

    Parameters
    ----------
    spacy_model
        A spaCy NER model to add presidio's PERSON and LOCATION recognizer (must be installed).
    score_threshold
        presidio results below this score are ignored.
    find_names
        Run the model-free name recognizers (titles, context phrases, gazetteer); on by default.

    Raises
    ------
    OSError
        If ``spacy_model`` is named but not installed.
    resources.deid.errors.DeidSettingsError
        If the name gazetteer or the clinical vocabulary cannot be loaded.
    """

    def __init__(
        self,
        spacy_model: str | None = None,
        *,
        score_threshold: float = _SCORE_THRESHOLD,
        find_names: bool = True,
    ) -> None:
        self._analyzer = build_analyzer(spacy_model)
        self.score_threshold = score_threshold
        self.generic = lru_cache(maxsize=_GENERIC_CACHE_SIZE)(self._generic)
        self.spacy_model = spacy_model
        self.names: NameFinder | None = NameFinder() if find_names else None
        self.stats = ScannerStats()

    def _generic(self, text: str) -> tuple[Span, ...]:
        started = time.perf_counter()
        self.stats.distinct_strings += 1
        try:
            if not any(ch.isalnum() for ch in text):
                return ()
            found = self.names.find(text) if self.names is not None else []
            if self.spacy_model or _PRESIDIO_GATE.search(text):
                self.stats.presidio_strings += 1
                results = self._analyzer.analyze(
                    text=text, language="en", score_threshold=self.score_threshold
                )
                found.extend(Span(r.start, r.end, r.entity_type, round(float(r.score), 3)) for r in results)
            return tuple(found)
        finally:
            self.stats.seconds += time.perf_counter() - started

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
