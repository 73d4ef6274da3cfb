"""The ground truth of a generated corpus: ``manifest.json`` (schema in the package docstring).

``generate_corpus`` streams study and planted-PHI entries to temporary JSON-lines files while it
writes the DICOM files and assembles ``manifest.json`` at the end, so memory stays flat however many
studies are generated; ``CorpusManifest`` reads the large lists back only when they are used.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any, TextIO

from resources.corpus.plan import StudyPlan
from resources.corpus.spec import CorpusSpec

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA_VERSION = 1


def _series_manifest(plan: StudyPlan) -> list[dict[str, Any]]:
    series: list[dict[str, Any]] = []
    if plan.modality == "MG":
        series.append(
            {
                "series_uid": plan.mg_series_uid,
                "series_number": 1,
                "kind": "mg",
                "n_instances": len(plan.mammo_views),
                "sop_uids": [plan.sop_uid(1, i + 1) for i in range(len(plan.mammo_views))],
            }
        )
        return series
    for event in plan.events:
        series.append(
            {
                "series_uid": event.series_uid,
                "series_number": event.series_number,
                "kind": "localizer" if event.kind == "localizer" else "image",
                "n_instances": event.n_images,
                "irradiation_event_uid": event.irradiation_event_uid,
                "sop_uids": [plan.sop_uid(event.series_number, i + 1) for i in range(event.n_images)],
            }
        )
    if plan.rdsr_count:
        series.append(
            {
                "series_uid": plan.rdsr_series_uid,
                "series_number": plan.rdsr_series_number,
                "kind": "rdsr",
                "n_instances": plan.rdsr_count,
                "sop_uids": [plan.sop_uid(plan.rdsr_series_number, n + 1) for n in range(plan.rdsr_count)],
                "rdsr_event_uids": [
                    [e.irradiation_event_uid for e in plan.rdsr_events(n + 1)] for n in range(plan.rdsr_count)
                ],
            }
        )
    return series


def study_manifest(plan: StudyPlan) -> dict[str, Any]:
    """The ground truth of one study as written to ``manifest.json``."""
    dose_events = [e for e in plan.events if e.has_dose_container]
    totals: dict[str, Any] = {
        "n_events": len(plan.events),
        "n_dose_events": len(dose_events),
        "dlp_total_mgycm": round(sum(e.dlp_mgycm or 0.0 for e in plan.events), 2) if plan.events else None,
        "ctdivol_max_mgy": max((e.ctdivol_mgy or 0.0 for e in dose_events), default=None),
    }
    if plan.mammo_views:
        totals["organ_dose_total_dgy"] = round(sum(v.organ_dose_dgy for v in plan.mammo_views), 4)
    return {
        "index": plan.index,
        "study_uid": plan.study_uid,
        "accession": plan.accession,
        "patient_id": plan.patient.patient_id,
        "study_date": plan.study_date.isoformat(),
        "study_time": plan.study_start.time().isoformat(),
        "folder": plan.folder,
        "modality": plan.modality,
        "age_years": plan.age_years,
        "patient_age_written": plan.patient_age,
        "adult": plan.age_years >= 18,
        "has_rdsr": plan.has_rdsr,
        "rdsr_count": plan.rdsr_count,
        "cumulative_rdsrs": plan.rdsr_count > 1,
        "device": plan.device.to_manifest(),
        "protocol": {
            "protocol_name_raw": plan.protocol_raw,
            "study_description_raw": plan.study_description_raw,
            "canonical_exam": plan.protocol.canonical,
            "drl_category": plan.protocol.drl_category,
        },
        "true_body_region": plan.protocol.region,
        "body_part_examined": {
            "written": plan.body_part_written,
            "true": plan.body_part_true,
            "wrong": plan.body_part_wrong,
        },
        "series": _series_manifest(plan),
        "dose_events": [e.to_manifest() for e in plan.events],
        "mammo_views": [v.to_manifest() for v in plan.mammo_views],
        "totals": totals,
    }


class DrlAnswers:
    """Known answers for a DRL audit: adult CT studies per UK 2022 category, overall and per station.

    ``median_dlp_mgycm`` is the median of per-study DLP totals; ``median_ctdivol_mgy`` the median over
    every sequence (event with a CT Dose container); ``median_ctdivol_study_mean_mgy`` the median of
    each study's mean sequence CTDIvol (the two agree unless multi-phase studies are enabled). Whether
    the study has a dose SR does not matter: images-only studies carry the same truth. Keeps only
    numbers (flat memory).
    """

    def __init__(self) -> None:
        self._groups: dict[str, tuple[list[float], list[float], list[float]]] = {}

    def add(self, study: dict[str, Any]) -> None:
        category = study["protocol"]["drl_category"]
        if study["modality"] != "CT" or category is None or not study["adult"]:
            return
        station = study["device"]["station_name_canonical"]
        sequences = [e["ctdivol_mgy"] for e in study["dose_events"] if e["has_dose_container"]]
        for key in (category, f"{category} @ {station}"):
            dlps, ctdivols, study_means = self._groups.setdefault(key, ([], [], []))
            dlps.append(study["totals"]["dlp_total_mgycm"])
            ctdivols.extend(sequences)
            if sequences:
                study_means.append(statistics.fmean(sequences))

    def summary(self) -> dict[str, Any]:
        result: dict[str, Any] = {"by_category": {}, "by_category_and_station": {}}
        for key, (dlps, ctdivols, study_means) in sorted(self._groups.items()):
            target = "by_category_and_station" if " @ " in key else "by_category"
            result[target][key] = {
                "n_studies": len(dlps),
                "median_dlp_mgycm": round(statistics.median(dlps), 3),
                "median_ctdivol_mgy": round(statistics.median(ctdivols), 3) if ctdivols else None,
                "median_ctdivol_study_mean_mgy": (
                    round(statistics.median(study_means), 3) if study_means else None
                ),
            }
        return result


def _json_line(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=False)


class ManifestWriter:
    """Collects the manifest while the corpus is written; ``finish`` writes ``manifest.json``."""

    def __init__(self, root: Path, spec: CorpusSpec) -> None:
        self.root = root
        self.spec = spec
        self.patients: dict[str, dict[str, Any]] = {}
        self.drl = DrlAnswers()
        self.counts: dict[str, int] = {}
        self.n_files = 0
        self.n_studies = 0
        self._studies_path = root / ".manifest-studies.jsonl"
        self._planted_path = root / ".manifest-planted.jsonl"
        self._studies: TextIO = open(self._studies_path, "w", encoding="utf-8")  # noqa: SIM115
        self._planted: TextIO = open(self._planted_path, "w", encoding="utf-8")  # noqa: SIM115

    def add_study(self, plan: StudyPlan) -> None:
        study = study_manifest(plan)
        self._studies.write(_json_line(study) + "\n")
        self.drl.add(study)
        for name, flag in (
            ("studies", True),
            ("ct_studies", study["modality"] == "CT"),
            ("mg_studies", study["modality"] == "MG"),
            ("ct_studies_with_rdsr", study["has_rdsr"]),
            ("ct_studies_without_rdsr", study["modality"] == "CT" and not study["has_rdsr"]),
            ("studies_with_cumulative_rdsrs", study["cumulative_rdsrs"]),
            ("paediatric_studies", not study["adult"]),
            ("studies_without_patient_age", study["patient_age_written"] is None),
            ("studies_with_wrong_body_part", study["body_part_examined"]["wrong"]),
            ("studies_with_unmappable_exam", study["protocol"]["canonical_exam"] is None),
        ):
            self.counts[name] = self.counts.get(name, 0) + int(flag)
        self.patients.setdefault(plan.patient.patient_id, plan.patient.to_manifest(self.spec.start_date))
        self.n_studies += 1

    def add_planted(self, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            self._planted.write(_json_line(entry) + "\n")

    def close(self) -> None:
        self._studies.close()
        self._planted.close()

    def abandon(self) -> None:
        """Remove the temporary files after a failure."""
        self.close()
        self._studies_path.unlink(missing_ok=True)
        self._planted_path.unlink(missing_ok=True)

    def finish(self) -> CorpusManifest:
        """Write ``manifest.json`` (atomically) and return the manifest (large lists loaded lazily)."""
        self.close()
        patients = sorted(self.patients.values(), key=lambda p: str(p["patient_id"]))
        counts = dict(self.counts, patients=len(patients), files=self.n_files)
        summaries = {"counts": counts, "drl": self.drl.summary()}
        target = self.root / MANIFEST_NAME
        partial = target.with_name(MANIFEST_NAME + ".part")
        with open(partial, "w", encoding="utf-8") as out:
            out.write("{\n")
            out.write(f'"schema_version": {MANIFEST_SCHEMA_VERSION},\n')
            out.write(f'"spec": {json.dumps(self.spec.to_dict())},\n')
            out.write(f'"n_files": {self.n_files},\n')
            out.write('"patients": [\n' + ",\n".join(_json_line(p) for p in patients) + "\n],\n")
            _copy_lines(out, "studies", self._studies_path)
            out.write(",\n")
            _copy_lines(out, "planted_phi", self._planted_path)
            out.write(",\n")
            out.write(f'"summaries": {json.dumps(summaries, indent=1)}\n')
            out.write("}\n")
        os.replace(partial, target)
        self._studies_path.unlink()
        self._planted_path.unlink()
        return CorpusManifest(
            spec=self.spec,
            patients=patients,
            n_files=self.n_files,
            summaries=summaries,
            path=target,
        )


def _copy_lines(out: TextIO, name: str, source: Path) -> None:
    out.write(f'"{name}": [')
    first = True
    with open(source, encoding="utf-8") as lines:
        for line in lines:
            out.write("\n" if first else ",\n")
            out.write(line.rstrip("\n"))
            first = False
    out.write("\n]")


class CorpusManifest:
    """The ground truth of a generated corpus (the content of ``manifest.json``).

    ``studies`` and ``planted_phi`` are read from the file on first use when the manifest came from
    ``generate_corpus`` or ``load``.
    """

    def __init__(
        self,
        *,
        spec: CorpusSpec,
        patients: list[dict[str, Any]],
        n_files: int,
        summaries: dict[str, Any] | None = None,
        studies: list[dict[str, Any]] | None = None,
        planted_phi: list[dict[str, Any]] | None = None,
        path: Path | None = None,
    ) -> None:
        self.spec = spec
        self.patients = patients
        self.n_files = n_files
        self.summaries = summaries or {}
        self.path = path
        self._studies = studies
        self._planted_phi = planted_phi

    def _load_lists(self) -> None:
        if self.path is None:
            raise FileNotFoundError("manifest has no file to read studies from")
        data = json.loads(self.path.read_text(encoding="utf-8"))
        self._studies = data["studies"]
        self._planted_phi = data["planted_phi"]

    @property
    def studies(self) -> list[dict[str, Any]]:
        if self._studies is None:
            self._load_lists()
        assert self._studies is not None
        return self._studies

    @property
    def planted_phi(self) -> list[dict[str, Any]]:
        if self._planted_phi is None:
            self._load_lists()
        assert self._planted_phi is not None
        return self._planted_phi

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": MANIFEST_SCHEMA_VERSION,
            "spec": self.spec.to_dict(),
            "n_files": self.n_files,
            "patients": self.patients,
            "studies": self.studies,
            "planted_phi": self.planted_phi,
            "summaries": self.summaries,
        }

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CorpusManifest:
        """Read a ``manifest.json`` (or the folder holding one).

        Raises
        ------
        FileNotFoundError
            If there is no manifest there.
        ValueError
            If the file is not a corpus manifest of a known schema version.
        """
        target = Path(path)
        if target.is_dir():
            target = target / MANIFEST_NAME
        data = json.loads(target.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("schema_version") != MANIFEST_SCHEMA_VERSION:
            raise ValueError(f"{target}: not a corpus manifest of schema version {MANIFEST_SCHEMA_VERSION}")
        return cls(
            spec=CorpusSpec.from_dict(data["spec"]),
            patients=data["patients"],
            n_files=data["n_files"],
            summaries=data.get("summaries", {}),
            studies=data["studies"],
            planted_phi=data["planted_phi"],
            path=target,
        )

    def study(self, study_uid: str) -> dict[str, Any]:
        for study in self.studies:
            if study["study_uid"] == study_uid:
                return study
        raise KeyError(study_uid)

    def phi_identifiers(self) -> set[str]:
        """Every identifying string planted anywhere (the ones de-identified output must not contain)."""
        return {text for p in self.planted_phi for text in p["identifiers"] if text}

    def opt_out_patient_ids(self) -> list[str]:
        return [p["patient_id"] for p in self.patients if p["opt_out_candidate"]]
