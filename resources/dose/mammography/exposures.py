"""A partition's projection exposures from image headers, with the Dance MGD where the QA file allows.

Where no QA file is configured, every MG row says so (``mgd_reason``) and only the modality's figure
is reported. A For Processing image and its For Presentation twin are one exposure: the twin is kept
and the other row marked ``counted = False`` so audits count each exposure once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resources.curation.device_names import DeviceNameMapper
from resources.dose.errors import UnreadableFileError
from resources.dose.mammography.dance import (
    MgdResult,
    incident_air_kerma_mgy,
    mean_glandular_dose,
    percent_difference,
)
from resources.dose.mammography.headers import (
    PROJECTION_MODALITIES,
    ProjectionExposure,
    read_projection_exposure,
)
from resources.dose.mammography.qa_file import SiteQa

logger = logging.getLogger(__name__)

NO_QA_FILE = "no QA file configured: the modality's figure only"


@dataclass
class PartitionExposures:
    rows: list[dict[str, Any]] = field(default_factory=list)
    files_read: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def mg_rows(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["modality"] == "MG"]


def dance_for(exposure: ProjectionExposure, qa: SiteQa | None, station: str | None = None) -> MgdResult:
    """The Dance MGD of one MG exposure with K and HVL from the QA file, or the reason there is none.

    ``station`` is the canonical station name (the curation's mapping), tried before the raw one.
    """
    if qa is None:
        return MgdResult(None, NO_QA_FILE)
    room = (qa.room_for(station, exposure.model_name) if station else None) or qa.room_for(
        exposure.station_name, exposure.model_name
    )
    if room is None:
        return MgdResult(None, "QA file has no room for this station/model")
    quality = qa.beam_quality(room, exposure.anode_target_material, exposure.filter_material, exposure.kvp)
    if isinstance(quality, str):
        return MgdResult(None, quality[:128])
    if exposure.exposure_mas is None or exposure.exposure_mas <= 0:
        return MgdResult(None, "no mAs in the header")
    thickness = exposure.body_part_thickness_mm
    if thickness is None or thickness <= 0:
        return MgdResult(None, "no compressed breast thickness")
    to_breast = exposure.distance_source_to_entrance_mm
    if to_breast is None:
        support = exposure.distance_source_to_support_mm or quality.focus_to_support_mm
        to_breast = support - thickness if support else None
    if to_breast is None or to_breast <= 0:
        return MgdResult(None, "no focus-to-breast distance (header or QA file)")
    k = incident_air_kerma_mgy(
        quality.output_ugy_per_mas, exposure.exposure_mas, quality.output_distance_mm, to_breast
    )
    return mean_glandular_dose(
        k,
        thickness,
        quality.hvl_mm_al,
        exposure.anode_target_material,
        exposure.filter_material,
        tomosynthesis=exposure.is_tomosynthesis,
    )


def exposure_row(exposure: ProjectionExposure, qa: SiteQa | None, tolerance_percent: float) -> dict[str, Any]:
    """The ``header_exposure`` row of one exposure (lineage is added by the warehouse)."""
    row: dict[str, Any] = {
        name: getattr(exposure, name)
        for name in (
            "sop_instance_uid",
            "study_instance_uid",
            "series_instance_uid",
            "sop_class_uid",
            "modality",
            "origin",
            "presentation_intent",
            "is_tomosynthesis",
            "study_date",
            "acquisition_datetime",
            "manufacturer",
            "model_name",
            "station_name",
            "institution_name",
            "operator_key",
            "body_part",
            "view_position",
            "laterality",
            "kvp",
            "exposure_mas",
            "exposure_time_ms",
            "tube_current_ma",
            "anode_target_material",
            "filter_material",
            "filter_thickness_mm",
            "body_part_thickness_mm",
            "compression_force_n",
            "compression_pressure_kpa",
            "compression_contact_area_mm2",
            "relative_xray_exposure",
            "hvl_mm_al",
            "organ_dose_mgy",
            "entrance_dose_mgy",
            "dap_gycm2",
            "exposure_index",
            "target_exposure_index",
            "deviation_index",
            "detector_type",
            "exposure_control_mode",
        )
    }
    names = DeviceNameMapper.default()
    station = names.station(exposure.station_name, exposure.manufacturer)
    institution = names.institution(exposure.institution_name)
    row.update(
        counted=True,
        flags=",".join(exposure.flags),
        station_canonical=station.canonical if station else None,
        institution_canonical=institution.canonical if institution else None,
    )
    canonical = station.canonical if station else None
    result = dance_for(exposure, qa, canonical) if exposure.modality == "MG" else MgdResult(None)
    difference = percent_difference(result.mgd_mgy, exposure.organ_dose_mgy)
    row.update(
        mgd_mgy=result.mgd_mgy,
        mgd_k_mgy=result.k_mgy,
        mgd_hvl_mm_al=result.hvl_mm_al,
        mgd_g=result.g,
        mgd_c=result.c,
        mgd_s=result.s,
        mgd_qa_example=bool(qa is not None and qa.is_example and result.mgd_mgy is not None),
        mgd_reason=result.reason,
        mgd_difference_percent=difference,
        mgd_flagged=difference is not None and abs(difference) > tolerance_percent,
    )
    return row


def _mark_twins(rows: list[dict[str, Any]]) -> None:
    # The same exposure stored For Processing and For Presentation: count the presentation image.
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["presentation_intent"] != "FOR PRESENTATION"):
        if row["modality"] != "MG" or row["acquisition_datetime"] is None:
            continue
        key = (
            row["study_instance_uid"],
            row["laterality"],
            row["view_position"],
            row["acquisition_datetime"],
            row["kvp"],
            row["exposure_mas"],
        )
        if key in seen:
            row["counted"] = False
        else:
            seen[key] = row


def partition_exposures(
    files: Iterable[Path], qa: SiteQa | None, tolerance_percent: float
) -> PartitionExposures:
    """Read every projection image of a partition (other files are skipped unread beyond the header)."""
    result = PartitionExposures()
    for path in files:
        result.files_read += 1
        try:
            exposure = read_projection_exposure(path)
        except UnreadableFileError as exc:
            result.unreadable.append((path.name, str(exc).rsplit(": ", 1)[-1]))
            continue
        if exposure.modality not in PROJECTION_MODALITIES or not exposure.sop_instance_uid:
            continue
        result.rows.append(exposure_row(exposure, qa, tolerance_percent))
    _mark_twins(result.rows)
    logger.info("%d projection exposures from %d files", len(result.rows), result.files_read)
    return result
