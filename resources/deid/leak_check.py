"""Verification: search a de-identified dataset for every identifier value of its source.

Runs after de-identification over every element at every depth, including private tags and binary
values (decoded as Latin-1, which maps every byte to a character). UI values are compared whole, since
a digit-string patient ID can occur by chance inside a 39-digit HMAC UID; every other value is searched
for every identifier variant with the same case-insensitive, word-bounded matcher the scrubber uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from resources.deid.deny_list import DenyList, Identifiers, deny_list_for
from resources.deid.element_values import raw_vr
from resources.deid.tag_paths import tag_label

# Code Value, Coding Scheme Designator/Version, Code Meaning (dictionary text of the scheme), Context
# Identifier, Mapping Resource, URN/Long Code Value: coded values come from schemes, not from people.
STRUCTURAL_CODE_TAGS = frozenset(
    {0x00080100, 0x00080102, 0x00080104, 0x00080103, 0x0008010F, 0x00080105, 0x00080119, 0x00080120}
)
# What the engine itself writes (method codes and text naming the profile options), not source content.
_ENGINE_MARKS = frozenset({0x00120063, 0x00120064})
_NUMERIC_VRS = frozenset(
    {"DS", "IS", "TM", "US", "SS", "UL", "SL", "FL", "FD", "AT", "UV", "SV", "OF", "OD", "OL", "OV"}
)


@dataclass(frozen=True)
class LeakHit:
    tag_path: str
    entity_type: str


def _values(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, bytes | bytearray):
        return [bytes(value).decode("latin-1")]
    if isinstance(value, list | tuple | MultiValue):
        return [str(v) for v in value]
    return [str(value)]


# Character sets whose text a Latin-1 or UTF-8 reading of the encoded bytes shows as it is.
_BYTE_SEARCHABLE_CHARSETS = frozenset(
    {"", "ISO_IR 6", "ISO_IR 100", "ISO_IR 192", "ISO 2022 IR 6", "ISO 2022 IR 100"}
)


def encoded_may_leak(
    encoded: bytes, dataset: Dataset, identifiers: Identifiers, uids: frozenset[str]
) -> bool:
    """Fast screen of the encoded output: False only when no identifier occurs anywhere in its bytes.

    One regular-expression pass over the whole file (read as Latin-1 and as UTF-8) instead of a walk
    over every element. It over-reports (numbers, coded values, our own marks), so a True answer is
    confirmed element by element with :func:`find_leaks`; a False answer is final. Datasets in other
    character sets always take the element walk.
    """
    charsets = dataset.get("SpecificCharacterSet", "") or ""
    names = [str(v).strip() for v in (charsets if isinstance(charsets, list | MultiValue) else [charsets])]
    if any(name not in _BYTE_SEARCHABLE_CHARSETS for name in names):
        return True
    deny = deny_list_for(identifiers)
    for text in (encoded.decode("latin-1"), encoded.decode("utf-8", errors="replace")):
        if deny.find(text):
            return True
    return any(uid.encode() in encoded for uid in uids)


def find_leaks(
    dataset: Dataset, identifiers: Identifiers, *, uids: frozenset[str] = frozenset()
) -> list[LeakHit]:
    """Every place in ``dataset`` where a source identifier survives (tag paths, no values).

    ``uids`` are source UIDs that must not appear unchanged in the output.
    """
    deny = deny_list_for(identifiers)
    hits: list[LeakHit] = []
    _walk(dataset, "", deny, uids, hits)
    return hits


def _walk(dataset: Dataset, prefix: str, deny: DenyList, uids: frozenset[str], hits: list[LeakHit]) -> None:
    for key in list(dataset.keys()):
        tag = int(key)
        vr = raw_vr(dataset, tag)
        if tag in _ENGINE_MARKS or vr in _NUMERIC_VRS or tag == 0x7FE00010 or tag in STRUCTURAL_CODE_TAGS:
            continue
        path = prefix + tag_label(tag)
        elem = dataset[key]
        if vr == "SQ":
            for index, item in enumerate(elem.value or []):
                _walk(item, f"{path}[{index}].", deny, uids, hits)
            continue
        if vr == "UI":
            if any(v.strip() in uids for v in _values(elem.value)):
                hits.append(LeakHit(path, "UID"))
            continue
        for text in _values(elem.value):
            for span in deny.find(text):
                hits.append(LeakHit(path, span.entity_type))
                break
