"""Two inputs with the same SOP Instance UID: which one the research copy is made from, and why.

A vendor's corrected re-send, or a file exported twice with different content, reaches the
de-identification as two inputs with one SOP Instance UID; both map to the same research UID and the
same research file, so without a rule the one processed last silently wins. The rule, in order:

1. the **later Instance Creation Date and Time** (0008,0012)/(0008,0013): a corrected re-send is
   created after the object it corrects;
2. else the **larger file**: of two copies of one object the smaller one is most often a truncated
   or stripped copy;
3. else the **first in processing order** (path order for a folder, spool order for a partition), so
   that the choice is the same on every run.

Every collision is reported (both inputs by name, the rule that decided); only the kept input's
research copy and findings are written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from resources.deid.engine import DeidResult

Payload = TypeVar("Payload")

LATER_CREATION = "later Instance Creation Date/Time"
LARGER_FILE = "larger file"
FIRST_IN_ORDER = "first in processing order"


@dataclass(frozen=True)
class Collision:
    """One pair of inputs that share a SOP Instance UID (names as given by the caller, never values)."""

    research_sop_instance_uid: str
    kept: str
    dropped: str
    rule: str

    def message(self) -> str:
        return (
            f"{self.kept} and {self.dropped} share a SOP Instance UID (research UID "
            f"{self.research_sop_instance_uid}): kept {self.kept} ({self.rule})"
        )


@dataclass(frozen=True)
class Offer(Generic[Payload]):
    """What :meth:`CollisionKeeper.offer` decided: write the result? and, on a collision, the loser."""

    write: bool
    collision: Collision | None = None
    dropped: Payload | None = None


@dataclass(frozen=True)
class _Kept(Generic[Payload]):
    name: str
    created: str
    size: int
    payload: Payload


def _challenger_wins(incumbent: _Kept[Payload], challenger: DeidResult) -> tuple[bool, str]:
    """(challenger wins, the rule that decided)."""
    if incumbent.created and challenger.source_created and challenger.source_created != incumbent.created:
        return challenger.source_created > incumbent.created, LATER_CREATION
    if challenger.source_bytes != incumbent.size:
        return challenger.source_bytes > incumbent.size, LARGER_FILE
    return False, FIRST_IN_ORDER


@dataclass
class CollisionKeeper(Generic[Payload]):
    """Keeps one de-identified result per research SOP Instance UID by the module's rule.

    Only what the rule compares is held, never the research copy: the caller writes a result when
    :meth:`offer` says so (replacing the file of the one it beat) and keeps in ``payload`` what it
    needs at the end (the findings to write, the spool row to mark). Results are offered in
    processing order.
    """

    kept: dict[str, _Kept[Payload]] = field(default_factory=dict)
    collisions: list[Collision] = field(default_factory=list)

    def offer(self, name: str, result: DeidResult, payload: Payload) -> Offer[Payload]:
        """Record ``result``: whether to write it, and the collision it caused with what it dropped."""
        uid = result.sop_instance_uid
        incumbent = self.kept.get(uid)
        entry = _Kept(name, result.source_created, result.source_bytes, payload)
        if incumbent is None:
            self.kept[uid] = entry
            return Offer(write=True)
        challenger_wins, rule = _challenger_wins(incumbent, result)
        if challenger_wins:
            self.kept[uid] = entry
            collision = Collision(uid, kept=name, dropped=incumbent.name, rule=rule)
            offer = Offer(True, collision, incumbent.payload)
        else:
            collision = Collision(uid, kept=incumbent.name, dropped=name, rule=rule)
            offer = Offer(False, collision, payload)
        self.collisions.append(collision)
        return offer

    def payloads(self) -> list[Payload]:
        """The kept payloads, in the order their UIDs were first seen."""
        return [entry.payload for entry in self.kept.values()]
