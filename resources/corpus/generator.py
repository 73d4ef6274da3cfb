"""Generate the synthetic corpus: stream datasets (``iter_corpus``) or write files + manifest.

See the package docstring for the manifest schema.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydicom import dcmread
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
from resources.corpus.manifest import CorpusManifest, ManifestWriter
from resources.corpus.phi import PlantedValue, core_identifiers, known_identifiers
from resources.corpus.plan import StudyPlan
from resources.corpus.planner import CorpusPlanner
from resources.corpus.spec import CorpusSpec

log = logging.getLogger(__name__)


@dataclass
class CorpusItem:
    """One generated instance: the dataset, where it goes, its study's plan and what was planted in it.

    ``planted_phi`` lists what this instance reports first: study-scope entries (present in every
    instance of the study) come with the study's first instance, series-scope ones with the series'
    first instance, instance-scope ones with their instance.
    """

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
    """The recipe's parts merged into one pydicom dataset with File Meta (the reference the fast
    encoder is checked against: ``dcmwrite`` of it gives the same bytes)."""
    ds = Dataset()
    for part in recipe.parts:
        ds.update(part.to_dataset())
    ds.file_meta = file_meta(recipe.sop_class_uid, recipe.sop_instance_uid)
    ds.preamble = b"\x00" * 128
    return ds


@dataclass(frozen=True)
class EncodedInstance:
    """One instance as Part 10 bytes, with its study's plan and its recipe."""

    plan: StudyPlan
    recipe: InstanceRecipe
    data: bytes


def encoded_instances(spec: CorpusSpec) -> Iterator[EncodedInstance]:
    """Every instance of the corpus as Part 10 bytes, study by study (shared parts encoded once)."""
    planner = CorpusPlanner(spec)
    for index in range(spec.n_studies):
        plan = planner.study(index)
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
            data = part10_bytes(recipe.sop_class_uid, recipe.sop_instance_uid, chunks)
            yield EncodedInstance(plan, recipe, data)


def iter_corpus(spec: CorpusSpec) -> Iterator[CorpusItem]:
    """Stream every instance of the corpus, study by study, in constant memory.

    Each dataset is read (pydicom) from exactly the bytes ``generate_corpus`` would write, so it is
    independent of every other item (safe to modify) and equal to the file.

    Parameters
    ----------
    spec
        What to generate.

    Yields
    ------
    CorpusItem
        The dataset, its relative path, its study's plan, its series kind and what was planted in it.
    """
    for instance in encoded_instances(spec):
        recipe = instance.recipe
        dataset = dcmread(io.BytesIO(instance.data))
        yield CorpusItem(dataset, recipe.relative_path, instance.plan, recipe.series_kind, recipe.planted_phi)


def generate_corpus(out_dir: str | os.PathLike[str], spec: CorpusSpec) -> CorpusManifest:
    """Write every instance as ``<out_dir>/<study folder>/<series folder>/<n>.dcm`` and the manifest.

    Memory stays flat with the number of studies: shared parts are encoded once per study or series,
    and the manifest is streamed to disk as it grows.

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
    writer = ManifestWriter(root, spec)
    current: StudyPlan | None = None
    known: tuple[str, ...] = ()
    made_dirs: set[str] = set()
    try:
        for instance in encoded_instances(spec):
            plan = instance.plan
            if plan is not current:
                current = plan
                made_dirs.clear()
                writer.add_study(plan)
                known = known_identifiers(plan)
                if spec.plant_phi:
                    writer.add_planted([p.to_manifest(plan.study_uid, known) for p in core_identifiers(plan)])
            recipe = instance.recipe
            folder = os.path.dirname(recipe.relative_path)
            if folder not in made_dirs:
                (root / folder).mkdir(parents=True, exist_ok=True)
                made_dirs.add(folder)
            with open(root / recipe.relative_path, "wb") as handle:
                handle.write(instance.data)
            writer.add_planted([p.to_manifest(plan.study_uid, known) for p in recipe.planted_phi])
            writer.n_files += 1
    except BaseException:
        writer.abandon()
        raise
    manifest = writer.finish()
    elapsed = time.perf_counter() - began
    log.info("corpus: %d studies, %d files in %.2f s", writer.n_studies, writer.n_files, elapsed)
    return manifest
