"""From a partition's de-identified files to the dose engine's first rows: events, links, study contexts.

:func:`analyse_files` reads every file once (dose SRs fully, images header-only), de-duplicates reports
and events per study, links events to image series and estimates events for studies with CT images and
no dose SR. The later stages work on these rows: :mod:`resources.dose.study_rows` (per-study totals and
effective dose) and :mod:`resources.dose.report_rows` (the whole-warehouse reports).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from resources import sop_classes
from resources.dose.dedup import deduplicate_study
from resources.dose.dose_rows import EventSeriesLinkRow, IrradiationEventRow, StudyContextRow
from resources.dose.drl import DrlMapping, normalise_name
from resources.dose.effective_dose import parse_patient_age
from resources.dose.errors import DoseError, NotADoseReportError
from resources.dose.estimate import estimate_events
from resources.dose.exam_context import ExamContext
from resources.dose.image_headers import ImageHeader, read_image_header
from resources.dose.linking import link_events, summarise_series
from resources.dose.rdsr.content_items import PYDICOM_READ_ERRORS
from resources.dose.rdsr.ct_dose_check_details import DoseCheckKind
from resources.dose.rdsr.ct_irradiation_event_data import CTIrradiationEventData
from resources.dose.rdsr.ct_radiation_dose import CTRadiationDose, read_dataset
from resources.dose.rdsr.projection_file import peek_sop_class, read_lean_file

logger = logging.getLogger(__name__)

_SR_SOP_CLASSES = sop_classes.DOSE_CAPABLE_SOP_CLASSES | {sop_classes.RADIOPHARMACEUTICAL_RADIATION_DOSE_SR}


@dataclass
class PartitionAnalysis:
    """A partition's rows (without lineage) and what was read to make them."""

    events: list[IrradiationEventRow] = field(default_factory=list)
    links: list[EventSeriesLinkRow] = field(default_factory=list)
    contexts: list[StudyContextRow] = field(default_factory=list)
    files_read: int = 0
    dose_reports: int = 0
    not_ct_dose_reports: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)


def _event_row(
    event: CTIrradiationEventData,
    study_uid: str,
    index: int,
    sr_uid: str,
    seen: int,
    link_method: str | None,
) -> IrradiationEventRow:
    source_b = event.sources[1] if len(event.sources) > 1 else None
    return IrradiationEventRow(
        study_instance_uid=study_uid,
        irradiation_event_uid=event.irradiation_event_uid,
        event_index=index,
        origin="rdsr",
        sr_sop_instance_uid=sr_uid,
        seen_in_reports=seen,
        acquisition_protocol=(event.acquisition_protocol or None) and event.acquisition_protocol[:128],
        target_region_code=event.target_region.value if event.target_region else None,
        target_region_scheme=event.target_region.scheme if event.target_region else None,
        acquisition_type=event.acquisition_type.value if event.acquisition_type else None,
        start_datetime=event.start_datetime,
        ctdivol_mgy=event.ctdivol_mgy,
        dlp_mgycm=event.dlp_mgycm,
        phantom=event.phantom.value if event.phantom else None,
        scanning_length_mm=event.scanning_length_mm,
        exposure_time_s=event.exposure_time_s,
        nominal_single_collimation_mm=event.nominal_single_collimation_mm,
        nominal_total_collimation_mm=event.nominal_total_collimation_mm,
        pitch_factor=event.pitch_factor,
        number_of_xray_sources=event.number_of_xray_sources,
        kvp=event.kvp,
        tube_current_ma=event.tube_current_ma,
        kvp_source_b=source_b.kvp if source_b else None,
        tube_current_ma_source_b=source_b.tube_current_ma if source_b else None,
        ssde_mgy=event.ssde_mgy,
        water_equivalent_diameter_mm=event.water_equivalent_diameter_mm,
        dose_check_alert=any(d.kind is DoseCheckKind.ALERT for d in event.dose_checks),
        dose_check_notification=any(d.kind is DoseCheckKind.NOTIFICATION for d in event.dose_checks),
        link_method=link_method,
        flags=",".join(event.flags)[:512],
    )


def device_label(manufacturer: str | None, model: str | None, observer_uid: str | None) -> str:
    """A readable device name; a short digest of the device UID tells two rooms with one model apart."""
    name = " ".join(p for p in (manufacturer, model) if p) or "unknown device"
    if observer_uid:
        name += f" [{hashlib.sha256(observer_uid.encode()).hexdigest()[:6]}]"
    return name[:128]


def _sop_class_of(path: Path) -> str:
    # From the file's first bytes: pydicom's specific_tags reading still parses every undefined-length
    # sequence first (seconds for a large fluoroscopy report, which this CT stage then only rejects).
    sop_class = peek_sop_class(path)
    if sop_class is None:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"], force=True)
        sop_class = str(ds.get("SOPClassUID", ""))
    return sop_class


def _dose_report_dataset(path: Path) -> pydicom.Dataset:
    # The top level with the content tree left as raw bytes, which the reader parses itself (the same
    # report as through pydicom, checked on every openrem file); pydicom reads anything unusual.
    lean = read_lean_file(path)
    return lean.dataset if lean is not None else pydicom.dcmread(path, force=True)


def analyse_files(
    paths: Iterable[Path],
    exam_context: ExamContext,
    mapping: DrlMapping,
    link_window_s: float = 120.0,
) -> PartitionAnalysis:
    """Read a partition's files and build event, link and study-context rows.

    Parameters
    ----------
    paths
        The partition's de-identified DICOM files.
    exam_context
        Body-part region inference and exam-name normalisation (the curation engine).
    mapping
        Exam name -> DRL category.
    link_window_s
        Time window for linking events to series without an Irradiation Event UID.

    Returns
    -------
    PartitionAnalysis
        Rows without lineage columns; unreadable files are listed with the reason (never raised).
    """
    result = PartitionAnalysis()
    reports: dict[str, list[CTRadiationDose]] = defaultdict(list)
    headers: dict[str, list[ImageHeader]] = defaultdict(list)
    for path in paths:
        result.files_read += 1
        try:
            if _sop_class_of(path) in _SR_SOP_CLASSES:
                try:
                    report = read_dataset(_dose_report_dataset(path), path.name)
                except NotADoseReportError:
                    result.not_ct_dose_reports += 1
                    continue
                result.dose_reports += 1
                reports[report.study_instance_uid].append(report)
            else:
                header = read_image_header(path)
                if header.study_instance_uid:
                    headers[header.study_instance_uid].append(header)
        except (DoseError, InvalidDicomError, AttributeError, *PYDICOM_READ_ERRORS) as exc:
            result.unreadable.append((path.name, f"{type(exc).__name__}"))
            logger.warning("dose: skipped unreadable file %s (%s)", path.name, type(exc).__name__)
    for study_uid in sorted(set(reports) | set(headers)):
        _analyse_study(
            study_uid,
            reports.get(study_uid, []),
            headers.get(study_uid, []),
            exam_context,
            mapping,
            link_window_s,
            result,
        )
    return result


def _analyse_study(
    study_uid: str,
    study_reports: list[CTRadiationDose],
    study_headers: list[ImageHeader],
    exam_context: ExamContext,
    mapping: DrlMapping,
    link_window_s: float,
    result: PartitionAnalysis,
) -> None:
    series = summarise_series(study_headers)
    ct_headers = [h for h in study_headers if h.modality == "CT"]
    if not study_reports and not ct_headers:
        return  # not a CT study
    flags: list[str] = []
    if study_reports:
        dedup = deduplicate_study(study_uid, study_reports)
        links = link_events([u.event for u in dedup.events], series, link_window_s)
        method_by_event: dict[str, str] = {}
        for link in links:
            method_by_event.setdefault(link.irradiation_event_uid, link.method)
            result.links.append(
                EventSeriesLinkRow(
                    study_instance_uid=study_uid,
                    irradiation_event_uid=link.irradiation_event_uid,
                    series_instance_uid=link.series_instance_uid,
                    method=link.method,
                    time_difference_s=link.time_difference_s,
                )
            )
        for index, unique in enumerate(dedup.events):
            uid = unique.event.irradiation_event_uid
            result.events.append(
                _event_row(
                    unique.event,
                    study_uid,
                    index,
                    unique.report.sop_instance_uid,
                    unique.seen_in_reports,
                    method_by_event.get(uid) if uid else None,
                )
            )
        first = dedup.reports[0]
        flags.extend(dedup.flags)
        flags.extend(f for r in dedup.reports for f in r.flags)
        patient = first.patient_id
        age_text = first.patient_age
        study_date = first.study_date
        device = device_label(
            first.device_observer.manufacturer or first.manufacturer,
            first.device_observer.model_name or first.model_name,
            first.device_observer.uid,
        )
        description = first.study_description
        protocols = [u.event.acquisition_protocol for u in dedup.events]
        n_reports, dup_reports, dup_events = (
            len(dedup.reports),
            dedup.duplicate_reports,
            dedup.duplicate_events,
        )
        reported_total = dedup.dlp_total_reported
    else:
        for index, estimated in enumerate(estimate_events(series)):
            result.events.append(
                IrradiationEventRow(
                    study_instance_uid=study_uid,
                    irradiation_event_uid=estimated.irradiation_event_uid,
                    event_index=index,
                    origin="estimated",
                    sr_sop_instance_uid=None,
                    seen_in_reports=0,
                    acquisition_protocol=estimated.acquisition_protocol,
                    acquisition_type=None,
                    ctdivol_mgy=estimated.ctdivol_mgy,
                    dlp_mgycm=estimated.dlp_mgycm,
                    phantom=estimated.phantom.value if estimated.phantom else None,
                    scanning_length_mm=estimated.scanning_length_mm,
                    kvp=estimated.kvp,
                    tube_current_ma=estimated.tube_current_ma,
                    link_method="estimated_from_series",
                    flags=",".join(estimated.flags),
                )
            )
            for series_uid in estimated.series_instance_uids:
                result.links.append(
                    EventSeriesLinkRow(
                        study_instance_uid=study_uid,
                        irradiation_event_uid=estimated.irradiation_event_uid or f"estimated:{series_uid}",
                        series_instance_uid=series_uid,
                        method="estimated_from_series",
                        time_difference_s=None,
                    )
                )
        first_header = ct_headers[0]
        patient, age_text, study_date = (
            first_header.patient_id,
            first_header.patient_age,
            first_header.study_date,
        )
        device = device_label(first_header.manufacturer, first_header.model_name, None)
        description = first_header.study_description
        protocols = [h.protocol_name for h in ct_headers]
        n_reports = dup_reports = dup_events = 0
        reported_total = None
        flags.append("estimated")
    if patient is None:
        patient = next((h.patient_id for h in study_headers if h.patient_id), None)
    if age_text is None:
        age_text = next((h.patient_age for h in study_headers if h.patient_age), None)
    if description is None:
        description = next((h.study_description for h in study_headers if h.study_description), None)
    exam_name = exam_context.exam_name(description) if description else None
    category = mapping.category_for(exam_name, description, *protocols)
    body_part = next((h.body_part for h in ct_headers if h.body_part), None)
    region = exam_context.infer_region(body_part) if body_part else None
    result.contexts.append(
        StudyContextRow(
            study_instance_uid=study_uid,
            patient_pseudonym=patient,
            study_date=study_date,
            patient_age_years=parse_patient_age(age_text),
            device=device,
            exam_name=exam_name[:128] if exam_name else None,
            drl_category=category,
            unmapped_name=None
            if category
            else (normalise_name(exam_name or description or "")[:128] or None),
            body_part_region=region.value if region else None,
            has_rdsr=bool(study_reports),
            n_reports=n_reports,
            n_duplicate_reports=dup_reports,
            n_duplicate_events=dup_events,
            dlp_total_reported_mgycm=reported_total,
            flags=",".join(dict.fromkeys(flags))[:512],
        )
    )
