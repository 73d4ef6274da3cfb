"""SSDE for a partition's CT irradiation events (:mod:`resources.dose.ssde`), with the method recorded.

For each event with a CTDIvol: the dose report's own SSDE when it has one (``rdsr``); else Dw from the
first axial image of the event's linked series among the partition's de-identified files (the image the
metadata retrieval fetches; ``image_dw_aapm220``); else the dose report's Water Equivalent Diameter
(``rdsr_dw_aapm204``); else no SSDE, and a flag code (``ssde_*``) in the event's flags says why. Only
headers are read to find the images, then the pixels of one image per linked series.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from resources.dose.dose_rows import EventSeriesLinkRow, IrradiationEventRow
from resources.dose.ssde import Ssde, ssde_from_diameter, water_equivalent_diameter_mm

logger = logging.getLogger(__name__)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
_HEADER_TAGS = ["SOPClassUID", "SeriesInstanceUID", "InstanceNumber", "ImageType", "RescaleType"]


def _axial_image(ds: pydicom.Dataset) -> bool:
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    return str(ds.get("SOPClassUID", "")) == CT_IMAGE_STORAGE and "LOCALIZER" not in image_type


def first_images(files: Iterable[Path], series_uids: set[str]) -> dict[str, Path]:
    """Series UID -> its lowest-numbered axial CT image among ``files`` (headers only are read)."""
    best: dict[str, tuple[int, Path]] = {}
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_HEADER_TAGS)
        except (InvalidDicomError, OSError, ValueError):
            continue  # unreadable files are the event reader's to report
        series = str(ds.get("SeriesInstanceUID", ""))
        if series not in series_uids or not _axial_image(ds):
            continue
        number = int(ds.get("InstanceNumber") or 0)
        if series not in best or number < best[series][0]:
            best[series] = (number, path)
    return {series: path for series, (_, path) in best.items()}


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


def _with(event: IrradiationEventRow, result: Ssde, note: str | None) -> IrradiationEventRow:
    flags = event.flags
    if result.ssde_mgy is None:
        flags = ",".join(f for f in (flags, _flag_code(note)) if f)[:512]
    return dataclasses.replace(
        event,
        ssde_mgy=result.ssde_mgy,
        ssde_method=result.method,
        water_equivalent_diameter_mm=event.water_equivalent_diameter_mm or result.diameter_mm,
        flags=flags,
    )


def events_with_ssde(
    events: Sequence[IrradiationEventRow], links: Sequence[EventSeriesLinkRow], files: Iterable[Path]
) -> list[IrradiationEventRow]:
    """The events with SSDE and its method filled in where a size is known."""
    series_of: dict[tuple[str, str | None], str] = {
        (link.study_instance_uid, link.irradiation_event_uid): link.series_instance_uid for link in links
    }
    wanted = {
        series_of[(e.study_instance_uid, e.irradiation_event_uid)]
        for e in events
        if e.ssde_mgy is None
        and e.ctdivol_mgy is not None
        and (e.study_instance_uid, e.irradiation_event_uid) in series_of
    }
    images = first_images(files, wanted) if wanted else {}
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
        if series in images:
            if series not in dw_cache:
                dw_cache[series] = image_dw(images[series])
            dw, reason = dw_cache[series]
            if dw is not None:
                out.append(
                    _with(
                        event,
                        ssde_from_diameter(event.ctdivol_mgy, event.phantom, dw, "image_dw_aapm220"),
                        None,
                    )
                )
                continue
        elif series is not None:
            reason = "no axial image of the linked series in the partition"
        if event.water_equivalent_diameter_mm:
            result = ssde_from_diameter(
                event.ctdivol_mgy, event.phantom, event.water_equivalent_diameter_mm, "rdsr_dw_aapm204"
            )
            out.append(_with(event, result, result.reason))
            continue
        out.append(_with(event, Ssde(None, None, reason=reason), reason))
    return out
