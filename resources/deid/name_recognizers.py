"""Names of people in free text that no header field lists, found without any NLP model.

"discussed with Dr Okafor on ward 7", "also told Rosalind Pike", "CT HEAD for NOWAK TOMASZ": presidio
with a blank spaCy pipeline finds none of these. :class:`NameFinder` tokenises the text once and
classes each capitalised word:

* *name* - a given name or surname of the gazetteer (``name_gazetteer``) that is no radiology or
  common English word;
* *ambiguous* - in the gazetteer but also such a word ("Walker", "Will", "Ward");
* *unknown* - capitalised, in neither list ("Okafor");
* *initial* - one capital letter, with or without a full stop;
* anything else (a word of ``clinical_vocabulary.stop_words``, a lower-case word) ends a run.

Adjacent words (separated by spaces, a comma or ``^``) of the first four classes form a run, and a
run is a person's name when

1. it follows a title (Dr, Mr, Mrs, Ms, Miss, Prof, Sister, Nurse...) or a context phrase ("seen by",
   "discussed with", "told", "per", "reported by", "d/w", "c/o", "Pt"...);
2. it follows a weak context word ("for", "with") and has two words or more; or
3. it has two words or more and one of them is a *name*: a gazetteer hit alone needs a capital
   initial and a neighbouring name-like word or a context word before it; or
4. it is an initial with its full stop before a capitalised word ("J. Fairbairn").

Without context, a run is first trimmed of ambiguous words and bare capitals at its ends ("AP + C
SMITH JOHN", "STONE SMITH JOHN") while two words remain, and a pair with an ambiguous word must be a
given name and a surname ("WALKER AMELIA" is a name, "STONE DAVIES" is not). Only the run is replaced,
so "Dr [PERSON]" keeps its title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from resources.deid.clinical_vocabulary import stop_words
from resources.deid.name_gazetteer import NameGazetteer, load_gazetteer
from resources.deid.text_spans import Span

ENTITY = "PERSON"
SCORE = 0.85
_MAX_RUN = 4
TITLES = frozenset(
    {"dr", "doctor", "mr", "mrs", "ms", "miss", "mx", "prof", "professor", "sister", "nurse", "matron"}
    | {"sir", "dame", "lady", "lord", "rev", "revd"}
)
_CONTEXT_PHRASES = (
    "seen by",
    "discussed with",
    "discussed w",
    "d/w",
    "dw",
    "c/o",
    "care of",
    "told",
    "per",
    "reported by",
    "reviewed by",
    "referred by",
    "requested by",
    "verified by",
    "dictated by",
    "informed",
    "called",
    "phoned",
    "spoke to",
    "spoke with",
    "spoken to",
    "lives with",
    "attn",
    "fao",
    "nok",
    "next of kin",
    "pt",
    "patient",
    "consultant",
    "wife",
    "husband",
    "partner",
    "son",
    "daughter",
    "mother",
    "father",
)
_WEAK_CONTEXT = ("for", "with")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z']*(?:-[A-Za-z][A-Za-z']*)*")
# What may stand between two words of one name: spaces, an initial's full stop, a comma, a caret.
_JOIN = re.compile(r"\.?[ \t]*[,^]?[ \t]*")
_CONTEXT_ALTERNATIVES = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in _CONTEXT_PHRASES)
_STRONG = re.compile(r"(?i)(?<![A-Za-z])(?:" + _CONTEXT_ALTERNATIVES + r")\W*$")
_WEAK = re.compile(r"(?i)(?<![A-Za-z])(?:" + "|".join(_WEAK_CONTEXT) + r")\s+$")
# Entity labels written by earlier passes ("[PERSON]", "[BIRTH_DATE]") are never names.
_LABEL = re.compile(r"\[[A-Z_]+\]")

NAME, AMBIGUOUS, UNKNOWN, INITIAL, OTHER = range(5)


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    kind: int


class NameFinder:
    """Finds person names in free text by title, context phrase and gazetteer (see the module doc)."""

    def __init__(self, gazetteer: NameGazetteer | None = None, stop: frozenset[str] | None = None) -> None:
        self.gazetteer = gazetteer or load_gazetteer()
        self.stop = (stop if stop is not None else stop_words()) | TITLES
        self._names = self.gazetteer.given | self.gazetteer.family

    def _kind(self, word: str) -> int:
        if not word[0].isupper():
            return OTHER
        if len(word) == 1:
            return INITIAL
        lowered = word.lower()
        if lowered.endswith("'s"):
            lowered = lowered[:-2]
        parts = lowered.split("-") if "-" in lowered else (lowered,)
        in_gazetteer = lowered in self._names or any(part in self._names for part in parts)
        # "C-SPINE" is a clinical word: one stop-listed part is enough to stop a hyphenated word.
        stopped = lowered in self.stop or any(part in self.stop for part in parts)
        if in_gazetteer:
            return AMBIGUOUS if stopped else NAME
        return OTHER if stopped else UNKNOWN

    def find(self, text: str) -> list[Span]:
        """The spans of person names in ``text`` (entity ``PERSON``), in text order."""
        if not any(char.isupper() for char in text):
            return []
        tokens = [_Token(m.start(), m.end(), self._kind(m.group(0))) for m in _TOKEN.finditer(text)]
        if "[" in text:
            labels = [(m.start(), m.end()) for m in _LABEL.finditer(text)]
            tokens = [
                _Token(t.start, t.end, OTHER) if any(a <= t.start < b for a, b in labels) else t
                for t in tokens
            ]
        spans: list[Span] = []
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if token.kind == OTHER:
                index += 1
                continue
            run = [token]
            while (
                len(run) < _MAX_RUN
                and index + len(run) < len(tokens)
                and tokens[index + len(run)].kind != OTHER
                and _JOIN.fullmatch(text, run[-1].end, tokens[index + len(run)].start)
            ):
                run.append(tokens[index + len(run)])
            named = self._named_part(text, run, tokens[index - 1] if index else None)
            if named:
                spans.append(Span(named[0].start, named[-1].end, ENTITY, SCORE))
            index += len(run)
        return spans

    def _named_part(self, text: str, run: list[_Token], before: _Token | None) -> list[_Token]:
        """The part of ``run`` that is a person's name; empty when it is none."""
        if all(token.kind == INITIAL for token in run):
            return []
        if self._after_context(text, run, before):
            return run
        # Without context, a bare capital before an upper-case name is more often a code ("AP + C
        # SMITH JOHN") than an initial, and a word that is also vocabulary ("STONE SMITH JOHN") more
        # often ends the description: both are trimmed while two words remain.
        while len(run) > 2 and (run[0].kind == AMBIGUOUS or _code_letter(text, run)):
            run = run[1:]
        while len(run) > 2 and run[-1].kind in (AMBIGUOUS, INITIAL):
            run = run[:-1]
        if len(run) < 2 or _code_letter(text, run):
            return []
        if _WEAK.search(text[max(0, run[0].start - 8) : run[0].start]):
            return run
        if run[0].kind == INITIAL and not text[run[1].start : run[1].end].isupper():
            return run  # "J. Fairbairn": an initial with its full stop before a capitalised word
        if not any(token.kind == NAME for token in run):
            return []
        if (
            len(run) == 2
            and AMBIGUOUS in (run[0].kind, run[1].kind)
            and not self._given_and_family(text, run)
        ):
            return []  # "STONE DAVIES": a vocabulary word before a surname is no given name
        return run

    def _given_and_family(self, text: str, pair: list[_Token]) -> bool:
        """True when the two words are a given name and a surname, in either order."""
        first, second = (text[t.start : t.end].lower() for t in pair)
        given, family = self.gazetteer.given, self.gazetteer.family
        return (first in given and second in family) or (first in family and second in given)

    @staticmethod
    def _after_context(text: str, run: list[_Token], before: _Token | None) -> bool:
        preceding = text[max(0, run[0].start - 24) : run[0].start]
        after_title = (
            before is not None
            and text[before.start : before.end].lower() in TITLES
            and _JOIN.fullmatch(text, before.end, run[0].start) is not None
        )
        return after_title or _STRONG.search(preceding) is not None


def _code_letter(text: str, run: list[_Token]) -> bool:
    """True when ``run`` starts with a lone capital (no full stop) before an upper-case word."""
    first, second = run[0], run[1]
    return (
        first.kind == INITIAL
        and text[first.end : first.end + 1] != "."
        and text[second.start : second.end].isupper()
    )
