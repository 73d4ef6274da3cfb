"""One partition's de-identified files into the warehouse's curation tables, streaming.

Files are read one at a time (:func:`~resources.curation.header_reader.read_header`); instance-level rows go
straight to the partition writer in batches, while per-study, per-series, per-patient and per-device
summaries (:mod:`resources.curation.partition_summaries`) are kept until the end. The writer's
transaction makes the whole partition replace-or-nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resources.curation.ages import age_band
from resources.curation.arrival_delays import Arrival, arrival_columns, arrival_flag, read_arrivals
from resources.curation.body_region import BodyRegionVocabulary, default_vocabulary
from resources.curation.curated_rows import (
    ct_acquisition_row,
    device_row,
    has_device,
    instance_keys,
    instance_row,
    is_ct_acquisition,
    is_mammography_exposure,
    mg_exposure_row,
    most_common_code,
    region_columns,
)
from resources.curation.device_names import DeviceNameMapper, device_key
from resources.curation.exam_names import ExamNameMapper, UnmappedTally
from resources.curation.flatten import flatten_dataset
from resources.curation.header_reader import UnreadableHeaderError, read_header
from resources.curation.partition_summaries import PartitionSummaries
from resources.curation.phi_findings import read_phi_findings
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
        arrivals: Path | None = None,
    ) -> CurationSummary:
        """Write the rows of every readable file, then the partition's summaries and flags.

        ``arrivals`` is the de-identification stage's ``_arrival_delays.jsonl``: its delays and paths
        fill the instance rows (left empty without it).

        Unreadable files are counted, logged and handed to ``on_unreadable``; they never stop the run.
        """
        summary = CurationSummary()
        tally = UnmappedTally()
        consistency = StudyConsistency()
        summaries = PartitionSummaries()
        devices: dict[str, dict[str, Any]] = {}
        delays = read_arrivals(arrivals)

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
            self._write_instance(record, writer, summary, delays)
            consistency.add(record)
            summaries.add(record, self._device(record, devices, tally))

        for study_uid, flag in consistency.flags():
            writer.add(QualityFlag, flag.row(study=study_uid))
            summary.flags_by_rule[flag.rule] += 1
        writer.add_all(Device, devices.values())
        self._write_series(summaries, writer, tally, summary)
        self._write_studies(summaries, writer, tally)
        if phi_findings is not None and phi_findings.exists():
            writer.add_all(PhiFinding, read_phi_findings(phi_findings))
        writer.add_all(UnmappedName, tally.rows())
        summary.unmapped = {kind: tally.distinct(kind) for kind in ("exam_name", "institution", "station")}
        writer.flush()
        summary.rows = dict(writer.counts)
        return summary

    def _write_instance(
        self,
        record: dict[str, Any],
        writer: PartitionWriter,
        summary: CurationSummary,
        delays: dict[str, Arrival],
    ) -> None:
        keys = instance_keys(record)
        arrival = delays.get(keys["sop_instance_uid"])
        writer.add(Instance, {**instance_row(record), **arrival_columns(arrival)})
        if is_ct_acquisition(record):
            writer.add(CtAcquisition, ct_acquisition_row(record))
        elif is_mammography_exposure(record):
            writer.add(MgExposure, mg_exposure_row(record))
        doubtful = arrival_flag(arrival)
        for flag in [*instance_flags(record, self.rules), *([doubtful] if doubtful else [])]:
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
        if not has_device(record):
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
            devices[key] = device_row(record, key, station, institution)
            if station is not None and not station.mapped:
                tally.add("station", record["station_name"])
            if institution is not None and not institution.mapped:
                tally.add("institution", record["institution_name"])
        return key

    def _write_series(
        self,
        summaries: PartitionSummaries,
        writer: PartitionWriter,
        tally: UnmappedTally,
        summary: CurationSummary,
    ) -> None:
        for uid, entry in summaries.series.items():
            first = entry.first
            study = summaries.studies[entry.study_uid]
            texts = [first["protocol_name"], first["series_description"], study.first["study_description"]]
            exam = None
            if first["modality"] not in {"SR", None}:
                exam = self.exam_names.map_first(texts, first["modality"])
                summary.exam_names_total += 1
                if exam:
                    summary.exam_names_mapped += 1
                else:
                    tally.add("exam_name", first["protocol_name"] or first["series_description"])
            region = self.regions.infer(
                first["body_part_examined"], texts, most_common_code(study.target_regions)
            )
            writer.add(
                Series,
                {
                    "series_instance_uid": uid,
                    "study_instance_uid": entry.study_uid,
                    "device_key": entry.device_key,
                    **{k: v for k, v in first.items()},
                    "exam_name": exam,
                    **region_columns(region),
                    "n_instances": entry.n_instances,
                },
            )

    def _write_studies(
        self, summaries: PartitionSummaries, writer: PartitionWriter, tally: UnmappedTally
    ) -> None:
        series_count = summaries.series_per_study()
        patients: dict[str, dict[str, Any]] = {}
        for uid, study in summaries.studies.items():
            first = study.first
            imaging = sorted(study.modalities - {"SR"}) or sorted(study.modalities)
            modality = imaging[0] if imaging else None
            texts = [first["study_description"], *study.texts]
            exam = self.exam_names.map_first(texts, modality)
            if not exam and first["study_description"]:
                tally.add("exam_name", first["study_description"])
            body_part = study.body_parts.most_common(1)[0][0] if study.body_parts else None
            region = self.regions.infer(body_part, texts, most_common_code(study.target_regions))
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
                    **region_columns(region),
                    "patient_age_years": first["patient_age_years"],
                    "age_source": first["age_source"],
                    "patient_weight_kg": first["patient_weight_kg"],
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
