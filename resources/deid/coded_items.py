"""Coded items: which text of a code (Code Value, Code Meaning) is dictionary content and which is text.

A code of a standard scheme (DCM, SCT, LN, UCUM, ...; ``standard_coding_schemes.csv``) is dictionary
content: its value and meaning come from the scheme, and rewriting them would break the code (a patient
named "Head" must not turn SCT "Head" into "[PERSON]"). A code of any other scheme (``99MYHOSP``, ``L``,
``LOCAL``, a site's own) is typed by a site, like a description: a local protocol code may carry the
patient's name. Its Code Value, Long Code Value and Code Meaning are scanned as text, at every depth
(Performed Protocol Code Sequence, Procedure Code Sequence, Anatomic Region Sequence, SR concept
codes), by the profile walk and by the leak check.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from pydicom.dataset import Dataset

from resources.deid.element_values import raw_text_values
from resources.deid.errors import ProfileTableError

STANDARD_SCHEMES_CSV = Path(__file__).with_name("standard_coding_schemes.csv")

CODE_VALUE = 0x00080100
CODING_SCHEME_DESIGNATOR = 0x00080102
CODE_MEANING = 0x00080104
LONG_CODE_VALUE = 0x00080119
URN_CODE_VALUE = 0x00080120
# The text of a code a site may have typed (the designator and version name the scheme, not a person).
LOCAL_CODE_TEXT_TAGS = (CODE_VALUE, LONG_CODE_VALUE, URN_CODE_VALUE, CODE_MEANING)


@cache
def standard_schemes(path: Path = STANDARD_SCHEMES_CSV) -> frozenset[str]:
    """The designators of standard coding schemes, upper case.

    Raises
    ------
    ProfileTableError
        If the file is missing or lists no designator.
    """
    if not path.exists():
        raise ProfileTableError(f"{path.name}: the list of standard coding schemes is missing")
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    designators = frozenset(row["designator"].strip().upper() for row in rows if row["designator"].strip())
    if not designators:
        raise ProfileTableError(f"{path.name}: no coding scheme designator listed")
    return designators


def coding_scheme_of(item: Dataset) -> str | None:
    """The item's Coding Scheme Designator, or None when the item is not a code (the common case)."""
    if CODING_SCHEME_DESIGNATOR not in item._dict:  # BaseTag hashes as its int: no tag built per item
        return None
    values = raw_text_values(item, CODING_SCHEME_DESIGNATOR)  # read without converting (kept as bytes)
    if values is not None and len(values) <= 1:
        return values[0].strip() if values else ""
    return str(item[CODING_SCHEME_DESIGNATOR].value or "").strip()


def is_local_scheme(designator: str) -> bool:
    """True for a scheme that is not a listed standard one (99..., L, LOCAL, empty, a site's own)."""
    return designator.upper() not in standard_schemes()
