"""The curation of whole partitions, on SQLite and on the real PostgreSQL server.

Inputs are the corpus generator's studies (deliberately inconsistent names, known answers) and small
pydicom-built datasets; curation does not care whether the files went through de-identification.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resources.corpus import CorpusSpec, generate_corpus
from resources.curation import PartitionCurator
from resources.curation.body_region import CONFIDENCE_BODY_PART, BodyRegionVocabulary
from resources.warehouse import Lineage, Warehouse
from resources.warehouse.tables import CURATION_TABLES
from tests.curation.conftest import make_dataset, make_dose_sr
from tests.dicom_builder import write_instance
from tests.warehouse.backends import BACKENDS

pytestmark = pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)

# The corpus's region keys in the warehouse vocabulary (KUB is scanned as abdomen and pelvis).
CORPUS_REGIONS = {"abdomen_pelvis": "abdomen_and_pelvis", "kub": "abdomen_and_pelvis"}
CORPUS_EXAM_SYNONYMS = {"CTPA": "CT Pulmonary angiogram", "CT Chest HR": "CT Chest high-resolution"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("corpus")
    generate_corpus(folder, CorpusSpec(seed=11, n_studies=30, header_only=True, ct_images_per_series=2))
    return folder, json.loads((folder / "manifest.json").read_text())


def _curate(warehouse: Warehouse, files: Any, partition: str = "2026-11-10", run: str = "run-1") -> Any:
    with warehouse.writing_partition(Lineage(partition, run), CURATION_TABLES, batch_size=40) as writer:
        return PartitionCurator().curate(files, writer)


def _table(warehouse: Warehouse, name: str, partition: str = "2026-11-10") -> list[tuple[Any, ...]]:
    frame = warehouse.read_frame(f"SELECT * FROM {name} WHERE partition_key = :pk", {"pk": partition})
    frame = frame.drop(columns=[c for c in ("id", "processed_at") if c in frame.columns])
    return sorted(tuple(str(v) for v in row) for row in frame.itertuples(index=False))


def test_corpus_names_regions_and_devices_match_the_known_answers(
    make_warehouse: Warehouse, corpus: tuple[Path, dict[str, Any]]
) -> None:
    folder, manifest = corpus
    make_warehouse.upgrade()
    summary = _curate(make_warehouse, sorted(folder.rglob("*.dcm")))
    assert summary.unreadable == []
    assert summary.rows["instance"] == manifest["n_files"]
    studies = make_warehouse.read_frame("SELECT * FROM study").set_index("study_instance_uid")
    devices = make_warehouse.read_frame(
        "SELECT DISTINCT s.study_instance_uid, d.station_canonical, d.institution_canonical "
        "FROM series s JOIN device d ON d.device_key = s.device_key"
    )
    vocabulary = BodyRegionVocabulary()
    wrong_body_parts = 0
    for truth in manifest["studies"]:
        row = studies.loc[truth["study_uid"]]
        canonical = truth["protocol"]["canonical_exam"]
        assert row["exam_name"] == (CORPUS_EXAM_SYNONYMS.get(canonical, canonical) if canonical else None)
        expected_region = CORPUS_REGIONS.get(truth["true_body_region"], truth["true_body_region"])
        if canonical:
            assert row["body_region_name"] == expected_region, truth["study_uid"]
        else:  # no description evidence: Body Part Examined alone, a part of the true region, low confidence
            region = vocabulary.regions[row["body_region_name"]]
            assert vocabulary.agree(region, vocabulary.regions[expected_region])
            assert row["body_region_confidence"] == CONFIDENCE_BODY_PART
        wrong_body_parts += bool(truth["body_part_examined"]["wrong"])
        mine = devices[devices.study_instance_uid == truth["study_uid"]]
        assert set(mine.station_canonical) == {truth["device"]["station_name_canonical"]}
        assert set(mine.institution_canonical) == {truth["device"]["institution_name_canonical"]}
    assert len(studies) == len(manifest["studies"])
    assert wrong_body_parts > 0  # the corpus planted wrong Body Part Examined values and they lost
    unmapped = make_warehouse.read_frame("SELECT kind, name, count FROM unmapped_name")
    expected_unmapped = {
        s["protocol"]["protocol_name_raw"] for s in manifest["studies"] if not s["protocol"]["canonical_exam"]
    }
    assert expected_unmapped <= set(unmapped[unmapped.kind == "exam_name"].name)
    assert set(unmapped.kind) <= {"exam_name"}  # every corpus station and institution is mapped


def test_rerun_gives_identical_rows_in_every_table(
    make_warehouse: Warehouse, corpus: tuple[Path, dict[str, Any]]
) -> None:
    folder, _ = corpus
    make_warehouse.upgrade()
    files = sorted(folder.rglob("*.dcm"))[:60]
    _curate(make_warehouse, files)
    first = {t.__tablename__: _table(make_warehouse, t.__tablename__) for t in CURATION_TABLES}  # type: ignore[attr-defined]
    _curate(make_warehouse, files)
    second = {t.__tablename__: _table(make_warehouse, t.__tablename__) for t in CURATION_TABLES}  # type: ignore[attr-defined]
    assert first == second
    assert len(first["instance"]) == 60


def test_failure_halfway_through_the_files_keeps_the_previous_rows(
    make_warehouse: Warehouse, corpus: tuple[Path, dict[str, Any]]
) -> None:
    folder, _ = corpus
    make_warehouse.upgrade()
    files = sorted(folder.rglob("*.dcm"))[:120]
    _curate(make_warehouse, files, run="good")
    before = {t.__tablename__: _table(make_warehouse, t.__tablename__) for t in CURATION_TABLES}  # type: ignore[attr-defined]

    def failing() -> Iterator[Path]:
        for index, path in enumerate(files):
            if index == 90:  # two batches of 40 already sent to the database
                raise OSError("disk went away")
            yield path

    with pytest.raises(OSError, match="disk went away"):
        _curate(make_warehouse, failing(), run="bad")
    after = {t.__tablename__: _table(make_warehouse, t.__tablename__) for t in CURATION_TABLES}  # type: ignore[attr-defined]
    assert after == before


def test_flags_phi_audit_and_unreadable_files(make_warehouse: Warehouse, tmp_path: Path) -> None:
    make_warehouse.upgrade()
    study = "2.25.100"
    files = [
        write_instance(
            make_dataset("CT", StudyInstanceUID=study, SeriesInstanceUID="2.25.101", CTDIvol=-1.0), tmp_path
        ),
        write_instance(
            make_dataset("CT", StudyInstanceUID=study, SeriesInstanceUID="2.25.101", PatientSex="M"), tmp_path
        ),
        write_instance(make_dose_sr(study, ("T-D1100", "SRT")), tmp_path),
        write_instance(make_dataset("MG", CompressionForce=450, OrganDose=None, PatientAge="130Y"), tmp_path),
    ]
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom")
    phi = tmp_path / "_phi_findings.jsonl"
    phi.write_text(
        json.dumps(
            {
                "sop_instance_uid": "2.25.7",
                "tag_path": "(0008,1030)",
                "entity_type": "PERSON",
                "score": 0.85,
                "action": "replaced",
            }
        )
        + "\nnot json\n"
    )
    quarantined: list[tuple[str, str]] = []
    curator = PartitionCurator(on_unreadable=lambda path, reason: quarantined.append((path.name, reason)))
    with make_warehouse.writing_partition(Lineage("2026-11-10", "r"), CURATION_TABLES) as writer:
        summary = curator.curate([*files, junk], writer, phi_findings=phi)
    assert quarantined and quarantined[0][0] == "junk.dcm" and "unreadable" in quarantined[0][1]
    flags = make_warehouse.read_frame("SELECT rule, field_name, value FROM quality_flag")
    found = {tuple(r) for r in flags.itertuples(index=False)}
    assert ("ctdivol_not_positive", "ctdivol_mgy", "-1") in found
    assert ("compression_force_out_of_range", "compression_force_n", "450") in found
    assert ("age_out_of_range", "patient_age_years", "130") in found
    assert ("missing_required_tag", "OrganDose", "MG") in found
    assert ("inconsistent_within_study", "patient_sex", "F|M") in found
    assert summary.flags_by_rule["inconsistent_within_study"] == 1
    audit = make_warehouse.read_frame("SELECT sop_instance_uid, entity_type, score, action FROM phi_finding")
    assert audit.to_dict("records") == [
        {"sop_instance_uid": "2.25.7", "entity_type": "PERSON", "score": 0.85, "action": "replaced"}
    ]
    study_row = make_warehouse.read_frame(
        "SELECT body_region_name, body_region_evidence FROM study WHERE study_instance_uid = :s", {"s": study}
    ).iloc[0]
    # The dose SR says head: it outranks the chest description and body part of the images.
    assert study_row.body_region_name == "head"
    assert study_row.body_region_evidence.startswith("sr_target_region=T-D1100")
