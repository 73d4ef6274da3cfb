"""Which store a process sees: an identity file in each shared data zone, written at first use.

On several machines the spool, research store and quarantine must be the same folders everywhere (a
shared filesystem). A worker that mounted another export, or none (an empty local folder in its
place), would otherwise write a partition where nothing else reads it. Each zone therefore gets a
small file holding a random identity the first time any process uses it; a run records the identities
its orchestrating process sees, and a worker compares its own before it runs a step.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from resources.errors import DicomLakeError
from resources.site_config import ResolvedFolders

IDENTITY_FILE = ".dicom-lake-store-id"
ZONES = ("spool", "research", "quarantine")


class StoreIdentityError(DicomLakeError):
    """A data zone's identity cannot be read or written, or differs from the one a run expects."""


@dataclass(frozen=True)
class StoreIdentity:
    """The identity of each shared zone (``spool``, ``research``, ``quarantine``) as one process sees it."""

    zones: Mapping[str, str]
    folders: Mapping[str, str]

    def as_tag(self) -> str:
        """The identities as a short JSON text (a Dagster run tag); folder paths are not included
        because a path may differ between machines that mount the same store."""
        return json.dumps(dict(sorted(self.zones.items())), separators=(",", ":"))


def _zone_folders(folders: ResolvedFolders) -> dict[str, Path]:
    return {"spool": folders.spool, "research": folders.research, "quarantine": folders.quarantine}


def _read(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreIdentityError(f"{path}: cannot read the store identity: {exc}") from exc
    try:
        return str(uuid.UUID(text))
    except ValueError as exc:
        raise StoreIdentityError(f"{path}: not a store identity (expected one UUID)") from exc


def _create(path: Path) -> str:
    """Write a new identity unless another process got there first; returns whichever won."""
    identity = str(uuid.uuid4())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{IDENTITY_FILE}.{identity}.tmp")
    try:
        tmp.write_text(identity + "\n", encoding="ascii")
        # link(2) fails if the name exists: two processes starting at once agree on the first one.
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreIdentityError(f"{path}: cannot write the store identity: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    found = _read(path)
    if found is None:
        raise StoreIdentityError(f"{path}: the store identity vanished as it was written")
    return found


def ensure_store_identity(folders: ResolvedFolders) -> StoreIdentity:
    """The zones' identities, writing one for each zone used for the first time.

    Raises
    ------
    StoreIdentityError
        If a zone's identity file cannot be read or written; the message names the file.
    """
    zones: dict[str, str] = {}
    paths: dict[str, str] = {}
    for zone, folder in _zone_folders(folders).items():
        path = folder / IDENTITY_FILE
        zones[zone] = _read(path) or _create(path)
        paths[zone] = str(folder)
    return StoreIdentity(zones=zones, folders=paths)


def read_store_identity(folders: ResolvedFolders) -> StoreIdentity:
    """The zones' identities without writing any (a missing one reads as ``"missing"``).

    Raises
    ------
    StoreIdentityError
        If an identity file exists but cannot be read.
    """
    zones: dict[str, str] = {}
    paths: dict[str, str] = {}
    for zone, folder in _zone_folders(folders).items():
        zones[zone] = _read(folder / IDENTITY_FILE) or "missing"
        paths[zone] = str(folder)
    return StoreIdentity(zones=zones, folders=paths)


def parse_identity_tag(text: str) -> dict[str, str]:
    """The zones' identities from :meth:`StoreIdentity.as_tag`.

    Raises
    ------
    StoreIdentityError
        If the text is not such a mapping.
    """
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise StoreIdentityError(f"store identity tag is not JSON: {exc}") from exc
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise StoreIdentityError("store identity tag is not a mapping of zone to identity")
    return {str(k): v for k, v in value.items()}


def check_same_store(expected: Mapping[str, str], seen: StoreIdentity, *, where: str) -> None:
    """Raise unless ``seen`` has the identity ``expected`` for every zone the run recorded.

    Raises
    ------
    StoreIdentityError
        Naming the first zone that differs, its folder as this process sees it, and both identities.
    """
    for zone in ZONES:
        want = expected.get(zone)
        if want is None:
            continue
        got = seen.zones.get(zone, "missing")
        if got != want:
            folder = seen.folders.get(zone, "?")
            raise StoreIdentityError(
                f"{folder}: {where} sees another {zone} store than the run expects (identity {got}, "
                f"expected {want}): every machine must mount the same shared {zone} folder"
            )
