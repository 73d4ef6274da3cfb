"""The tag path notation of ``manifest.json`` (``planted_phi[].tag_path``): format and resolve.

* ``(gggg,eeee)`` - a standard element, hexadecimal upper case;
* ``(gggg,"CREATOR",ee)`` - a private element: group, private creator, element offset in the block;
* ``[i]`` after a sequence - its item ``i`` (0-based); ``.`` separates levels.

Examples: ``(0008,1030)``, ``(0040,0275)[0].(0032,1060)``, ``(0009,"GEMS_IDEN_01",11)``,
``(0040,A730)[12].(0040,A730)[6].(0040,A160)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from resources.errors import DicomLakeError

_STEP = re.compile(
    r'\((?P<group>[0-9A-F]{4}),(?:(?P<element>[0-9A-F]{4})|"(?P<creator>[^"]+)",(?P<offset>[0-9A-F]{2}))\)'
    r"(?:\[(?P<item>\d+)\])?"
)


class TagPathError(DicomLakeError, ValueError):
    """A tag path that does not parse or does not lead to an element of the dataset."""


@dataclass(frozen=True)
class TagPathStep:
    group: int
    element: int | None
    creator: str | None
    offset: int | None
    item: int | None


def parse_tag_path(path: str) -> list[TagPathStep]:
    """Split a tag path into its steps.

    Raises
    ------
    TagPathError
        If the text is not in the notation.
    """
    steps: list[TagPathStep] = []
    position = 0
    while position < len(path):
        if steps:
            if path[position] != ".":
                raise TagPathError(f"expected '.' at {position} in {path!r}")
            position += 1
        match = _STEP.match(path, position)
        if match is None:
            raise TagPathError(f"cannot parse {path!r} at {position}")
        steps.append(
            TagPathStep(
                group=int(match["group"], 16),
                element=int(match["element"], 16) if match["element"] else None,
                creator=match["creator"],
                offset=int(match["offset"], 16) if match["offset"] else None,
                item=int(match["item"]) if match["item"] is not None else None,
            )
        )
        position = match.end()
    if not steps:
        raise TagPathError("empty tag path")
    return steps


def resolve_tag_path(ds: Dataset, path: str) -> DataElement:
    """The element ``path`` points to in ``ds``.

    Raises
    ------
    TagPathError
        If the path does not parse or an element or item on the way is missing.
    """
    current = ds
    steps = parse_tag_path(path)
    for number, step in enumerate(steps):
        if step.creator is not None and step.offset is not None:
            try:
                block = current.private_block(step.group, step.creator)
                elem = block[step.offset]
            except KeyError as exc:
                raise TagPathError(f"{path}: private element not found") from exc
        else:
            assert step.element is not None
            tag = (step.group << 16) | step.element
            if tag not in current:
                raise TagPathError(f"{path}: element {step.group:04X},{step.element:04X} not found")
            elem = current[tag]
        last = number == len(steps) - 1
        if step.item is None:
            if not last:
                raise TagPathError(f"{path}: a sequence step needs an item index")
            return elem
        if elem.VR != "SQ" or step.item >= len(elem.value):
            raise TagPathError(f"{path}: item {step.item} not found")
        current = elem.value[step.item]
        if last:
            raise TagPathError(f"{path}: ends at a sequence item, not an element")
    raise TagPathError(f"{path}: did not reach an element")
