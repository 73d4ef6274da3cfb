"""The site's mammography QA file: tube output and HVL measured per room, kV and target/filter.

The incident air kerma K of the Dance model comes from the tube output measured by the site's
physicists (uGy per mAs at a stated distance from the focus), scaled by the exposure's mAs and the
inverse square of the distance to the top of the compressed breast; the HVL comes from the same file.
Between measured kV points both are interpolated linearly in kV; outside the measured kV range nothing
is extrapolated (the exposure gets no MGD, with the reason). ``example: true`` marks a file whose
numbers are illustrations, not measurements: results computed with it say so.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from resources.dose.mammography.errors import QaFileError

MATERIAL_TERMS = {
    "MO": "MOLYBDENUM",
    "MOLYBDENUM": "MOLYBDENUM",
    "RH": "RHODIUM",
    "RHODIUM": "RHODIUM",
    "W": "TUNGSTEN",
    "TUNGSTEN": "TUNGSTEN",
    "AG": "SILVER",
    "SILVER": "SILVER",
    "AL": "ALUMINUM",
    "ALUMINUM": "ALUMINUM",
    "ALUMINIUM": "ALUMINUM",
    "CU": "COPPER",
    "COPPER": "COPPER",
}


def material_term(text: str | None) -> str | None:
    """A target or filter material as the DICOM defined term (MOLYBDENUM, RHODIUM, TUNGSTEN, ...)."""
    if not text:
        return None
    key = text.strip().upper()
    return MATERIAL_TERMS.get(key, key or None)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BeamPoint(_Strict):
    kv: float = Field(gt=10, lt=60)
    output_ugy_per_mas: float = Field(gt=0)
    hvl_mm_al: float = Field(gt=0, lt=2)


class Beam(_Strict):
    target: str
    filter: str
    points: list[BeamPoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_kv(self) -> Beam:
        kvs = [p.kv for p in self.points]
        if len(set(kvs)) != len(kvs):
            raise ValueError("each kV is measured once per target/filter")
        self.points.sort(key=lambda p: p.kv)
        return self


class Room(_Strict):
    """One mammography X-ray set; matched to exposures by every identifier it gives (case-insensitive)."""

    name: str
    station_name: str | None = None
    manufacturer: str | None = None
    model_name: str | None = None
    measured_on: dt.date | None = None
    output_distance_mm: float = Field(gt=0)  # distance from the focus at which the output was measured
    focus_to_support_mm: float | None = Field(default=None, gt=0)  # used when headers give no distance
    beams: list[Beam] = Field(min_length=1)

    @model_validator(mode="after")
    def _identified(self) -> Room:
        if not (self.station_name or self.model_name):
            raise ValueError("a room needs station_name or model_name to be matched to exposures")
        return self


class QaFile(_Strict):
    version: int = 1
    example: bool = False
    rooms: list[Room] = Field(min_length=1)


@dataclass(frozen=True)
class BeamQuality:
    output_ugy_per_mas: float
    hvl_mm_al: float
    output_distance_mm: float
    focus_to_support_mm: float | None


@dataclass(frozen=True)
class SiteQa:
    """A validated QA file and where it came from."""

    path: Path
    content: QaFile

    @property
    def is_example(self) -> bool:
        return self.content.example

    def room_for(self, station_name: str | None, model_name: str | None) -> Room | None:
        def same(wanted: str | None, seen: str | None) -> bool:
            return wanted is None or (seen is not None and wanted.strip().upper() == seen.strip().upper())

        for room in self.content.rooms:
            if same(room.station_name, station_name) and same(room.model_name, model_name):
                return room
        return None

    def beam_quality(
        self, room: Room, target: str | None, filter_material: str | None, kv: float | None
    ) -> BeamQuality | str:
        """Tube output and HVL at ``kv`` for the target/filter, or the reason there is none."""
        if kv is None:
            return "no kVp in the header"
        wanted = (material_term(target), material_term(filter_material))
        beam = next(
            (b for b in room.beams if (material_term(b.target), material_term(b.filter)) == wanted), None
        )
        if beam is None:
            return f"QA file room {room.name}: no measurement for {wanted[0]}/{wanted[1]}"
        points = beam.points
        if not points[0].kv <= kv <= points[-1].kv:
            measured = f"{points[0].kv:g}-{points[-1].kv:g} kV"
            return f"QA file room {room.name}: {kv:g} kV outside the measured {measured}"
        for low, high in itertools.pairwise(points):
            if low.kv <= kv <= high.kv:
                f = (kv - low.kv) / (high.kv - low.kv)
                output = low.output_ugy_per_mas + f * (high.output_ugy_per_mas - low.output_ugy_per_mas)
                hvl = low.hvl_mm_al + f * (high.hvl_mm_al - low.hvl_mm_al)
                return BeamQuality(output, hvl, room.output_distance_mm, room.focus_to_support_mm)
        only = points[0]
        return BeamQuality(
            only.output_ugy_per_mas, only.hvl_mm_al, room.output_distance_mm, room.focus_to_support_mm
        )


def load_qa_file(path: Path) -> SiteQa:
    """Read and validate a QA file.

    Raises
    ------
    QaFileError
        When the file is missing, not YAML, or a field is invalid; the message names the file and
        the field (``qa.yaml: rooms.0.beams.0.points.1.kv: Input should be greater than 10``).
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise QaFileError(f"{path}: cannot read the mammography QA file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise QaFileError(f"{path}: not valid YAML: {type(exc).__name__}") from exc
    if not isinstance(raw, dict):
        raise QaFileError(f"{path}: the QA file must be a mapping with a rooms list")
    try:
        content = QaFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise QaFileError(f"{path}: {where}: {first['msg']}") from exc
    return SiteQa(path, content)
