"""SR content item value types (PS3.3 C.17.3.2.1, Value Type (0040,A040)) as one enum.

Kept as highdicom keeps ``highdicom.sr.ValueTypeValues``: a ``str``-valued enum, so a member equals the
text written in the file and the readers compare members, never bare strings.
"""

from __future__ import annotations

import enum


class ValueType(enum.StrEnum):
    """Value Type (0040,A040) of an SR content item (PS3.3 Table C.17.3-7)."""

    CODE = "CODE"
    COMPOSITE = "COMPOSITE"
    CONTAINER = "CONTAINER"
    DATE = "DATE"
    DATETIME = "DATETIME"
    IMAGE = "IMAGE"
    NUM = "NUM"
    PNAME = "PNAME"
    SCOORD = "SCOORD"
    SCOORD3D = "SCOORD3D"
    TABLE = "TABLE"
    TCOORD = "TCOORD"
    TEXT = "TEXT"
    TIME = "TIME"
    UIDREF = "UIDREF"
    WAVEFORM = "WAVEFORM"

    @classmethod
    def of_text(cls, text: str) -> ValueType | None:
        """The member written as ``text``, or None for a value type this enum does not know.

        Vendors occasionally write an empty or misspelt value type; such an item is matched by no
        reader, as before, instead of making the whole document unreadable.
        """
        return _BY_TEXT.get(text)


_BY_TEXT: dict[str, ValueType] = {member.value: member for member in ValueType}
