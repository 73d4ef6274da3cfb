"""Spans of identifying text found in a value, and how they are merged and replaced.

A span says where an entity was found and how sure the finder was; it never holds the text itself,
so spans can go into findings and logs. Replacement writes ``[ENTITY]`` in place of each span.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """One identifying stretch ``text[start:end]`` of an entity type, with the finder's score."""

    start: int
    end: int
    entity_type: str
    score: float


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Overlapping spans merged into one (the first's entity type, the higher score), in text order."""
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
    """``text`` with each of the ordered, non-overlapping ``spans`` replaced by ``[ENTITY]``."""
    out = []
    position = 0
    for span in spans:
        out.append(text[position : span.start])
        out.append(f"[{span.entity_type}]")
        position = span.end
    out.append(text[position:])
    return "".join(out)
