"""Generate the synthetic corpus: stream datasets (``iter_corpus``) or write files + manifest.

See the package docstring for the manifest schema.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from resources.corpus.ct_images import ct_instance_part, ct_series_part
from resources.corpus.dicom_modules import (
    CT_IMAGE_STORAGE,
    MG_FOR_PRESENTATION_STORAGE,
    XRAY_RADIATION_DOSE_SR_STORAGE,
    file_meta,
    study_part,
)
from resources.corpus.dose_report import dose_report_part
from resources.corpus.draft import DraftDataset, EncodedElements
from resources.corpus.encoding import part10_bytes
from resources.corpus.mammography import mg_instance_part, mg_series_part
from resources.corpus.phi import PlantedValue, core_identifiers, known_identifiers
from resources.corpus.plan import CorpusPlanner, StudyPlan
from resources.corpus.spec import CorpusSpec

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA_VERSION = 1


@dataclass
class CorpusItem:
    """One generated instance: the dataset, where it goes, its study's plan and what was planted in it."""

    dataset: Dataset
    relative_path: str
    study: StudyPlan
    series_kind: str
    planted_phi: list[PlantedValue] = field(default_factory=list)


@dataclass
class InstanceRecipe:
    """An instance as the disjoint parts it is made of (shared parts are the same objects)."""

    relative_path: str
    series_kind: str
    sop_class_uid: str
    sop_instance_uid: str
    parts: tuple[DraftDataset, ...]
    planted_phi: list[PlantedValue]


def _series_folder(number: int, kind: str) -> str:
    return f"{number:04d}_{kind}"


def study_recipes(plan: StudyPlan, spec: CorpusSpec, *, share_parts: bool) -> Iterator[InstanceRecipe]:
    """Every instance of one study. With ``share_parts`` the study and series parts are built once and
    reused (for fast writing); without, every instance gets freshly built parts (safe to modify)."""
    folder = plan.folder
    recorded_study_phi = False
    shared_study: tuple[DraftDataset, list[PlantedValue]] | None = None

    def study_level() -> tuple[DraftDataset, list[PlantedValue]]:
        nonlocal shared_study, recorded_study_phi
        if shared_study is None or not share_parts:
            shared_study = study_part(plan, spec.plant_phi)
        part, planted = shared_study
        if recorded_study_phi:
            return part, []
        recorded_study_phi = True
        return part, list(planted)

    if plan.modality == "MG":
        series = mg_series_part(plan, spec.header_only)
        for index, view in enumerate(plan.mammo_views):
            part, planted = study_level()
            instance = mg_instance_part(plan, view, index, spec.plant_phi)
            if "ImageComments" in instance:
                planted.append(
                    PlantedValue(
                        "(0020,4000)",
                        instance.ImageComments,
                        "free_text_birth_date",
                        plan.patient.birth_date.strftime("%d/%m/%Y"),
                        "instance",
                        plan.mg_series_uid,
                        instance.SOPInstanceUID,
                    )
                )
            yield InstanceRecipe(
                f"{folder}/{_series_folder(1, 'mg')}/{index + 1}.dcm",
                "mg",
                MG_FOR_PRESENTATION_STORAGE,
                instance.SOPInstanceUID,
                (part, series, instance),
                planted,
            )
            if not share_parts:
                series = mg_series_part(plan, spec.header_only)
        return
    for event in plan.events:
        kind = "localizer" if event.kind == "localizer" else "image"
        series = ct_series_part(plan, event, spec.header_only, spec.plant_phi)
        for index in range(event.n_images):
            part, planted = study_level()
            instance = ct_instance_part(plan, event, index, spec.plant_phi)
            if spec.plant_phi and kind == "localizer" and index == 0:
                planted.append(
                    PlantedValue(
                        "(0008,103E)",
                        series.SeriesDescription,
                        "free_text_person_name",
                        plan.patient.plain_name,
                        "series",
                        event.series_uid,
                        None,
                    )
                )
            if "ImageComments" in instance:
                planted.append(
                    PlantedValue(
                        "(0020,4000)",
                        instance.ImageComments,
                        "free_text_phone_number",
                        plan.patient.phone,
                        "instance",
                        event.series_uid,
                        instance.SOPInstanceUID,
                    )
                )
            yield InstanceRecipe(
                f"{folder}/{_series_folder(event.series_number, kind)}/{index + 1}.dcm",
                kind,
                CT_IMAGE_STORAGE,
                instance.SOPInstanceUID,
                (part, series, instance),
                planted,
            )
            if not share_parts:
                series = ct_series_part(plan, event, spec.header_only, spec.plant_phi)
    for number in range(1, plan.rdsr_count + 1):
        part, planted = study_level()
        report, report_planted = dose_report_part(plan, number, spec.plant_phi)
        yield InstanceRecipe(
            f"{folder}/{_series_folder(plan.rdsr_series_number, 'rdsr')}/{number}.dcm",
            "rdsr",
            XRAY_RADIATION_DOSE_SR_STORAGE,
            report.SOPInstanceUID,
            (part, report),
            planted + report_planted,
        )


def assemble(recipe: InstanceRecipe) -> Dataset:
    """The recipe's parts merged into one dataset with File Meta."""
    ds = Dataset()
    for part in recipe.parts:
        ds.update(part.to_dataset())
    ds.file_meta = file_meta(recipe.sop_class_uid, recipe.sop_instance_uid)
    ds.preamble = b"\x00" * 128
    return ds


def iter_corpus(spec: CorpusSpec) -> Iterator[CorpusItem]:
    """Stream every instance of the corpus, study by study, in constant memory.

    Parameters
    ----------
    spec
        What to generate.

    Yields
    ------
    CorpusItem
        A freshly built dataset per instance (safe to modify), its relative path and its study's plan.
    """
    planner = CorpusPlanner(spec)
    for index in range(spec.n_studies):
        plan = planner.study(index)
        for recipe in study_recipes(plan, spec, share_parts=False):
            yield CorpusItem(
                assemble(recipe), recipe.relative_path, plan, recipe.series_kind, recipe.planted_phi
            )


# -- manifest -----------------------------------------------------------------------------------


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


def drl_summary(studies: list[dict[str, Any]]) -> dict[str, Any]:
    """Known answers for a DRL audit: adult CT studies per UK 2022 category, overall and per station.

    ``median_dlp_mgycm`` is the median of per-study DLP totals; ``median_ctdivol_mgy`` the median of
    per-sequence CTDIvol (every event with a CT Dose container). Whether the study has a dose SR does
    not matter here: images-only studies carry the same truth.
    """
    groups: dict[str, dict[str, Any]] = {}
    for study in studies:
        category = study["protocol"]["drl_category"]
        if study["modality"] != "CT" or category is None or not study["adult"]:
            continue
        station = study["device"]["station_name_canonical"]
        for key in (category, f"{category} @ {station}"):
            group = groups.setdefault(key, {"dlp": [], "ctdivol": []})
            group["dlp"].append(study["totals"]["dlp_total_mgycm"])
            group["ctdivol"].extend(e["ctdivol_mgy"] for e in study["dose_events"] if e["has_dose_container"])
    result: dict[str, Any] = {"by_category": {}, "by_category_and_station": {}}
    for key, group in sorted(groups.items()):
        entry = {
            "n_studies": len(group["dlp"]),
            "median_dlp_mgycm": round(statistics.median(group["dlp"]), 3),
            "median_ctdivol_mgy": round(statistics.median(group["ctdivol"]), 3) if group["ctdivol"] else None,
        }
        target = "by_category_and_station" if " @ " in key else "by_category"
        result[target][key] = entry
    return result


@dataclass
class CorpusManifest:
    """The ground truth of a generated corpus (the content of ``manifest.json``)."""

    spec: CorpusSpec
    patients: list[dict[str, Any]]
    studies: list[dict[str, Any]]
    planted_phi: list[dict[str, Any]]
    n_files: int
    summaries: dict[str, Any] = field(default_factory=dict)

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

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CorpusManifest:
        """Read a ``manifest.json`` (or the folder holding one)."""
        target = Path(path)
        if target.is_dir():
            target = target / MANIFEST_NAME
        data = json.loads(target.read_text(encoding="utf-8"))
        return cls(
            spec=CorpusSpec.from_dict(data["spec"]),
            patients=data["patients"],
            studies=data["studies"],
            planted_phi=data["planted_phi"],
            n_files=data["n_files"],
            summaries=data.get("summaries", {}),
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


def generate_corpus(out_dir: str | os.PathLike[str], spec: CorpusSpec) -> CorpusManifest:
    """Write every instance as ``<out_dir>/<study folder>/<series folder>/<n>.dcm`` and the manifest.

    Parameters
    ----------
    out_dir
        Target folder (created if missing). Existing files with the same names are overwritten.
    spec
        What to generate.

    Returns
    -------
    CorpusManifest
        The ground truth, also written to ``<out_dir>/manifest.json``.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    patients: dict[str, dict[str, Any]] = {}
    studies: list[dict[str, Any]] = []
    planted: list[dict[str, Any]] = []
    n_files = 0
    made_dirs: set[str] = set()
    planner = CorpusPlanner(spec)
    for index in range(spec.n_studies):
        plan = planner.study(index)
        studies.append(study_manifest(plan))
        patients.setdefault(plan.patient.patient_id, plan.patient.to_manifest(spec.start_date))
        known = known_identifiers(plan)
        if spec.plant_phi:
            planted.extend(p.to_manifest(plan.study_uid, known) for p in core_identifiers(plan))
        # Encoded parts of this study, by identity of the (shared) part object.
        encoded: dict[int, tuple[DraftDataset, EncodedElements]] = {}
        for recipe in study_recipes(plan, spec, share_parts=True):
            chunks = []
            for part in recipe.parts:
                cached = encoded.get(id(part))
                if cached is None or cached[0] is not part:
                    cached = (part, part.encode())
                    encoded[id(part)] = cached
                chunks.append(cached[1])
            folder = os.path.dirname(recipe.relative_path)
            if folder not in made_dirs:
                (root / folder).mkdir(parents=True, exist_ok=True)
                made_dirs.add(folder)
            data = part10_bytes(recipe.sop_class_uid, recipe.sop_instance_uid, chunks)
            with open(root / recipe.relative_path, "wb") as handle:
                handle.write(data)
            planted.extend(p.to_manifest(plan.study_uid, known) for p in recipe.planted_phi)
            n_files += 1
    manifest = CorpusManifest(
        spec=spec,
        patients=sorted(patients.values(), key=lambda p: str(p["patient_id"])),
        studies=studies,
        planted_phi=planted,
        n_files=n_files,
        summaries={"drl": drl_summary(studies)},
    )
    manifest.write(root / MANIFEST_NAME)
    elapsed = time.perf_counter() - began
    log.info("corpus: %d studies, %d files in %.2f s", len(studies), n_files, elapsed)
    return manifest
