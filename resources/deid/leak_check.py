"""Verification: search a de-identified dataset for every identifier value of its source.

Runs after de-identification over every element at every depth, including private tags and binary
values (decoded as Latin-1, which maps every byte to a character), coded items and SR text included.
The terms are the source's identifiers (``leak_terms``): full names, name components of four letters
or more, IDs, accession, birth date formats, address, phone, device serial numbers, and institution
names when the output does not retain institution identity (read from its own De-identification
Method Code Sequence). UI values are compared whole, since a digit-string patient ID can occur by chance
inside a 39-digit HMAC UID. Not searched: code strings (CS: Image Type "PERFUSION", SR value type
"TEXT"), numbers, pixel data, the engine's own marks and replacement text. A code of a local scheme has
its Code Value and Code Meaning searched like any text; the meaning of a standard-scheme code
(dictionary text) only for the strong terms, so a surname that is also a word ("Head") passes there.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRBigEndian

from resources.deid.coded_items import CODE_MEANING, LOCAL_CODE_TEXT_TAGS, coding_scheme_of, is_local_scheme
from resources.deid.deny_list import Identifiers
from resources.deid.element_values import raw_vr
from resources.deid.leak_terms import LeakTerms, leak_terms_for
from resources.deid.tag_paths import tag_label

# Code Value, Coding Scheme Designator/Version, Code Meaning, Context Identifier, Mapping Resource,
# URN/Long Code Value: searched per coded item (by its scheme), never as plain text.
STRUCTURAL_CODE_TAGS = frozenset(
    {0x00080100, 0x00080102, 0x00080104, 0x00080103, 0x0008010F, 0x00080105, 0x00080119, 0x00080120}
)
# What the engine itself writes (method codes and text naming the profile options), not source content.
_ENGINE_MARKS = frozenset({0x00120063, 0x00120064})
_METHOD_CODES = 0x00120064
_RETAIN_INSTITUTION_IDENTITY = "113112"  # DCM, PS3.16 CID 7050
# Numbers and code strings: no text a person typed.
_SKIPPED_VRS = frozenset(
    {"DS", "IS", "TM", "US", "SS", "UL", "SL", "FL", "FD", "AT", "UV", "SV", "OF", "OD", "OL", "OV", "CS"}
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


# Character sets pydicom decodes as Latin-1, and the tag of (0008,0005) as a little-endian file writes it.
_LATIN1_CHARSETS = frozenset({"", "ISO_IR 6", "ISO_IR 100", "ISO 2022 IR 6", "ISO 2022 IR 100"})
_CHARSET_TAG = b"\x08\x00\x05\x00"  # followed by "CS" (explicit VR) or the length (implicit VR)
_ESC = b"\x1b"


def institution_retained(dataset: Dataset) -> bool:
    """True when the output says (0012,0064) that Retain Institution Identity was applied."""
    codes = dataset.get(_METHOD_CODES)
    return codes is not None and any(
        str(item.get("CodeValue", "")) == _RETAIN_INSTITUTION_IDENTITY for item in codes.value or []
    )


def terms_for(dataset: Dataset, identifiers: Identifiers) -> LeakTerms:
    """The search terms for one output: the source's identifiers and the options the output declares."""
    return leak_terms_for(identifiers, institution_retained(dataset))


def encoded_may_leak(
    encoded: bytes, dataset: Dataset, identifiers: Identifiers, uids: frozenset[str]
) -> bool:
    """Fast screen of the encoded output: False only when no identifier occurs anywhere in its bytes.

    One pass per term over the whole file (read as Latin-1, and as UTF-8 unless one Latin-1 character
    set governs the whole file) instead of a walk over every element. It over-reports (code strings,
    standard codes, our own marks, terms followed by a letter), so a True answer is confirmed element
    by element with :func:`find_leaks`; a False answer is final. Datasets in other character sets, with
    escape sequences or big-endian lengths always take the element walk.
    """
    charsets = dataset.get("SpecificCharacterSet", "") or ""
    names = [str(v).strip() for v in (charsets if isinstance(charsets, list | MultiValue) else [charsets])]
    if any(name not in _BYTE_SEARCHABLE_CHARSETS for name in names) or _ESC in encoded:
        return True
    meta = getattr(dataset, "file_meta", None)
    if meta is None or meta.get("TransferSyntaxUID") == ExplicitVRBigEndian:
        return True
    if any(uid.encode() in encoded for uid in uids):
        return True
    terms = terms_for(dataset, identifiers)
    if terms.may_occur_in_file(encoded.decode("latin-1"), encoded):
        return True
    # The element walk reads text as pydicom decodes it: in a file whose only character set (the
    # top level's, with no other (0008,0005) inside) is Latin-1, that is the Latin-1 reading above.
    single_latin1 = all(name in _LATIN1_CHARSETS for name in names) and encoded.count(_CHARSET_TAG) <= 1
    return not single_latin1 and terms.may_occur_in_file(encoded.decode("utf-8", errors="replace"))


def find_leaks(
    dataset: Dataset, identifiers: Identifiers, *, uids: frozenset[str] = frozenset()
) -> list[LeakHit]:
    """Every place in ``dataset`` where a source identifier survives (tag paths, no values).

    ``uids`` are source UIDs that must not appear unchanged in the output.
    """
    hits: list[LeakHit] = []
    _walk(dataset, "", terms_for(dataset, identifiers), uids, hits)
    return hits


def _check_code(item: Dataset, prefix: str, scheme: str, terms: LeakTerms, hits: list[LeakHit]) -> None:
    local = is_local_scheme(scheme)
    for tag in LOCAL_CODE_TEXT_TAGS if local else (CODE_MEANING,):
        if tag not in item._dict:
            continue
        for text in _values(item[tag].value):
            found = terms.find_in_value(text, strong_only=not local)
            if found:
                hits.append(LeakHit(prefix + tag_label(tag), found[0].entity_type))
                break


def _walk(dataset: Dataset, prefix: str, terms: LeakTerms, uids: frozenset[str], hits: list[LeakHit]) -> None:
    scheme = coding_scheme_of(dataset)
    if scheme is not None:
        _check_code(dataset, prefix, scheme, terms, hits)
    for key in list(dataset.keys()):
        tag = int(key)
        vr = raw_vr(dataset, tag)
        if tag in _ENGINE_MARKS or vr in _SKIPPED_VRS or tag == 0x7FE00010 or tag in STRUCTURAL_CODE_TAGS:
            continue
        path = prefix + tag_label(tag)
        elem = dataset[key]
        if vr == "SQ":
            for index, item in enumerate(elem.value or []):
                _walk(item, f"{path}[{index}].", terms, uids, hits)
            continue
        if vr == "UI":
            if any(v.strip() in uids for v in _values(elem.value)):
                hits.append(LeakHit(path, "UID"))
            continue
        for text in _values(elem.value):
            found = terms.find_in_value(text)
            if found:
                hits.append(LeakHit(path, found[0].entity_type))
                break
