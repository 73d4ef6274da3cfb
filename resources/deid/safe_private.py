"""The Retain Safe Private allow-list: private elements known to hold no identity (``safe_private.csv``)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

SAFE_PRIVATE_CSV = Path(__file__).with_name("safe_private.csv")


@dataclass(frozen=True)
class SafePrivateElement:
    """One allow-listed private element: its group, private creator, offset in the block and VR."""

    group: int
    creator: str
    offset: int
    vr: str
    name: str


def load_safe_private(path: Path = SAFE_PRIVATE_CSV) -> dict[tuple[int, str, int], SafePrivateElement]:
    """The Retain Safe Private allow-list keyed by (group, creator, offset)."""
    out: dict[tuple[int, str, int], SafePrivateElement] = {}
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            entry = SafePrivateElement(
                int(row["group"], 16), row["creator"].strip(), int(row["offset"], 16), row["vr"], row["name"]
            )
            out[(entry.group, entry.creator, entry.offset)] = entry
    return out
