"""``dicom-lake rdsr FILE...``: what the dose SR readers found in each file, as JSON.

CT reports (TID 10011) and projection X-ray reports (TID 10001: fluoroscopy, radiography, mammography)
are printed alike: the document type, the totals (the report's own beside those recomputed from its
events) and every irradiation event with its fields and flags.

One JSON object per file, one per line (``--indent`` for people). Patient name, ID and free-text
descriptions are never printed; the patient's age is (effective dose depends on it).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import enum
import json
import sys
from pathlib import Path
from typing import Any

from resources.dose.codes import Code
from resources.dose.dedup import TOTAL_TOLERANCE_MGYCM
from resources.dose.errors import NotADoseReportError, UnreadableFileError
from resources.dose.projection_dedup import DAP_ROUNDING_GYM2, DOSE_RP_ROUNDING_GY, totals_match
from resources.dose.rdsr.ct_radiation_dose import CTRadiationDose, read_ct_radiation_dose
from resources.dose.rdsr.projection_radiation_dose import (
    ProjectionXRayRadiationDose,
    read_projection_radiation_dose,
)

_NEVER_PRINTED = {"patient_id", "study_description", "source"}
# Document types that set exit status 1: the file could not be read as DICOM at all. A readable DICOM
# object of another kind (an image, another SR) is an answer, not a failure.
FAILED_DOCUMENT_TYPES = frozenset({"missing", "unreadable", "not_dicom"})
PROJECTION_DOCUMENT_TYPES = frozenset({"projection_xray_dose_sr", "mammography_dose_sr"})


def _plain(value: Any) -> Any:
    if isinstance(value, Code):
        return {"value": value.value, "scheme": value.scheme}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def report_as_json(path: str, report: CTRadiationDose) -> dict[str, Any]:
    """The reader's result for one file as a JSON-ready dict (patient identity left out)."""
    body = {k: v for k, v in _plain(report).items() if k not in _NEVER_PRINTED}
    reported = report.accumulated.dlp_total_mgycm
    from_events = round(report.dlp_total_from_events, 6)
    body["totals"] = {
        "reported": body.pop("accumulated"),
        "dlp_total_from_events_mgycm": from_events,
        "events_read": len(report.events),
        "dlp_total_matches": None
        if reported is None
        else abs(reported - from_events) <= TOTAL_TOLERANCE_MGYCM,
    }
    for event in body["events"]:
        region = event.get("target_region")
        event["target_region"] = (
            None if region is None else {**region, "meaning": event.pop("target_region_meaning")}
        )
        event.pop("target_region_meaning", None)
    return {"file": path, **body}


def projection_report_as_json(path: str, report: ProjectionXRayRadiationDose) -> dict[str, Any]:
    """A projection report as a JSON-ready dict: per plane, the stated totals beside the events' sums."""
    body = {k: v for k, v in _plain(report).items() if k not in _NEVER_PRINTED}
    body.pop("accumulated")
    planes = []
    for plane in report.planes:
        stated = report.accumulated_for(plane)
        events = report.events_in(plane)
        dap, dose_rp = report.dap_total_from_events(plane), report.dose_rp_total_from_events(plane)
        planes.append(
            {
                "plane": plane.value,
                "reported": _plain(stated),
                "events_read": len(events),
                "dap_total_from_events_gym2": round(dap, 12),
                "dose_rp_total_from_events_gy": round(dose_rp, 9),
                "dap_total_matches": totals_match(
                    dap,
                    stated.dose_area_product_total_gym2 if stated else None,
                    len(events),
                    DAP_ROUNDING_GYM2,
                ),
                "dose_rp_total_matches": totals_match(
                    dose_rp, stated.dose_rp_total_gy if stated else None, len(events), DOSE_RP_ROUNDING_GY
                )
                if any(e.dose_rp_gy is not None for e in events)
                else None,
            }
        )
    body["totals"] = {"planes": planes, "events_read": len(report.events)}
    return {"file": path, **body}


def describe_file(path: str) -> dict[str, Any]:
    """What the readers make of one file (errors become a JSON object with the reason)."""
    try:
        report = read_ct_radiation_dose(path)
    except NotADoseReportError as exc:
        if exc.document_type in PROJECTION_DOCUMENT_TYPES:
            return _describe_projection(path)
        return {"file": path, "document_type": exc.document_type, "reason": exc.reason}
    except UnreadableFileError as exc:
        # The CT reader refuses a damaged content tree; a truncated projection report is read in part.
        projection = _describe_projection(path)
        if "kind" in projection:  # read (in part) as a projection report
            return projection
        return {"file": path, "document_type": "unreadable", "reason": str(exc)}
    return report_as_json(path, report)


def _describe_projection(path: str) -> dict[str, Any]:
    try:
        return projection_report_as_json(path, read_projection_radiation_dose(path))
    except NotADoseReportError as exc:
        return {"file": path, "document_type": exc.document_type, "reason": exc.reason}
    except UnreadableFileError as exc:
        return {"file": path, "document_type": "unreadable", "reason": str(exc)}


def _rdsr(args: argparse.Namespace) -> int:
    """Describe every file; 1 if any is missing, unreadable or not DICOM (the others still printed)."""
    worst = 0
    for name in args.files:
        if not Path(name).is_file():
            result: dict[str, Any] = {"file": name, "document_type": "missing", "reason": "no such file"}
        else:
            result = describe_file(name)
        if result["document_type"] in FAILED_DOCUMENT_TYPES:
            worst = 1
        sys.stdout.write(json.dumps(result, indent=args.indent, ensure_ascii=False) + "\n")
    return worst


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rdsr",
        help="show what the dose SR readers find in files (JSON, one object per file)",
        description="Read CT Radiation Dose SRs (TID 10011, also in GE Enhanced SRs) and Projection X-Ray "
        "Radiation Dose SRs (TID 10001: fluoroscopy, radiography, mammography) and print, per file, the "
        "document type, the totals and every irradiation event with its fields and flags. A file that is "
        "not a dose report is named as such. Exit status 1 if a file is missing, unreadable or not DICOM.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--indent", type=int, default=None, help="pretty-print with this indent")
    parser.set_defaults(handler=_rdsr)
