"""Free-text PHI scanning: the per-patient deny list first, then presidio's generic recognizers.

One :class:`PhiScanner` per process (building its presidio analyzer, in ``phi_recognizers``, is
costly). Generic recognizer results are cached per distinct string (descriptions repeat across
thousands of instances). The per-patient deny list (``deny_list``) runs first, so the generic
recognizers see ``CT HEAD for [PERSON]``: the same string for every patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from resources.deid.deny_list import DenyList
from resources.deid.phi_recognizers import build_analyzer
from resources.deid.text_spans import Span, merge_spans, replace_spans

_GENERIC_CACHE_SIZE = 20_000
_SCORE_THRESHOLD = 0.5


@dataclass(frozen=True)
class ScrubResult:
    """Scrubbed text and the spans replaced in it (entity types and scores, never the source text)."""

    text: str
    spans: tuple[Span, ...]


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
