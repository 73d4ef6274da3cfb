"""From a partition's de-identified files to dose rows: plain Python, used by the Dagster assets.

Stages (each a function over plain row dicts, so each asset can run its own):

1. :func:`analyse_files`: read every file once (dose SRs fully, images header-only), de-duplicate
   reports and events per study, link events to image series, estimate events for studies with CT
   images and no dose SR; gives ``ct_dose_event``, ``ct_event_series_link`` and ``dose_study_context``
   rows.
2. :func:`study_dose_rows`: per-study totals from the unique events, checked against the reports.
3. :func:`effective_dose_rows`: E per event and per study with a factor set.
4. :func:`drl_audit_tables` and :func:`cumulative_rows`: the whole-warehouse reports.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.errors import InvalidDicomError

from resources import sop_classes
from resources.dose.codes import AcquisitionType, BodyRegion
from resources.dose.cumulative import PatientStudyDose, cumulative_doses
from resources.dose.dedup import deduplicate_study
from resources.dose.drl import AuditStudy, DrlMapping, DrlSet, audit, normalise_name
from resources.dose.effective_dose import (
    FactorSet,
    effective_dose_for_event,
    parse_patient_age,
    region_for_event,
    sum_study,
)
from resources.dose.errors import DoseError, NotADoseReportError
from resources.dose.estimate import estimate_events
from resources.dose.exam_context import ExamContext
from resources.dose.image_headers import ImageHeader, read_image_header
from resources.dose.linking import link_events, summarise_series
from resources.dose.rdsr import CtDoseReport, CtIrradiationEvent, read_dataset

logger = logging.getLogger(__name__)

Row = dict[str, Any]
# Event types that are neither localisers nor bolus-tracking monitoring: they make the CTDIvol a DRL
# survey compares.
DIAGNOSTIC_TYPES = {
    AcquisitionType.SPIRAL.value,
    AcquisitionType.SEQUENCED.value,
    AcquisitionType.CONE_BEAM.value,
    AcquisitionType.FREE.value,
}
_SR_SOP_CLASSES = sop_classes.DOSE_CAPABLE_SOP_CLASSES | {sop_classes.RADIOPHARMACEUTICAL_RADIATION_DOSE_SR}


@dataclass
class PartitionAnalysis:
    events: list[Row] = field(default_factory=list)
    links: list[Row] = field(default_factory=list)
    contexts: list[Row] = field(default_factory=list)
    files_read: int = 0
    dose_reports: int = 0
    not_ct_dose_reports: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)


def _event_row(
    event: CtIrradiationEvent, study_uid: str, index: int, sr_uid: str, seen: int, link_method: str | None
) -> Row:
    source_b = event.sources[1] if len(event.sources) > 1 else None
    return {
        "study_instance_uid": study_uid,
        "irradiation_event_uid": event.irradiation_event_uid,
        "event_index": index,
        "origin": "rdsr",
        "sr_sop_instance_uid": sr_uid,
        "seen_in_reports": seen,
        "acquisition_protocol": (event.acquisition_protocol or None) and event.acquisition_protocol[:128],
        "target_region_code": event.target_region.value if event.target_region else None,
        "target_region_scheme": event.target_region.scheme if event.target_region else None,
        "acquisition_type": event.acquisition_type.value if event.acquisition_type else None,
        "start_datetime": event.start_datetime,
        "ctdivol_mgy": event.ctdivol_mgy,
        "dlp_mgycm": event.dlp_mgycm,
        "phantom": event.phantom.value if event.phantom else None,
        "scanning_length_mm": event.scanning_length_mm,
        "exposure_time_s": event.exposure_time_s,
        "nominal_single_collimation_mm": event.nominal_single_collimation_mm,
        "nominal_total_collimation_mm": event.nominal_total_collimation_mm,
        "pitch_factor": event.pitch_factor,
        "number_of_xray_sources": event.number_of_xray_sources,
        "kvp": event.kvp,
        "tube_current_ma": event.tube_current_ma,
        "kvp_source_b": source_b.kvp if source_b else None,
        "tube_current_ma_source_b": source_b.tube_current_ma if source_b else None,
        "ssde_mgy": event.ssde_mgy,
        "water_equivalent_diameter_mm": event.water_equivalent_diameter_mm,
        "dose_check_alert": any(d.kind == "alert" for d in event.dose_checks),
        "dose_check_notification": any(d.kind == "notification" for d in event.dose_checks),
        "link_method": link_method,
        "flags": ",".join(event.flags)[:512],
    }


def device_label(manufacturer: str | None, model: str | None, observer_uid: str | None) -> str:
    """A readable device name; a short digest of the device UID tells two rooms with one model apart."""
    name = " ".join(p for p in (manufacturer, model) if p) or "unknown device"
    if observer_uid:
        name += f" [{hashlib.sha256(observer_uid.encode()).hexdigest()[:6]}]"
    return name[:128]


def _peek(path: Path) -> tuple[str, str]:
    ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID", "Modality"], force=True)
    return str(ds.get("SOPClassUID", "")), str(ds.get("Modality", ""))


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
    reports: dict[str, list[CtDoseReport]] = defaultdict(list)
    headers: dict[str, list[ImageHeader]] = defaultdict(list)
    for path in paths:
        result.files_read += 1
        try:
            sop_class, _modality = _peek(path)
            if sop_class in _SR_SOP_CLASSES:
                try:
                    report = read_dataset(pydicom.dcmread(path, force=True), path.name)
                except NotADoseReportError:
                    result.not_ct_dose_reports += 1
                    continue
                result.dose_reports += 1
                reports[report.study_instance_uid].append(report)
            else:
                header = read_image_header(path)
                if header.study_instance_uid:
                    headers[header.study_instance_uid].append(header)
        except (DoseError, InvalidDicomError, OSError, ValueError, EOFError, AttributeError) as exc:
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
    study_reports: list[CtDoseReport],
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
                {
                    "study_instance_uid": study_uid,
                    "irradiation_event_uid": link.irradiation_event_uid,
                    "series_instance_uid": link.series_instance_uid,
                    "method": link.method,
                    "time_difference_s": link.time_difference_s,
                }
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
                {
                    "study_instance_uid": study_uid,
                    "irradiation_event_uid": estimated.irradiation_event_uid,
                    "event_index": index,
                    "origin": "estimated",
                    "sr_sop_instance_uid": None,
                    "seen_in_reports": 0,
                    "acquisition_protocol": estimated.acquisition_protocol,
                    "acquisition_type": None,
                    "ctdivol_mgy": estimated.ctdivol_mgy,
                    "dlp_mgycm": estimated.dlp_mgycm,
                    "phantom": estimated.phantom.value if estimated.phantom else None,
                    "scanning_length_mm": estimated.scanning_length_mm,
                    "kvp": estimated.kvp,
                    "tube_current_ma": estimated.tube_current_ma,
                    "link_method": "estimated_from_series",
                    "flags": ",".join(estimated.flags),
                }
            )
            for series_uid in estimated.series_instance_uids:
                result.links.append(
                    {
                        "study_instance_uid": study_uid,
                        "irradiation_event_uid": estimated.irradiation_event_uid or f"estimated:{series_uid}",
                        "series_instance_uid": series_uid,
                        "method": "estimated_from_series",
                        "time_difference_s": None,
                    }
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
        {
            "study_instance_uid": study_uid,
            "patient_pseudonym": patient,
            "study_date": study_date,
            "patient_age_years": parse_patient_age(age_text),
            "device": device,
            "exam_name": exam_name[:128] if exam_name else None,
            "drl_category": category,
            "unmapped_name": None
            if category
            else (normalise_name(exam_name or description or "")[:128] or None),
            "body_part_region": region.value if region else None,
            "has_rdsr": bool(study_reports),
            "n_reports": n_reports,
            "n_duplicate_reports": dup_reports,
            "n_duplicate_events": dup_events,
            "dlp_total_reported_mgycm": reported_total,
            "flags": ",".join(dict.fromkeys(flags))[:512],
        }
    )


def _clean(value: Any) -> Any:
    """pandas gives NaN / NaT for SQL NULL; rows here speak None."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if type(value).__name__ == "NaTType":
        return None
    return value


def clean_rows(records: Iterable[Mapping[str, Any]]) -> list[Row]:
    return [{k: _clean(v) for k, v in r.items()} for r in records]


def study_dose_rows(events: Sequence[Mapping[str, Any]], contexts: Sequence[Mapping[str, Any]]) -> list[Row]:
    """Per-study totals from the unique events; compared with the reports' own totals."""
    by_study: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for event in events:
        by_study[event["study_instance_uid"]].append(event)
    rows: list[Row] = []
    for context in contexts:
        study_uid = context["study_instance_uid"]
        study_events = by_study.get(study_uid, [])
        dlps = [e["dlp_mgycm"] for e in study_events if e.get("dlp_mgycm") is not None]
        total = math.fsum(dlps) if dlps else None
        reported = context.get("dlp_total_reported_mgycm")
        match = None if reported is None or total is None else abs(total - reported) <= 0.05
        diagnostic = [
            e["ctdivol_mgy"]
            for e in study_events
            if e.get("ctdivol_mgy") is not None
            and (e.get("acquisition_type") in DIAGNOSTIC_TYPES or e.get("origin") == "estimated")
            and "localizer" not in (e.get("flags") or "")
        ]
        flags = [f for f in (context.get("flags") or "").split(",") if f]
        if match is False and "total_mismatch" not in flags:
            flags.append("total_mismatch")
        rows.append(
            {
                "study_instance_uid": study_uid,
                "patient_pseudonym": context.get("patient_pseudonym"),
                "study_date": context.get("study_date"),
                "patient_age_years": context.get("patient_age_years"),
                "device": context.get("device"),
                "exam_name": context.get("exam_name"),
                "drl_category": context.get("drl_category"),
                "body_part_region": context.get("body_part_region"),
                "origin": "rdsr" if context.get("has_rdsr") else "estimated",
                "n_events": len(study_events),
                "n_events_with_dose": len(dlps),
                "dlp_total_mgycm": total,
                "dlp_total_reported_mgycm": reported,
                "totals_match": match,
                "ctdivol_diagnostic_mean_mgy": statistics.fmean(diagnostic) if diagnostic else None,
                "flags": ",".join(flags)[:512],
            }
        )
    return rows


def effective_dose_rows(
    events: Sequence[Mapping[str, Any]], studies: Sequence[Mapping[str, Any]], factor_set: FactorSet
) -> tuple[list[Row], list[Row]]:
    """E per event and per study (see :mod:`resources.dose.effective_dose` for the rules)."""
    from resources.dose.codes import Code, Phantom

    by_study: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for event in events:
        by_study[event["study_instance_uid"]].append(event)
    event_rows: list[Row] = []
    study_rows: list[Row] = []
    for study in studies:
        study_uid = study["study_instance_uid"]
        body_part = study.get("body_part_region")
        body_region = BodyRegion(body_part) if body_part else None
        results = []
        for event in sorted(by_study.get(study_uid, []), key=lambda e: e["event_index"]):
            code = event.get("target_region_code")
            target = Code(code, event.get("target_region_scheme") or "") if code else None
            region, method = region_for_event(target, body_region)
            phantom = Phantom(event["phantom"]) if event.get("phantom") else None
            outcome = effective_dose_for_event(
                event.get("dlp_mgycm"), phantom, region, method, study.get("patient_age_years"), factor_set
            )
            results.append(outcome)
            event_rows.append(
                {
                    "study_instance_uid": study_uid,
                    "irradiation_event_uid": event.get("irradiation_event_uid"),
                    "event_index": event["event_index"],
                    "dlp_mgycm": outcome.dlp_mgycm,
                    "k_msv_per_mgycm": outcome.k,
                    "effective_dose_msv": outcome.effective_dose_msv,
                    "factor_set": outcome.factor_set,
                    "factor_set_edition": outcome.factor_set_edition[:128],
                    "region": outcome.region.value if outcome.region else None,
                    "region_method": outcome.region_method,
                    "age_band": outcome.age_band,
                    "age_years": outcome.age_years,
                    "method": outcome.method,
                    "reason": outcome.reason,
                }
            )
        total = sum_study(results)
        study_rows.append(
            {
                "study_instance_uid": study_uid,
                "patient_pseudonym": study.get("patient_pseudonym"),
                "study_date": study.get("study_date"),
                "factor_set": factor_set.name,
                "effective_dose_msv": total.effective_dose_msv,
                "effective_dose_partial_msv": total.effective_dose_partial_msv,
                "events_with_dose": total.events_with_dose,
                "events_without_number": total.events_without_number,
                "origin": study.get("origin") or "rdsr",
                "reason": total.reason[:512] if total.reason else None,
            }
        )
    return event_rows, study_rows


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()[:10]
    return str(value)[:10]


ADULT_AGE_YEARS = 18.0


def _child(age_years: Any) -> bool:
    """National CT DRLs are adult levels: known paediatric studies stay out of the audit."""
    return age_years is not None and float(age_years) < ADULT_AGE_YEARS


@dataclass
class DrlAuditTables:
    rows: list[Row]
    exceeding: list[Row]
    unmapped: list[Row]
    markdown: str
    plot_points: list[tuple[str, float, float | None]]  # (examination, study DLP, DRL DLP)


def drl_audit_tables(
    studies: Sequence[Mapping[str, Any]], drl_set: DrlSet, period: str = "month"
) -> DrlAuditTables:
    """The DRL audit over every study in the warehouse, as rows for the report tables.

    Studies of patients known to be under 18 are left out (the national sets are adult DRLs); studies of
    unknown age stay in.
    """
    from resources.dose.drl import medians_markdown

    audit_studies = [
        AuditStudy(
            study_instance_uid=s["study_instance_uid"],
            device=s.get("device") or "unknown device",
            study_date=_iso(s.get("study_date")) or "0000-00-00",
            category=s.get("drl_category"),
            exam_name=s.get("unmapped_name") or s.get("exam_name"),
            ctdivol_mgy=s.get("ctdivol_diagnostic_mean_mgy"),
            dlp_mgycm=s.get("dlp_total_mgycm"),
        )
        for s in studies
        if s.get("study_date") is not None and not _child(s.get("patient_age_years"))
    ]
    result = audit(audit_studies, drl_set, period)
    by_uid = {s.study_instance_uid: s for s in audit_studies}
    rows = [
        {
            "drl_set": g.drl_set,
            "category": g.category,
            "examination": g.examination[:128],
            "device": g.device,
            "period": g.period,
            "n_studies": g.n_studies,
            "median_ctdivol_mgy": g.median_ctdivol_mgy,
            "median_dlp_mgycm": g.median_dlp_mgycm,
            "drl_ctdivol_mgy": g.drl_ctdivol_mgy,
            "drl_dlp_mgycm": g.drl_dlp_mgycm,
            "median_ctdivol_exceeds": g.median_ctdivol_exceeds,
            "median_dlp_exceeds": g.median_dlp_exceeds,
            "n_exceeding": len(g.exceeding_study_uids),
        }
        for g in result.groups
    ]
    exceeding = [
        {
            "drl_set": g.drl_set,
            "category": g.category,
            "device": g.device,
            "period": g.period,
            "study_instance_uid": uid,
            "ctdivol_mgy": by_uid[uid].ctdivol_mgy,
            "dlp_mgycm": by_uid[uid].dlp_mgycm,
        }
        for g in result.groups
        for uid in g.exceeding_study_uids
    ]
    unmapped = [{"name": name[:128], "n_studies": n} for name, n in sorted(result.unmapped_names.items())]
    points = [
        (drl_set.levels[s.category].examination, s.dlp_mgycm, drl_set.levels[s.category].dlp_mgycm)
        for s in audit_studies
        if s.category in drl_set.levels and s.dlp_mgycm is not None
    ]
    return DrlAuditTables(rows, exceeding, unmapped, medians_markdown(result), points)


def cumulative_rows(
    studies: Sequence[Mapping[str, Any]],
    windows_years: Sequence[int],
    threshold_msv: float,
    factor_set: str,
) -> list[Row]:
    """Rolling-window cumulative effective dose per patient, as report rows."""
    entries = []
    for s in studies:
        date = s.get("study_date")
        if not s.get("patient_pseudonym") or date is None:
            continue
        if isinstance(date, dt.datetime):
            date = date.date()
        elif isinstance(date, str):
            date = dt.date.fromisoformat(date[:10])
        elif not isinstance(date, dt.date):
            date = date.date()  # pandas Timestamp
        entries.append(
            PatientStudyDose(
                s["patient_pseudonym"], s["study_instance_uid"], date, s.get("effective_dose_msv")
            )
        )
    return [
        {
            "patient_pseudonym": c.patient_pseudonym,
            "window_years": c.window_years,
            "factor_set": factor_set,
            "n_studies": c.n_studies,
            "studies_without_dose": c.studies_without_dose,
            "max_rolling_msv": c.max_rolling_msv,
            "max_window_start": c.max_window_start,
            "max_window_end": c.max_window_end,
            "current_msv": c.current_msv,
            "threshold_msv": c.threshold_msv,
            "alert": c.alert,
        }
        for c in cumulative_doses(entries, windows_years, threshold_msv)
    ]
