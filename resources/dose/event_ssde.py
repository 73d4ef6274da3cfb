"""SSDE for a partition's CT irradiation events (:mod:`resources.dose.ssde`), with the method recorded.

For each event with a CTDIvol, the first that gives a size wins:

1. the dose report's own SSDE (``rdsr``);
2. Dw from the first axial image of the event's linked series among the partition's de-identified
   files (the image the metadata retrieval fetches; ``image_dw_aapm220``, "image Dw");
3. the dose report's Water Equivalent Diameter (``rdsr_dw_aapm204``);
4. where no image is available: the effective diameter sqrt(AP x LAT) from the study's AP and lateral
   dimensions, where the caller has them (``ap_lat_aapm204``, "AP/LAT");
5. else the effective diameter by age, AAPM 204's age table, for trunk examinations
   (``age_table_aapm204``, "age table"); the age is the study's Patient's Age in the files' headers;
6. else no SSDE, and a flag code (``ssde_*``) in the event's flags says why.

Only headers are read to find the images and ages, then the pixels of one image per linked series.
The effective diameters of 4 and 5 are not water-equivalent diameters: they are not stored as Dw.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from resources.dose.codes import TARGET_REGION_CODES, BodyRegion, Code
from resources.dose.dose_rows import EventSeriesLinkRow, IrradiationEventRow
from resources.dose.effective_dose import parse_patient_age
from resources.dose.ssde import (
    METHOD_LABELS,
    AgeTable,
    Ssde,
    effective_diameter_mm,
    load_age_table,
    ssde_from_diameter,
    water_equivalent_diameter_mm,
)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
_HEADER_TAGS = [
    "SOPClassUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "InstanceNumber",
    "ImageType",
    "RescaleType",
    "PatientAge",
]
# Report 204's age table describes the trunk; a head examination has no size in it.
_TRUNK = frozenset(
    {BodyRegion.CHEST, BodyRegion.ABDOMEN_AND_PELVIS, BodyRegion.CHEST_ABDOMEN_PELVIS, BodyRegion.TRUNK}
)


@dataclasses.dataclass(frozen=True, slots=True)
class ApLat:
    """A patient's anteroposterior and lateral dimensions (mm), e.g. measured on the localiser."""

    ap_mm: float
    lateral_mm: float


@dataclasses.dataclass
class PartitionHeaders:
    """What the headers of a partition's files say for SSDE: each series' first image, each study's age."""

    first_images: dict[str, Path]
    ages: dict[str, float]


def _axial_image(ds: pydicom.Dataset) -> bool:
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    return str(ds.get("SOPClassUID", "")) == CT_IMAGE_STORAGE and "LOCALIZER" not in image_type


def read_headers(files: Iterable[Path], series_uids: set[str]) -> PartitionHeaders:
    """Series UID -> its lowest-numbered axial CT image among ``files``; study UID -> age (headers only)."""
    best: dict[str, tuple[int, Path]] = {}
    ages: dict[str, float] = {}
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_HEADER_TAGS)
        except (InvalidDicomError, OSError, ValueError):
            continue  # unreadable files are the event reader's to report
        study = str(ds.get("StudyInstanceUID", ""))
        age = parse_patient_age(str(ds.get("PatientAge") or "")) if study not in ages else None
        if age is not None:
            ages[study] = age
        series = str(ds.get("SeriesInstanceUID", ""))
        if series not in series_uids or not _axial_image(ds):
            continue
        number = int(ds.get("InstanceNumber") or 0)
        if series not in best or number < best[series][0]:
            best[series] = (number, path)
    return PartitionHeaders({series: path for series, (_, path) in best.items()}, ages)


def first_images(files: Iterable[Path], series_uids: set[str]) -> dict[str, Path]:
    """Series UID -> its lowest-numbered axial CT image among ``files`` (headers only are read)."""
    return read_headers(files, series_uids).first_images


def image_dw(path: Path) -> tuple[float | None, str | None]:
    """Report 220's Dw of one CT image file, or (None, reason)."""
    try:
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array.astype(np.float64)
        spacing = tuple(float(v) for v in ds.PixelSpacing)
    except (InvalidDicomError, OSError, ValueError, AttributeError, TypeError) as exc:
        return None, f"image not usable for Dw ({type(exc).__name__})"
    hu = pixels * float(ds.get("RescaleSlope", 1) or 1) + float(ds.get("RescaleIntercept", 0) or 0)
    return water_equivalent_diameter_mm(hu, (spacing[0], spacing[1]))


def _flag_code(reason: str | None) -> str:
    """A reason as a flag code (flags are comma-separated codes)."""
    for words, code in (
        ("linked image series", "ssde_no_linked_series"),
        ("axial image", "ssde_no_axial_image"),
        ("edge", "ssde_image_truncated"),
        ("no patient", "ssde_no_patient_in_image"),
        ("phantom", "ssde_phantom_unknown"),
    ):
        if reason and words in reason:
            return code
    return "ssde_image_unusable" if reason and "image" in reason else "ssde_no_size"


def _fallback_code(why: str) -> str:
    """Why neither AP/LAT nor the age table gave a size, as a flag code."""
    for words, code in (
        ("trunk", "ssde_age_table_not_for_region"),
        ("no patient age", "ssde_no_age"),
        ("age outside", "ssde_age_outside_table"),
    ):
        if words in why:
            return code
    return "ssde_age_table_unavailable"


def _with(event: IrradiationEventRow, result: Ssde, note: str | None) -> IrradiationEventRow:
    flags = event.flags
    if result.ssde_mgy is None:
        flags = ",".join(f for f in (flags, _flag_code(note)) if f)[:512]
    # Only an image gives a water-equivalent diameter; AP/LAT and age give an effective diameter.
    dw = result.diameter_mm if result.method == "image_dw_aapm220" else None
    return dataclasses.replace(
        event,
        ssde_mgy=result.ssde_mgy,
        ssde_method=result.method,
        water_equivalent_diameter_mm=event.water_equivalent_diameter_mm or dw,
        flags=flags,
    )


def _trunk(event: IrradiationEventRow) -> bool:
    if not event.target_region_code:
        return False
    code = Code(event.target_region_code, (event.target_region_scheme or "").upper())
    return TARGET_REGION_CODES.get(code) in _TRUNK


def _without_image(
    event: IrradiationEventRow,
    size: ApLat | None,
    age_years: float | None,
    table: AgeTable | None,
    table_missing: str | None,
) -> tuple[Ssde | None, str]:
    """SSDE from AP/LAT, else from the age table; else None and why neither gave a size."""
    if size is not None:
        diameter = effective_diameter_mm(size.ap_mm, size.lateral_mm)
        return ssde_from_diameter(event.ctdivol_mgy, event.phantom, diameter, "ap_lat_aapm204"), ""
    if not _trunk(event):
        return None, "no AP/LAT size; the age table is for trunk examinations"
    if age_years is None:
        return None, "no AP/LAT size, no patient age"
    if table is None:
        return None, f"no AP/LAT size; {table_missing}"
    by_age = table.diameter_mm(age_years)
    if by_age is None:
        return None, "no AP/LAT size; age outside the AAPM 204 age table"
    return ssde_from_diameter(event.ctdivol_mgy, event.phantom, by_age, "age_table_aapm204"), ""


def events_with_ssde(
    events: Sequence[IrradiationEventRow],
    links: Sequence[EventSeriesLinkRow],
    files: Iterable[Path],
    *,
    ap_lat: Mapping[str, ApLat] | None = None,
    age_table: AgeTable | None = None,
) -> list[IrradiationEventRow]:
    """The events with SSDE and its method filled in where a size is known.

    ``ap_lat`` gives AP and lateral dimensions per study UID where the caller has them (the curated
    tables hold none today); ``age_table`` replaces the shipped AAPM 204 age table.
    """
    series_of: dict[tuple[str, str | None], str] = {
        (link.study_instance_uid, link.irradiation_event_uid): link.series_instance_uid for link in links
    }
    needing = [e for e in events if e.ssde_mgy is None and e.ctdivol_mgy is not None]
    wanted = {
        series_of[(e.study_instance_uid, e.irradiation_event_uid)]
        for e in needing
        if (e.study_instance_uid, e.irradiation_event_uid) in series_of
    }
    headers = read_headers(files, wanted) if needing else PartitionHeaders({}, {})
    table_missing: str | None = None
    if age_table is None and needing:
        age_table, table_missing = load_age_table()
    dw_cache: dict[str, tuple[float | None, str | None]] = {}
    out: list[IrradiationEventRow] = []
    for event in events:
        if event.ssde_mgy is not None:
            out.append(dataclasses.replace(event, ssde_method=event.ssde_method or "rdsr"))
            continue
        if event.ctdivol_mgy is None:
            out.append(event)
            continue
        series = series_of.get((event.study_instance_uid, event.irradiation_event_uid))
        reason: str | None = "no linked image series"
        if series in headers.first_images:
            if series not in dw_cache:
                dw_cache[series] = image_dw(headers.first_images[series])
            dw, reason = dw_cache[series]
            if dw is not None:
                result = ssde_from_diameter(event.ctdivol_mgy, event.phantom, dw, "image_dw_aapm220")
                out.append(_with(event, result, result.reason))
                continue
        elif series is not None:
            reason = "no axial image of the linked series in the partition"
        if event.water_equivalent_diameter_mm:
            result = ssde_from_diameter(
                event.ctdivol_mgy, event.phantom, event.water_equivalent_diameter_mm, "rdsr_dw_aapm204"
            )
            out.append(_with(event, result, result.reason))
            continue
        fallback, why = _without_image(
            event,
            (ap_lat or {}).get(event.study_instance_uid),
            headers.ages.get(event.study_instance_uid),
            age_table,
            table_missing,
        )
        if fallback is not None:
            out.append(_with(event, fallback, fallback.reason))
            continue
        without = _with(event, Ssde(None, None, reason=reason), reason)
        out.append(dataclasses.replace(without, flags=",".join((without.flags, _fallback_code(why)))[:512]))
    return out


def ssde_methods(events: Iterable[IrradiationEventRow]) -> dict[str, int]:
    """Events with a CTDIvol per SSDE method as a person reads it ("image Dw", "AP/LAT", "age table",
    ...; "no SSDE" for the rest), for asset metadata and the report."""
    counts: Counter[str] = Counter(
        METHOD_LABELS.get(e.ssde_method, e.ssde_method) if e.ssde_method else "no SSDE"
        for e in events
        if e.ctdivol_mgy is not None or e.ssde_mgy is not None
    )
    return dict(sorted(counts.items()))
