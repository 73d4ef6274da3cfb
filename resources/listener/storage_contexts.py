"""The storage SOP classes and transfer syntaxes the listener accepts, from their versioned data file."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pydicom.uid
import yaml
from pynetdicom import sop_class as sop_classes

from resources.listener.errors import ListenerConfigError

SOP_CLASS_TABLE = Path(__file__).resolve().parent / "storage_sop_classes.yaml"


@dataclass(frozen=True)
class StorageContexts:
    """The storage SOP classes (UIDs) and transfer syntaxes the listener accepts."""

    sop_class_uids: tuple[str, ...]
    transfer_syntax_uids: tuple[str, ...]
    table_version: int


@cache
def storage_contexts(table: Path = SOP_CLASS_TABLE) -> StorageContexts:
    """Read the accepted SOP classes and transfer syntaxes from their versioned data file.

    Raises
    ------
    ListenerConfigError
        If the table names a SOP class or transfer syntax that is not a known DICOM UID keyword.
    """
    data = yaml.safe_load(table.read_text(encoding="utf-8"))
    uids: list[str] = []
    for names in data["sop_classes"].values():
        for name in names:
            uid = getattr(sop_classes, name, None)
            if uid is None:
                raise ListenerConfigError(f"{table.name}: unknown storage SOP class {name!r}")
            uids.append(str(uid))
    syntaxes: list[str] = []
    for name in data["transfer_syntaxes"]:
        uid = getattr(pydicom.uid, name, None)
        if uid is None:
            raise ListenerConfigError(f"{table.name}: unknown transfer syntax {name!r}")
        syntaxes.append(str(uid))
    return StorageContexts(tuple(dict.fromkeys(uids)), tuple(syntaxes), int(data["version"]))
