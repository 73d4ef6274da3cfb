"""From a partition's de-identified files to the projection X-ray dose rows: events, totals, links, contexts.

:func:`analyse_projection_files` reads every file once: projection dose SRs (TID 10001) fully, images
header-only (for their Irradiation Event UID). Reports are de-duplicated per study
(:mod:`resources.dose.projection_dedup`) and each unique event is linked to the image instances that
carry its Irradiation Event UID (0008,3010): de-identification remaps that UID in the image and in the
SR (DCM 113769) with the same keyed function, so the link holds in the research zone. Projection images
are linked by UID only: a fluoroscopy run's images carry it, and timing guesses across hundreds of short
events would link wrongly. The per-study totals recomputed from the events are the next stage's
(:mod:`resources.dose.projection_study`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from resources import sop_classes
from resources.dose.errors import DoseError, NotADoseReportError
from resources.dose.image_headers import ImageHeader, read_image_header
from resources.dose.partition_events import device_label
from resources.dose.projection_dedup import ProjectionStudyEvents, deduplicate_projection_study
from resources.dose.projection_rows import (
    ProjectionAccumulatedDoseRow,
    ProjectionDoseEventRow,
    ProjectionEventLinkRow,
    ProjectionStudyContextRow,
)
from resources.dose.rdsr.content_items import PYDICOM_READ_ERRORS
from resources.dose.rdsr.document import DoseReportKind
from resources.dose.rdsr.projection_codes import AcquisitionPlane, IrradiationEventType, Laterality
from resources.dose.rdsr.projection_file import peek_sop_class
from resources.dose.rdsr.projection_irradiation_event_data import ProjectionIrradiationEventData
from resources.dose.rdsr.projection_radiation_dose import (
    ProjectionXRayRadiationDose,
    plane_of,
    read_projection_radiation_dose,
)

logger = logging.getLogger(__name__)

LINK_BY_UID = "irradiation_event_uid"
_SR_SOP_CLASSES = sop_classes.DOSE_CAPABLE_SOP_CLASSES
_FLAGS_LENGTH = 512


@dataclass
class ProjectionPartitionAnalysis:
    """A partition's projection dose rows (without lineage) and what was read to make them."""

    events: list[ProjectionDoseEventRow] = field(default_factory=list)
    accumulated: list[ProjectionAccumulatedDoseRow] = field(default_factory=list)
    links: list[ProjectionEventLinkRow] = field(default_factory=list)
    contexts: list[ProjectionStudyContextRow] = field(default_factory=list)
    files_read: int = 0
    projection_reports: int = 0
    partial_reports: int = 0
    other_files: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)


def _flags(values: Iterable[str]) -> str:
    return ",".join(dict.fromkeys(values))[:_FLAGS_LENGTH]


def _sop_class(path: Path) -> str:
    peeked = peek_sop_class(path)
    if peeked is not None:
        return peeked
    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"], force=True)
    return str(ds.get("SOPClassUID", ""))


def analyse_projection_files(paths: Iterable[Path]) -> ProjectionPartitionAnalysis:
    """Read a partition's files and build the projection event, total, link and study-context rows.

    Unreadable files are listed with the reason (never raised); a truncated report contributes the
    events it holds and is counted in ``partial_reports`` (its study's flags say so).
    """
    result = ProjectionPartitionAnalysis()
    reports: dict[str, list[ProjectionXRayRadiationDose]] = defaultdict(list)
    instances: dict[str, list[ImageHeader]] = defaultdict(list)
    for path in paths:
        result.files_read += 1
        try:
            sop_class = _sop_class(path)
            if not sop_class:
                # dcmread(force=True) makes an empty dataset of any bytes: no SOP class, not DICOM.
                result.unreadable.append((path.name, "no SOP Class UID"))
                continue
            if sop_class in _SR_SOP_CLASSES:
                try:
                    report = read_projection_radiation_dose(path)
                except NotADoseReportError:
                    result.other_files += 1
                    continue
                result.projection_reports += 1
                result.partial_reports += int(report.partial)
                reports[report.study_instance_uid].append(report)
            else:
                header = read_image_header(path)
                if header.irradiation_event_uids and header.study_instance_uid:
                    instances[header.study_instance_uid].append(header)
                else:
                    result.other_files += 1
        except (DoseError, InvalidDicomError, AttributeError, *PYDICOM_READ_ERRORS) as exc:
            result.unreadable.append((path.name, type(exc).__name__))
            logger.warning("projection dose: skipped unreadable file %s (%s)", path.name, type(exc).__name__)
    for study_uid in sorted(reports):
        _analyse_study(
            deduplicate_projection_study(study_uid, reports[study_uid]), instances[study_uid], result
        )
    return result


def _analyse_study(
    study: ProjectionStudyEvents, headers: list[ImageHeader], result: ProjectionPartitionAnalysis
) -> None:
    uid = study.study_instance_uid
    by_event: dict[str, list[ImageHeader]] = defaultdict(list)
    for header in headers:
        for carried in header.irradiation_event_uids:
            by_event[carried].append(header)
    first = study.reports[0]
    for index, unique in enumerate(study.events):
        event_uid = unique.event.irradiation_event_uid
        linked = by_event.get(event_uid, []) if event_uid else []
        for header in linked:
            result.links.append(
                ProjectionEventLinkRow(
                    study_instance_uid=uid,
                    irradiation_event_uid=event_uid or "",
                    series_instance_uid=header.series_instance_uid,
                    sop_instance_uid=header.sop_instance_uid,
                    modality=header.modality[:16],
                    method=LINK_BY_UID,
                )
            )
        result.events.append(
            event_row(unique.event, uid, index, unique.report, unique.seen_in_reports, len(linked))
        )
    for report in study.reports:
        for totals in report.accumulated:
            result.accumulated.append(
                ProjectionAccumulatedDoseRow(
                    study_instance_uid=uid,
                    sr_sop_instance_uid=report.sop_instance_uid,
                    acquisition_plane=plane_of(totals.acquisition_plane).value,
                    dose_area_product_total_gym2=totals.dose_area_product_total_gym2,
                    dose_rp_total_gy=totals.dose_rp_total_gy,
                    fluoro_dose_area_product_total_gym2=totals.fluoro_dose_area_product_total_gym2,
                    fluoro_dose_rp_total_gy=totals.fluoro_dose_rp_total_gy,
                    total_fluoro_time_s=totals.total_fluoro_time_s,
                    acquisition_dose_area_product_total_gym2=totals.acquisition_dose_area_product_total_gym2,
                    acquisition_dose_rp_total_gy=totals.acquisition_dose_rp_total_gy,
                    total_acquisition_time_s=totals.total_acquisition_time_s,
                    total_number_of_radiographic_frames=totals.total_number_of_radiographic_frames,
                    reference_point_definition=_cut(totals.reference_point_definition, 64),
                    accumulated_agd_left_mgy=totals.agd_mgy(Laterality.LEFT),
                    accumulated_agd_right_mgy=totals.agd_mgy(Laterality.RIGHT),
                    flags=_flags(totals.flags),
                )
            )
    result.contexts.append(context_row(study, first))


def _cut(text: str | None, length: int) -> str | None:
    return text[:length] if text else None


def _reported_sum(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def context_row(
    study: ProjectionStudyEvents, first: ProjectionXRayRadiationDose
) -> ProjectionStudyContextRow:
    """The study's facts and the reports' own totals (planes A and B kept apart for dose at RP)."""
    planes = {p.plane: p for p in study.planes}
    a = planes.get(AcquisitionPlane.SINGLE) or planes.get(AcquisitionPlane.PLANE_A)
    b = planes.get(AcquisitionPlane.PLANE_B)
    fluoro_time = _reported_sum(p.total_fluoro_time_reported_s for p in study.planes)
    is_fluoroscopy = first.kind is DoseReportKind.PROJECTION_XRAY and (
        any(u.event.event_type is IrradiationEventType.FLUOROSCOPY for u in study.events) or bool(fluoro_time)
    )
    observer = first.device_observer
    modality, inferred = study_modality(first.modality, first.kind, is_fluoroscopy)
    flags = [*study.flags, "modality_inferred"] if inferred else list(study.flags)
    return ProjectionStudyContextRow(
        study_instance_uid=study.study_instance_uid,
        patient_pseudonym=first.patient_id,
        study_date=first.study_date,
        device=device_label(
            observer.manufacturer or first.manufacturer, observer.model_name or first.model_name, observer.uid
        ),
        modality=modality,
        report_kind=first.kind.value,
        is_fluoroscopy=is_fluoroscopy,
        n_reports=len(study.reports),
        n_duplicate_reports=study.duplicate_reports,
        n_duplicate_events=study.duplicate_events,
        n_planes=len(study.planes),
        dap_total_reported_gym2=_reported_sum(p.dap_total_reported_gym2 for p in study.planes),
        dose_rp_total_reported_a_gy=a.dose_rp_total_reported_gy if a else None,
        dose_rp_total_reported_b_gy=b.dose_rp_total_reported_gy if b else None,
        total_fluoro_time_reported_s=fluoro_time,
        total_acquisition_time_reported_s=_reported_sum(
            p.total_acquisition_time_reported_s for p in study.planes
        ),
        agd_left_reported_mgy=study.agd_reported_mgy.get(Laterality.LEFT),
        agd_right_reported_mgy=study.agd_reported_mgy.get(Laterality.RIGHT),
        flags=_flags(flags),
    )


def study_modality(header: str | None, kind: DoseReportKind, is_fluoroscopy: bool) -> tuple[str, bool]:
    """``(modality, inferred)``: an SR's own Modality is "SR", so the report's content names it, as
    OpenREM does (mammography -> MG, fluoroscopy events or time -> RF, otherwise DX)."""
    if header and header not in ("SR", "KO"):
        return header[:16], False
    if kind is DoseReportKind.MAMMOGRAPHY:
        return "MG", True
    return ("RF" if is_fluoroscopy else "DX"), True


def event_row(
    event: ProjectionIrradiationEventData,
    study_uid: str,
    index: int,
    report: ProjectionXRayRadiationDose,
    seen: int,
    n_linked: int,
) -> ProjectionDoseEventRow:
    """One unique event as its warehouse row (codes kept as value + scheme, units in the names)."""
    materials = "+".join(f.material.value for f in event.filters if f.material) or None
    thickness = [f.thickness_maximum_mm for f in event.filters if f.thickness_maximum_mm is not None]
    return ProjectionDoseEventRow(
        study_instance_uid=study_uid,
        irradiation_event_uid=event.irradiation_event_uid,
        event_index=index,
        sr_sop_instance_uid=report.sop_instance_uid,
        seen_in_reports=seen,
        report_kind=report.kind.value,
        acquisition_plane=plane_of(event.acquisition_plane).value,
        event_type=event.event_type.value if event.event_type else None,
        datetime_started=event.datetime_started,
        acquisition_protocol=_cut(event.acquisition_protocol, 128),
        anatomy_code=_cut(event.anatomical_structure.value, 32) if event.anatomical_structure else None,
        anatomy_scheme=_cut(event.anatomical_structure.scheme, 16) if event.anatomical_structure else None,
        target_region_code=_cut(event.target_region.value, 32) if event.target_region else None,
        target_region_scheme=_cut(event.target_region.scheme, 16) if event.target_region else None,
        laterality=event.laterality.value if event.laterality else None,
        view=_cut(event.view, 32),
        dose_area_product_gym2=event.dose_area_product_gym2,
        dose_rp_gy=event.dose_rp_gy,
        reference_point_definition=_cut(event.reference_point_definition, 64),
        kvp=event.kvp,
        tube_current_ma=event.tube_current_ma,
        average_tube_current_ma=event.average_tube_current_ma,
        exposure_uas=event.exposure_uas,
        exposure_time_ms=event.exposure_time_ms,
        pulse_width_ms=event.pulse_width_ms,
        pulse_rate_per_s=event.pulse_rate_per_s,
        number_of_pulses=event.number_of_pulses,
        irradiation_duration_s=event.irradiation_duration_s,
        fluoro_mode=event.fluoro_mode,
        filter_materials=_cut(materials, 128),
        filter_thickness_mm=sum(thickness) if thickness else None,
        focal_spot_size_mm=event.focal_spot_size_mm,
        collimated_field_area_m2=event.collimated_field_area_m2,
        collimated_field_height_mm=event.collimated_field_height_mm,
        collimated_field_width_mm=event.collimated_field_width_mm,
        distance_source_to_detector_mm=event.distance_source_to_detector_mm,
        distance_source_to_isocenter_mm=event.distance_source_to_isocenter_mm,
        distance_source_to_reference_point_mm=event.distance_source_to_reference_point_mm,
        table_longitudinal_position_mm=event.table_longitudinal_position_mm,
        table_lateral_position_mm=event.table_lateral_position_mm,
        table_height_position_mm=event.table_height_position_mm,
        positioner_primary_angle_deg=event.positioner_primary_angle_deg,
        positioner_secondary_angle_deg=event.positioner_secondary_angle_deg,
        patient_equivalent_thickness_mm=event.patient_equivalent_thickness_mm,
        compression_thickness_mm=event.compression_thickness_mm,
        compression_force_n=event.compression_force_n,
        compression_pressure_kpa=event.compression_pressure_kpa,
        compression_contact_area_mm2=event.compression_contact_area_mm2,
        anode_target_material_code=_cut(event.anode_target_material.value, 32)
        if event.anode_target_material
        else None,
        half_value_layer_mm=event.half_value_layer_mm,
        entrance_exposure_at_rp_mgy=event.entrance_exposure_at_rp_mgy,
        average_glandular_dose_mgy=event.average_glandular_dose_mgy,
        exposure_index=event.exposure_index,
        target_exposure_index=event.target_exposure_index,
        deviation_index=event.deviation_index,
        n_linked_instances=n_linked,
        flags=_flags(event.flags),
    )
