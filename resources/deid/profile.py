"""PS3.15 Annex E Table E.1-1 (Basic Application Level Confidentiality Profile) and the options on top.

The Basic Profile column is read from ``ps315_table.csv``, generated from a maintained machine-readable
transcription by ``build_ps315_table.py`` (the edition is in the file's header). :class:`Profile`
answers "what happens to this tag" for a given set of options; ``profile_application`` applies the
answer at every depth of the dataset.

The action codes are :class:`~resources.deid.ps315_actions.ActionCode`; a combined code is resolved
to the choice that keeps an object valid whatever the attribute's type in its IOD
(:func:`~resources.deid.ps315_actions.resolve`): Z/D, X/D and X/Z/D become D; X/Z becomes Z; X/Z/U*
becomes U for a UID or a sequence (whose UIDs are replaced inside) and Z otherwise.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from resources.deid.errors import ProfileTableError
from resources.deid.options import DeidOptions, option_actions
from resources.deid.ps315_actions import Action, ActionCode, depends_on_vr, resolve

TABLE_CSV = Path(__file__).with_name("ps315_table.csv")


@dataclass(frozen=True)
class BasicProfileTable:
    """The Basic Profile column: exact tags plus masked repeating-group rows (curves, overlays)."""

    edition: str
    source: str
    exact: dict[int, ActionCode]
    masked: tuple[tuple[int, int, ActionCode], ...]  # (value, mask, action) over the 32-bit tag

    def action_for(self, tag: int) -> ActionCode | None:
        found = self.exact.get(tag)
        if found is not None:
            return found
        for value, mask, action in self.masked:
            if tag & mask == value & mask:
                return action
        return None

    def __len__(self) -> int:
        return len(self.exact) + len(self.masked)


@cache
def load_basic_profile(path: Path = TABLE_CSV) -> BasicProfileTable:
    """Read the generated table.

    Raises
    ------
    ProfileTableError
        If the file is missing, carries no edition line or holds an unknown action code.
    """
    if not path.exists():
        raise ProfileTableError(f"{path.name}: the PS3.15 table is missing (run build_ps315_table)")
    lines = path.read_text(encoding="utf-8").splitlines()
    comments = [line[1:].strip() for line in lines if line.startswith("#")]
    edition_line = next((c for c in comments if "edition" in c), "")
    if not edition_line:
        raise ProfileTableError(f"{path.name}: no edition recorded in the header")
    edition = edition_line.rsplit("edition", 1)[1].strip()
    source = next((c.removeprefix("source:").strip() for c in comments if c.startswith("source:")), "")
    exact: dict[int, ActionCode] = {}
    masked: list[tuple[int, int, ActionCode]] = []
    for row in csv.DictReader(line for line in lines if not line.startswith("#")):
        try:
            action = ActionCode(row["action"])
        except ValueError as exc:
            raise ProfileTableError(f"{path.name}: unknown action code {row['action']!r}") from exc
        tag = int(row["group"] + row["element"], 16)
        mask = int(row["group_mask"] + row["element_mask"], 16)
        if mask == 0xFFFFFFFF:
            exact[tag] = action
        else:
            masked.append((tag, mask, action))
    return BasicProfileTable(edition=edition, source=source, exact=exact, masked=tuple(masked))


class Profile:
    """The actions in force for one set of options."""

    def __init__(self, options: DeidOptions, table: BasicProfileTable | None = None) -> None:
        self.options = options
        self.table = table or load_basic_profile()
        overrides: dict[int, ActionCode] = {}
        for option, actions in option_actions().items():
            if getattr(options, option):
                overrides.update(actions)
        self._overrides = overrides
        self._cache: dict[int, Action | None] = {}

    @property
    def edition(self) -> str:
        return self.table.edition

    def action_for(self, tag: int, vr: str) -> Action | None:
        """The resolved action for a public tag; None when the table does not list it (kept)."""
        if tag in self._cache:
            return self._cache[tag]
        code = self._overrides.get(tag) or self.table.action_for(tag)
        if code is None:
            self._cache[tag] = None
            return None
        resolved = resolve(code, vr)
        if not depends_on_vr(code):  # X/Z/U* depends on the element's VR: not cached
            self._cache[tag] = resolved
        return resolved
