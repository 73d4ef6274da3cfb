"""One partition's de-identified files into the warehouse's curation tables, streaming.

Files are read one at a time (:func:`~resources.curation.flatten.read_header`); instance-level rows go
straight to the partition writer in batches, while per-study, per-series, per-patient and per-device
summaries (a few hundred bytes per series, not per instance) are kept until the end. The writer's
transaction makes the whole partition replace-or-nothing.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resources.curation.ages import age_band
from resources.curation.body_region import BodyRegionResult, BodyRegionVocabulary, default_vocabulary
from resources.curation.device_names import DeviceNameMapper, device_key, serial_pseudonym
from resources.curation.exam_names import ExamNameMapper, UnmappedTally
from resources.curation.flatten import UnreadableHeaderError, flatten_dataset, read_header
from resources.curation.quality import QualityRules, StudyConsistency, instance_flags
from resources.warehouse.store import PartitionWriter
from resources.warehouse.tables import (
    CtAcquisition,
    Device,
    Instance,
    MgExposure,
    Patient,
    PhiFinding,
    QualityFlag,
    Series,
    Study,
    UnmappedName,
)

logger = logging.getLogger(__name__)

PHI_FINDINGS_FILE = "_phi_findings.jsonl"
MG_MODALITIES = {"MG"}


@dataclass
class CurationSummary:
    """What a partition's curation wrote and what it could not read."""

    files: int = 0
    unreadable: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    flags_by_rule: Counter[str] = field(default_factory=Counter)
    unmapped: dict[str, int] = field(default_factory=dict)
    exam_names_mapped: int = 0
    exam_names_total: int = 0


@dataclass
class _SeriesSummary:
    study_uid: str
    device_key: str | None
    first: dict[str, Any]
    n_instances: int = 0


@dataclass
class _StudySummary:
    first: dict[str, Any]
    modalities: set[str] = field(default_factory=set)
    body_parts: Counter[str] = field(default_factory=Counter)
    texts: list[str] = field(default_factory=list)
    target_regions: list[tuple[str, str]] = field(default_factory=list)
    n_instances: int = 0


class PartitionCurator:
    """Normalises and writes one partition; the mappings and rules are injectable for tests."""

    def __init__(
        self,
        *,
        exam_names: ExamNameMapper | None = None,
        devices: DeviceNameMapper | None = None,
        regions: BodyRegionVocabulary | None = None,
        rules: QualityRules | None = None,
        on_unreadable: Callable[[Path, str], None] | None = None,
    ) -> None:
        self.exam_names = exam_names or ExamNameMapper.default()
        self.devices = devices or DeviceNameMapper.default()
        self.regions = regions or default_vocabulary()
        self.rules = rules or QualityRules()
        self.on_unreadable = on_unreadable

    @property
    def mapping_version(self) -> str:
        return (
            f"exam {self.exam_names.version}; devices {self.devices.version}; regions {self.regions.version}"
        )

    def curate(
        self,
        files: Iterable[Path],
        writer: PartitionWriter,
        *,
        phi_findings: Path | None = None,
    ) -> CurationSummary:
        summary = CurationSummary()
        tally = UnmappedTally()
        consistency = StudyConsistency()
        studies: dict[str, _StudySummary] = {}
        series: dict[str, _SeriesSummary] = {}
        devices: dict[str, dict[str, Any]] = {}

        for path in files:
            summary.files += 1
            try:
                record = flatten_dataset(read_header(path))
            except UnreadableHeaderError as exc:
                reason = str(exc) if str(exc).startswith(path.name) else f"{path.name}: {exc}"
                summary.unreadable.append(path.name)
                logger.warning("skipped %s", reason)
                if self.on_unreadable is not None:
                    self.on_unreadable(path, reason)
                continue
            self._write_instance(record, writer, summary)
            consistency.add(record)
            key = self._device(record, devices, tally)
            self._remember(record, key, studies, series)

        for study_uid, flag in consistency.flags():
            writer.add(QualityFlag, flag.row(study=study_uid))
            summary.flags_by_rule[flag.rule] += 1
        writer.add_all(Device, devices.values())
        self._write_series(series, studies, writer, tally, summary)
        self._write_studies(studies, series, writer, tally, summary)
        if phi_findings is not None and phi_findings.exists():
            writer.add_all(PhiFinding, read_phi_findings(phi_findings))
        writer.add_all(UnmappedName, tally.rows())
        summary.unmapped = {kind: tally.distinct(kind) for kind in ("exam_name", "institution", "station")}
        writer.flush()
        summary.rows = dict(writer.counts)
        return summary

    def _write_instance(
        self, record: dict[str, Any], writer: PartitionWriter, summary: CurationSummary
    ) -> None:
        keys = {
            "sop_instance_uid": record["sop_instance_uid"],
            "series_instance_uid": record["series_instance_uid"],
            "study_instance_uid": record["study_instance_uid"],
        }
        writer.add(
            Instance,
            {
                **keys,
                "sop_class_uid": record["sop_class_uid"],
                "modality": record["modality"],
                "instance_number": record["instance_number"],
                "image_type": record["image_type"],
                "acquisition_datetime": record["acquisition_datetime"],
                "content_datetime": record["content_datetime"],
                "irradiation_event_uid": record["irradiation_event_uid"],
            },
        )
        if record["modality"] == "CT" and not (record["sop_class_uid"] or "").startswith(_SR_CLASS_PREFIX):
            writer.add(CtAcquisition, {**keys, **{name: record[name] for name in _CT_FIELDS}})
        elif record["modality"] in MG_MODALITIES:
            writer.add(MgExposure, {**keys, **{name: record[name] for name in _MG_FIELDS}})
        for flag in instance_flags(record, self.rules):
            writer.add(
                QualityFlag,
                flag.row(
                    study=keys["study_instance_uid"],
                    series=keys["series_instance_uid"],
                    sop=keys["sop_instance_uid"],
                ),
            )
            summary.flags_by_rule[flag.rule] += 1

    def _device(
        self, record: dict[str, Any], devices: dict[str, dict[str, Any]], tally: UnmappedTally
    ) -> str | None:
        if not any(record[k] for k in ("manufacturer", "model_name", "station_name", "device_serial_number")):
            return None
        key = device_key(
            record["manufacturer"],
            record["model_name"],
            record["device_serial_number"],
            record["station_name"],
        )
        if key not in devices:
            station = self.devices.station(record["station_name"], record["manufacturer"])
            institution = self.devices.institution(record["institution_name"])
            devices[key] = {
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
            if station is not None and not station.mapped:
                tally.add("station", record["station_name"])
            if institution is not None and not institution.mapped:
                tally.add("institution", record["institution_name"])
        return key

    def _remember(
        self,
        record: dict[str, Any],
        key: str | None,
        studies: dict[str, _StudySummary],
        series: dict[str, _SeriesSummary],
    ) -> None:
        study = studies.get(record["study_instance_uid"])
        if study is None:
            study = studies[record["study_instance_uid"]] = _StudySummary(first=_study_fields(record))
        study.n_instances += 1
        if record["modality"]:
            study.modalities.add(record["modality"])
        study.target_regions.extend(record["target_regions"])
        entry = series.get(record["series_instance_uid"])
        if entry is None:
            entry = series[record["series_instance_uid"]] = _SeriesSummary(
                study_uid=record["study_instance_uid"], device_key=key, first=_series_fields(record)
            )
            if record["body_part_examined"]:
                study.body_parts[record["body_part_examined"]] += 1
            for text in (record["protocol_name"], record["series_description"]):
                if text and text not in study.texts:
                    study.texts.append(text)
        entry.n_instances += 1

    def _write_series(
        self,
        series: dict[str, _SeriesSummary],
        studies: dict[str, _StudySummary],
        writer: PartitionWriter,
        tally: UnmappedTally,
        summary: CurationSummary,
    ) -> None:
        for uid, entry in series.items():
            first = entry.first
            study = studies[entry.study_uid]
            texts = [first["protocol_name"], first["series_description"], study.first["study_description"]]
            exam = None
            if first["modality"] not in {"SR", None}:
                exam = self.exam_names.map_first(texts, first["modality"])
                summary.exam_names_total += 1
                if exam:
                    summary.exam_names_mapped += 1
                else:
                    tally.add("exam_name", first["protocol_name"] or first["series_description"])
            region = self.regions.infer(first["body_part_examined"], texts, _first(study.target_regions))
            writer.add(
                Series,
                {
                    "series_instance_uid": uid,
                    "study_instance_uid": entry.study_uid,
                    "device_key": entry.device_key,
                    **{k: v for k, v in first.items()},
                    "exam_name": exam,
                    **_region_columns(region),
                    "n_instances": entry.n_instances,
                },
            )

    def _write_studies(
        self,
        studies: dict[str, _StudySummary],
        series: dict[str, _SeriesSummary],
        writer: PartitionWriter,
        tally: UnmappedTally,
        summary: CurationSummary,
    ) -> None:
        series_count = Counter(entry.study_uid for entry in series.values())
        patients: dict[str, dict[str, Any]] = {}
        for uid, study in studies.items():
            first = study.first
            imaging = sorted(study.modalities - {"SR"}) or sorted(study.modalities)
            modality = imaging[0] if imaging else None
            texts = [first["study_description"], *study.texts]
            exam = self.exam_names.map_first(texts, modality)
            if not exam and first["study_description"]:
                tally.add("exam_name", first["study_description"])
            body_part = study.body_parts.most_common(1)[0][0] if study.body_parts else None
            region = self.regions.infer(body_part, texts, _first(study.target_regions))
            writer.add(
                Study,
                {
                    "study_instance_uid": uid,
                    "patient_pseudonym": first["patient_pseudonym"],
                    "study_date": first["study_date"],
                    "study_time": first["study_time"],
                    "modalities": "\\".join(sorted(study.modalities))[:64] or None,
                    "study_description": first["study_description"],
                    "exam_name": exam,
                    **_region_columns(region),
                    "patient_age_years": first["patient_age_years"],
                    "age_source": first["age_source"],
                    "n_series": series_count[uid],
                    "n_instances": study.n_instances,
                },
            )
            pseudonym = first["patient_pseudonym"]
            if pseudonym and pseudonym not in patients:
                patients[pseudonym] = {
                    "patient_pseudonym": pseudonym,
                    "sex": first["patient_sex"],
                    "age_band": age_band(first["patient_age_years"]),
                }
        writer.add_all(Patient, patients.values())


_SR_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88"
_CT_FIELDS = (
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
_MG_FIELDS = (
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


def _study_fields(record: dict[str, Any]) -> dict[str, Any]:
    return {
        name: record[name]
        for name in (
            "patient_pseudonym",
            "patient_sex",
            "study_date",
            "study_time",
            "study_description",
            "patient_age_years",
            "age_source",
        )
    }


def _series_fields(record: dict[str, Any]) -> dict[str, Any]:
    return {
        name: record[name]
        for name in (
            "modality",
            "series_number",
            "series_date",
            "series_time",
            "series_description",
            "protocol_name",
            "body_part_examined",
        )
    }


def _first(codes: list[tuple[str, str]]) -> tuple[str, str] | None:
    return Counter(codes).most_common(1)[0][0] if codes else None


def _region_columns(region: BodyRegionResult | None) -> dict[str, Any]:
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


def read_phi_findings(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of the de-identification stage's ``_phi_findings.jsonl`` (never the found text itself).

    Lines that are not JSON objects with a SOP Instance UID are skipped with a warning naming the line.
    """
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s line %d: not JSON, skipped", path.name, number)
                continue
            if not isinstance(item, dict) or not item.get("sop_instance_uid"):
                logger.warning("%s line %d: no sop_instance_uid, skipped", path.name, number)
                continue
            score = item.get("score")
            yield {
                "sop_instance_uid": str(item["sop_instance_uid"])[:64],
                "tag_path": str(item.get("tag_path", ""))[:255],
                "entity_type": str(item.get("entity_type", ""))[:64],
                "score": float(score) if isinstance(score, int | float) else None,
                "action": str(item.get("action", ""))[:32],
            }
