"""Institution and station names to canonical names (``institutions.csv``, ``stations.csv``).

Sites spell the same place several ways ("ST. ELSEWHERE HOSP", "St Elsewhere Hospital NHS Trust") and
field engineers rename stations ("CT_01", "ct-1 "). Names that match no row keep a tidied spelling as
their canonical name and are reported as unmapped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from resources.curation.data_files import DATA_FOLDER, compile_pattern, read_data_file

INSTITUTIONS_CSV = DATA_FOLDER / "institutions.csv"
STATIONS_CSV = DATA_FOLDER / "stations.csv"


def _spaced(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^A-Z0-9]", " ", text.upper())).strip()


def station_key(text: str) -> str:
    """Letters and digits only, leading zeros of numbers dropped: ``"CT_01 "`` -> ``"CT1"``."""
    squeezed = re.sub(r"[^A-Z0-9]", "", text.upper())
    return re.sub(r"(?<![0-9])0+(?=[0-9])", "", squeezed)


@dataclass(frozen=True)
class NameMatch:
    canonical: str
    mapped: bool


@dataclass(frozen=True)
class _Rule:
    canonical: str
    manufacturer: str
    pattern: re.Pattern[str]


class DeviceNameMapper:
    """Canonical institution and station names from the two data files."""

    def __init__(self, institutions: Path = INSTITUTIONS_CSV, stations: Path = STATIONS_CSV) -> None:
        inst_version, inst_rows = read_data_file(institutions)
        station_version, station_rows = read_data_file(stations)
        self.version = f"{inst_version}/{station_version}"
        self._institutions = [
            _Rule(row["canonical"], "", compile_pattern(row["pattern"], where=f"{institutions.name} row {i}"))
            for i, row in enumerate(inst_rows, start=2)
        ]
        self._stations = [
            _Rule(
                row["canonical"],
                row.get("manufacturer", "").lower(),
                compile_pattern(row["pattern"], where=f"{stations.name} row {i}"),
            )
            for i, row in enumerate(station_rows, start=2)
        ]

    @classmethod
    @cache
    def default(cls) -> DeviceNameMapper:
        return cls()

    def institution(self, name: str | None) -> NameMatch | None:
        if not name or not name.strip():
            return None
        spaced = _spaced(name)
        for rule in self._institutions:
            if rule.pattern.search(spaced):
                return NameMatch(rule.canonical, True)
        return NameMatch(spaced, False)

    def station(self, name: str | None, manufacturer: str | None = None) -> NameMatch | None:
        if not name or not name.strip():
            return None
        key = station_key(name)
        maker = (manufacturer or "").lower()
        for rule in self._stations:
            if rule.manufacturer and rule.manufacturer not in maker:
                continue
            if rule.pattern.search(key):
                return NameMatch(rule.canonical, True)
        return NameMatch(key, False)


def device_key(manufacturer: str | None, model: str | None, serial: str | None, station: str | None) -> str:
    """A stable key for a device: digest of manufacturer, model and serial (station when no serial)."""
    parts = [(manufacturer or "").strip().upper(), (model or "").strip().upper()]
    parts.append((serial or "").strip() or f"station:{station_key(station or '')}")
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]


def serial_pseudonym(serial: str | None) -> str | None:
    """The serial number as a digest: devices stay distinguishable without publishing the number."""
    if not serial or not serial.strip():
        return None
    return hashlib.sha256(b"device-serial\x1f" + serial.strip().encode("utf-8")).hexdigest()[:16]
