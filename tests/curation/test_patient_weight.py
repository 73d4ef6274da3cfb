"""Patient's Weight (0010,1030) on the curated study: read as de-identified, kept unbanded, migrated by 0009.

The weight places a study in the weight band of paediatric DRLs (RP 185 body); it survives
de-identification only under the PS3.15 Retain Patient Characteristics option.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from resources.curation import PartitionCurator
from resources.curation.flatten import flatten_dataset
from resources.warehouse import Lineage, Warehouse
from resources.warehouse.store import _import_all_tables
from resources.warehouse.tables import CURATION_TABLES
from tests.curation.conftest import make_dataset, make_dose_sr
from tests.dicom_builder import write_instance
from tests.warehouse.backends import BACKENDS, make_warehouse

__all__ = ["make_warehouse"]  # the fixture, used through the parameter of the same name


def _study_columns(warehouse: Warehouse) -> set[str]:
    return {c["name"] for c in sa.inspect(warehouse.engine).get_columns("study")}


def test_weight_is_read_as_given_and_zero_means_not_entered() -> None:
    assert flatten_dataset(make_dataset("CT", PatientWeight="58.5"))["patient_weight_kg"] == 58.5
    # Scanners write 0 when nobody entered a weight; it must not fall into the lightest band.
    assert flatten_dataset(make_dataset("CT", PatientWeight="0"))["patient_weight_kg"] is None
    assert flatten_dataset(make_dataset("CT"))["patient_weight_kg"] is None


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_study_row_keeps_the_weight_any_instance_of_the_study_carries(
    make_warehouse: Warehouse, tmp_path: Path
) -> None:
    make_warehouse.upgrade()
    weighed, unweighed = "2.25.300", "2.25.400"
    files = [
        # The first instance has no weight, the dose report of the same study has it.
        write_instance(make_dataset("CT", StudyInstanceUID=weighed, SeriesInstanceUID="2.25.301"), tmp_path),
        write_instance(make_dose_sr(weighed, ("T-D3000", "SRT")), tmp_path),
        write_instance(
            make_dataset("CT", StudyInstanceUID=unweighed, SeriesInstanceUID="2.25.401"), tmp_path
        ),
    ]
    ds = pydicom.dcmread(files[1])
    ds.PatientWeight = "17.5"
    ds.save_as(files[1])
    with make_warehouse.writing_partition(Lineage("2026-11-10", "r"), CURATION_TABLES) as writer:
        PartitionCurator().curate(files, writer)
    frame = make_warehouse.read_frame("SELECT study_instance_uid, patient_weight_kg FROM study")
    weights = dict(zip(frame.study_instance_uid, frame.patient_weight_kg, strict=True))
    assert weights[weighed] == pytest.approx(17.5)
    assert frame.set_index("study_instance_uid").patient_weight_kg.isna()[unweighed]


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_revision_0009_adds_the_column_and_keeps_earlier_rows(make_warehouse: Warehouse) -> None:
    make_warehouse.upgrade("0008")
    assert "patient_weight_kg" not in _study_columns(make_warehouse)
    with make_warehouse.engine.begin() as con:
        con.execute(
            sa.text(
                "INSERT INTO study (study_instance_uid, partition_key, run_id, code_version, "
                "deid_profile_version, processed_at, n_series, n_instances) "
                "VALUES ('2.25.1', '2026-11-10', 'before', 'c', 'p', '2026-11-10 10:00:00', 1, 1)"
            )
        )
    make_warehouse.upgrade()
    assert make_warehouse.current_revision() == make_warehouse.head_revision()
    assert "patient_weight_kg" in _study_columns(make_warehouse)
    frame = make_warehouse.read_frame("SELECT study_instance_uid, patient_weight_kg FROM study")
    assert list(frame.study_instance_uid) == ["2.25.1"] and frame.patient_weight_kg.isna().all()
    make_warehouse.upgrade()  # again: nothing to do, the column is kept
    make_warehouse.downgrade("0008")
    assert "patient_weight_kg" not in _study_columns(make_warehouse)


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_migrated_study_table_matches_its_model(make_warehouse: Warehouse) -> None:
    make_warehouse.upgrade()
    _import_all_tables()
    with make_warehouse.engine.connect() as con:
        diff = compare_metadata(
            MigrationContext.configure(con, opts={"compare_type": True}), SQLModel.metadata
        )
    # Other tables are other revisions' business; the study table must match the model exactly.
    assert [d for d in diff if "'study'" in repr(d)] == []
