"""Which fields of a flattened header record go into which curation table's row.

A record is the mapping :func:`~resources.curation.flatten.flatten_dataset` returns; the functions here
only select and rename its fields (the normalisation happened while flattening), so each table's
columns are listed in one place.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from resources.curation.body_region import BodyRegionResult
from resources.curation.device_names import NameMatch, serial_pseudonym

MG_MODALITIES = frozenset({"MG"})
# Every SR Storage SOP Class (PS3.4 B.5) starts so: a CT dose SR carries Modality SR or CT, and is no
# CT acquisition either way.
SR_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88"
CT_FIELDS = (
    "irradiation_event_uid",
    "ctdivol_mgy",
    "ctdi_phantom",
    "kvp",
    "tube_current_ma",
    "exposure_mas",
    "exposure_time_ms",
    "slice_thickness_mm",
    "spiral_pitch_factor",
    "table_position_mm",
)
MG_FIELDS = (
    "organ_dose_mgy",
    "entrance_dose_mgy",
    "body_part_thickness_mm",
    "compression_force_n",
    "kvp",
    "exposure_mas",
    "anode_target_material",
    "filter_material",
    "view_position",
    "laterality",
)
STUDY_FIELDS = (
    "patient_pseudonym",
    "patient_sex",
    "study_date",
    "study_time",
    "study_description",
    "patient_age_years",
    "age_source",
    "patient_weight_kg",
)
SERIES_FIELDS = (
    "modality",
    "series_number",
    "series_date",
    "series_time",
    "series_description",
    "protocol_name",
    "body_part_examined",
)
DEVICE_FIELDS = ("manufacturer", "model_name", "station_name", "device_serial_number")


def instance_keys(record: dict[str, Any]) -> dict[str, Any]:
    """The SOP, series and study UIDs every instance-level row starts with."""
    return {
        "sop_instance_uid": record["sop_instance_uid"],
        "series_instance_uid": record["series_instance_uid"],
        "study_instance_uid": record["study_instance_uid"],
    }


def instance_row(record: dict[str, Any]) -> dict[str, Any]:
    """The ``instance`` table's row."""
    return {
        **instance_keys(record),
        "sop_class_uid": record["sop_class_uid"],
        "modality": record["modality"],
        "instance_number": record["instance_number"],
        "image_type": record["image_type"],
        "acquisition_datetime": record["acquisition_datetime"],
        "content_datetime": record["content_datetime"],
        "irradiation_event_uid": record["irradiation_event_uid"],
    }


def is_ct_acquisition(record: dict[str, Any]) -> bool:
    """A CT image (not a dose SR that a scanner labelled CT)."""
    return record["modality"] == "CT" and not (record["sop_class_uid"] or "").startswith(SR_CLASS_PREFIX)


def is_mammography_exposure(record: dict[str, Any]) -> bool:
    return record["modality"] in MG_MODALITIES


def ct_acquisition_row(record: dict[str, Any]) -> dict[str, Any]:
    return {**instance_keys(record), **{name: record[name] for name in CT_FIELDS}}


def mg_exposure_row(record: dict[str, Any]) -> dict[str, Any]:
    return {**instance_keys(record), **{name: record[name] for name in MG_FIELDS}}


def has_device(record: dict[str, Any]) -> bool:
    """Whether the header names its device at all (else the instance has no device row)."""
    return any(record[name] for name in DEVICE_FIELDS)


def device_row(
    record: dict[str, Any], key: str, station: NameMatch | None, institution: NameMatch | None
) -> dict[str, Any]:
    """The ``device`` table's row: names as written, their canonical forms, the serial pseudonymised."""
    return {
        "device_key": key,
        "manufacturer": record["manufacturer"],
        "model_name": record["model_name"],
        "station_name": record["station_name"],
        "station_canonical": station.canonical if station else None,
        "institution_name": record["institution_name"],
        "institution_canonical": institution.canonical if institution else None,
        "software_versions": record["software_versions"],
        "serial_pseudonym": serial_pseudonym(record["device_serial_number"]),
    }


def study_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The study-level fields, taken from the study's first instance."""
    return {name: record[name] for name in STUDY_FIELDS}


def series_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The series-level fields, taken from the series' first instance."""
    return {name: record[name] for name in SERIES_FIELDS}


def most_common_code(codes: list[tuple[str, str]]) -> tuple[str, str] | None:
    return Counter(codes).most_common(1)[0][0] if codes else None


def region_columns(region: BodyRegionResult | None) -> dict[str, Any]:
    """The body region columns of the ``series`` and ``study`` tables."""
    if region is None:
        return {
            "body_region_code": None,
            "body_region_name": None,
            "body_region_confidence": None,
            "body_region_evidence": None,
        }
    return {
        "body_region_code": region.code,
        "body_region_name": region.name,
        "body_region_confidence": region.confidence,
        "body_region_evidence": region.evidence_text[:255],
    }
