"""The PS3.15 Annex E action codes, and the one action dicom-lake carries out for each.

Table E.1-1 names an action per attribute: D (replace with a dummy value), Z (replace with a zero
length value), X (remove), K (keep), C (clean), U (replace with a consistent new UID) and the combined
codes Z/D, X/Z, X/D, X/Z/D and X/Z/U*, which leave the choice to the de-identifier according to the
attribute's type in its IOD. P is dicom-lake's own code (kept but pseudonymised by keyed HMAC), used by
the option columns in ``ps315_options.csv``.

:class:`ActionCode` is what the tables hold; :class:`Action` is what is applied to an element once a
combined code is resolved (:func:`resolve`). Both are ``str``-valued, so they compare equal to the
letters written in the CSV files.
"""

from __future__ import annotations

from enum import StrEnum


class ActionCode(StrEnum):
    """An action code as written in Table E.1-1 and in the option columns."""

    DUMMY = "D"
    ZERO = "Z"
    REMOVE = "X"
    KEEP = "K"
    CLEAN = "C"
    NEW_UID = "U"
    PSEUDONYMISE = "P"
    ZERO_OR_DUMMY = "Z/D"
    REMOVE_OR_ZERO = "X/Z"
    REMOVE_OR_DUMMY = "X/D"
    REMOVE_ZERO_OR_DUMMY = "X/Z/D"
    REMOVE_ZERO_OR_NEW_UID = "X/Z/U*"


class Action(StrEnum):
    """The action applied to one element: a single code, never a combined one."""

    DUMMY = "D"
    ZERO = "Z"
    REMOVE = "X"
    KEEP = "K"
    CLEAN = "C"
    NEW_UID = "U"
    PSEUDONYMISE = "P"


# Combined codes resolve to the choice that keeps an object valid whatever the attribute's type in
# its IOD (a dummy is valid where an empty or absent value may not be), without per-IOD type tables.
_RESOLVED: dict[ActionCode, Action] = {
    ActionCode.ZERO_OR_DUMMY: Action.DUMMY,
    ActionCode.REMOVE_OR_DUMMY: Action.DUMMY,
    ActionCode.REMOVE_ZERO_OR_DUMMY: Action.DUMMY,
    ActionCode.REMOVE_OR_ZERO: Action.ZERO,
    **{ActionCode(action.value): action for action in Action},
}
# X/Z/U* keeps what carries UIDs (a UID gets a new one; a sequence is kept and the UIDs inside it
# replaced) and empties anything else.
_UID_CARRYING_VRS = frozenset({"UI", "SQ"})


def resolve(code: ActionCode, vr: str) -> Action:
    """The action carried out for ``code`` on an element of value representation ``vr``."""
    if code is ActionCode.REMOVE_ZERO_OR_NEW_UID:
        return Action.NEW_UID if vr in _UID_CARRYING_VRS else Action.ZERO
    return _RESOLVED[code]


def depends_on_vr(code: ActionCode) -> bool:
    """True when the resolved action of ``code`` depends on the element's VR (so it is not cacheable)."""
    return code is ActionCode.REMOVE_ZERO_OR_NEW_UID
