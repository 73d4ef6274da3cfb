"""Typed views of the corpus data files (devices, protocols, invented people), loaded once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

DATA_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Institution:
    canonical: str
    address: str
    raw: tuple[str, ...]


@dataclass(frozen=True)
class Device:
    key: str
    modality: str
    vendor: str
    manufacturer_raw: tuple[str, ...]
    model: str
    software: tuple[str, ...]
    serial: str
    station_canonical: str
    station_raw: tuple[str, ...]
    institution: str
    target_region_scheme: str = "SCT"
    spiral_code: str = "SCT"
    dlp_unit: str = "mGy.cm"
    numeric_places: int | None = None
    paediatric_body_phantom: str = "body"
    anode: tuple[str, ...] = ()
    filter: tuple[str, ...] = ()


@dataclass(frozen=True)
class Region:
    key: str
    body_part: str
    codes: dict[str, tuple[str, str]]

    def code(self, scheme: str) -> tuple[str, str, str]:
        """(value, scheme, meaning) in the wanted scheme, falling back to SNOMED CT."""
        chosen = scheme if scheme in self.codes else "SCT"
        value, meaning = self.codes[chosen]
        return value, chosen, meaning


@dataclass(frozen=True)
class AcquisitionTemplate:
    type: str
    region: str
    phantom: str
    ctdivol: tuple[float, float]
    length_mm: tuple[float, float]
    kvp: int
    ma: tuple[int, int]
    collimation: tuple[float, float]
    pitch: float | None
    exposure_s: tuple[float, float]


@dataclass(frozen=True)
class Protocol:
    canonical: str | None
    drl_category: str | None
    region: str
    raw: tuple[str, ...]
    weight: int
    acquisitions: tuple[AcquisitionTemplate, ...]


@dataclass(frozen=True)
class People:
    family: tuple[str, ...]
    given_female: tuple[str, ...]
    given_male: tuple[str, ...]
    streets: tuple[str, ...]
    towns: tuple[str, ...]
    occupations: tuple[str, ...]
    ethnic_groups: tuple[str, ...]
    military_ranks: tuple[str, ...]
    clinicians: tuple[str, ...]
    radiographers: tuple[str, ...]


@dataclass(frozen=True)
class Catalogue:
    institutions: dict[str, Institution]
    ct_devices: tuple[Device, ...]
    mg_devices: tuple[Device, ...]
    regions: dict[str, Region]
    ct_protocols: tuple[Protocol, ...]
    mg_protocols: tuple[Protocol, ...]
    people: People


def _read(name: str) -> dict[str, Any]:
    """One YAML data file beside this module.

    Raises
    ------
    ValueError
        If the file does not hold a mapping.
    """
    with open(DATA_DIR / name, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected a mapping at the top level")
    return data


def _device(entry: dict[str, Any], modality: str) -> Device:
    return Device(
        key=entry["key"],
        modality=modality,
        vendor=entry["vendor"],
        manufacturer_raw=tuple(entry["manufacturer_raw"]),
        model=entry["model"],
        software=tuple(entry["software"]),
        serial=str(entry["serial"]),
        station_canonical=entry["station_canonical"],
        station_raw=tuple(entry["station_raw"]),
        institution=entry["institution"],
        target_region_scheme=entry.get("target_region_scheme", "SCT"),
        spiral_code=entry.get("spiral_code", "SCT"),
        dlp_unit=entry.get("dlp_unit", "mGy.cm"),
        numeric_places=entry.get("numeric_places"),
        paediatric_body_phantom=entry.get("paediatric_body_phantom", "body"),
        anode=tuple(entry.get("anode", ())),
        filter=tuple(entry.get("filter", ())),
    )


def _protocol(entry: dict[str, Any]) -> Protocol:
    acquisitions = tuple(
        AcquisitionTemplate(
            type=a["type"],
            region=a["region"],
            phantom=a["phantom"],
            ctdivol=(float(a["ctdivol"][0]), float(a["ctdivol"][1])),
            length_mm=(float(a["length_mm"][0]), float(a["length_mm"][1])),
            kvp=int(a["kvp"]),
            ma=(int(a["ma"][0]), int(a["ma"][1])),
            collimation=(float(a["collimation"][0]), float(a["collimation"][1])),
            pitch=None if a["pitch"] is None else float(a["pitch"]),
            exposure_s=(float(a["exposure_s"][0]), float(a["exposure_s"][1])),
        )
        for a in entry.get("acquisitions", ())
    )
    return Protocol(
        canonical=entry["canonical"],
        drl_category=entry["drl_category"],
        region=entry["region"],
        raw=tuple(entry["raw"]),
        weight=int(entry.get("weight", 1)),
        acquisitions=acquisitions,
    )


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    """Read ``devices.yaml``, ``protocols.yaml`` and ``people.yaml`` beside this module (cached)."""
    devices = _read("devices.yaml")
    protocols = _read("protocols.yaml")
    people = _read("people.yaml")
    # Scheme keys are upper case in the catalogue, as DICOM writes them (SCT, SRT).
    regions = {
        key: Region(
            key=key,
            body_part=value["body_part"],
            codes={
                scheme.upper(): (value[scheme][0], value[scheme][1])
                for scheme in ("sct", "srt")
                if scheme in value
            },
        )
        for key, value in protocols["regions"].items()
    }
    return Catalogue(
        institutions={
            i["canonical"]: Institution(canonical=i["canonical"], address=i["address"], raw=tuple(i["raw"]))
            for i in devices["institutions"]
        },
        ct_devices=tuple(_device(d, "CT") for d in devices["ct"]),
        mg_devices=tuple(_device(d, "MG") for d in devices["mg"]),
        regions=regions,
        ct_protocols=tuple(_protocol(p) for p in protocols["ct"]),
        mg_protocols=tuple(_protocol(p) for p in protocols["mg"]),
        people=People(**{key: tuple(people[key]) for key in People.__dataclass_fields__}),
    )
