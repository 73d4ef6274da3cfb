"""SR TEXT items that identify a person, organisation, place or device, and the header attribute for each.

Real vendor dose SRs carry the institution's name (Device Observer Physical Location During
Observation, Organization Name in a person participant) and the device serial number (Device Serial
Number of a device participant) in TEXT items. Under Clean Structured Content such an item is treated
the way the matching header attribute is (``sr_text_concepts.csv``): a serial number gets the same
pseudonym as the header's Device Serial Number, an institution name follows Retain Institution
Identity, a person's name is replaced like Person Name. Every other TEXT item is scrubbed as free
text; NUM, CODE and UIDREF items are never changed here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pydicom.datadict
from pydicom.dataset import Dataset

from resources.deid.element_values import raw_text_values
from resources.deid.errors import ProfileTableError

SR_TEXT_CONCEPTS_CSV = Path(__file__).with_name("sr_text_concepts.csv")
CONCEPT_NAME_CODE_SEQUENCE = 0x0040A043
TEXT_VALUE = 0x0040A160
_CODE_VALUE = 0x00080100
_CODING_SCHEME_DESIGNATOR = 0x00080102
_COLLECT_KINDS = frozenset({"institution", "serial", "-"})


@dataclass(frozen=True)
class SrTextConcept:
    """One concept of the table: which header attribute's action applies to its TEXT value."""

    code_value: str
    scheme: str
    header_tag: int
    header_vr: str
    entity: str
    collect: str  # "institution", "serial" or "-"


@cache
def sr_text_concepts(path: Path = SR_TEXT_CONCEPTS_CSV) -> dict[tuple[str, str], SrTextConcept]:
    """``{(code value, scheme upper case): concept}`` from the table.

    Raises
    ------
    ProfileTableError
        If the file is missing, or a row names an unknown header keyword or collect kind.
    """
    if not path.exists():
        raise ProfileTableError(f"{path.name}: the SR text concept table is missing")
    out: dict[tuple[str, str], SrTextConcept] = {}
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            keyword = row["header_keyword"].strip()
            tag = pydicom.datadict.tag_for_keyword(keyword)
            if tag is None or row["collect"].strip() not in _COLLECT_KINDS:
                raise ProfileTableError(f"{path.name}: bad row for concept {row['code_value']} ({keyword})")
            concept = SrTextConcept(
                row["code_value"].strip(),
                row["scheme"].strip().upper(),
                int(tag),
                str(pydicom.datadict.dictionary_VR(tag)),
                row["entity"].strip(),
                row["collect"].strip(),
            )
            out[(concept.code_value, concept.scheme)] = concept
    return out


def concept_of(item: Dataset) -> tuple[str, str] | None:
    """(Code Value, scheme upper case) of a content item's concept name, or None without one."""
    if CONCEPT_NAME_CODE_SEQUENCE not in item._dict:
        return None
    names = item[CONCEPT_NAME_CODE_SEQUENCE].value
    if not names:
        return None
    code = names[0]
    return _text_of(code, _CODE_VALUE), _text_of(code, _CODING_SCHEME_DESIGNATOR).upper()


def _text_of(item: Dataset, tag: int) -> str:
    """A single-valued text of a code, stripped; read from its bytes when pydicom need not convert it."""
    values = raw_text_values(item, tag)
    if values is not None and len(values) <= 1:
        return values[0].strip() if values else ""
    elem = item.get(tag)
    return str(elem.value or "").strip() if elem is not None else ""


def text_concept_of(item: Dataset) -> SrTextConcept | None:
    """The table's entry for a content item's concept, or None when its text is plain free text."""
    key = concept_of(item)
    return None if key is None else sr_text_concepts().get(key)
