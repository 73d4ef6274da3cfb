"""A generated site curated into a warehouse (SQLite file and a throw-away PostgreSQL schema), with its
dose tables, and with dates shifted per patient the way de-identification shifts them.

Each study's files go to the partition of its SOURCE study date. The corpus is not de-identified (the
analyses do not care), so the fixture then moves every stored date of a patient back by that patient's
own number of days, as de-identification does; grouping by a shifted date instead of the partition key
would then put studies on the wrong days, weeks and weekdays.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from resources.corpus import CorpusManifest, CorpusSpec, generate_corpus
from resources.curation import PartitionCurator
from resources.dose.dose_rows import IrradiationEventRow, StudyContextRow, StudyDoseRow
from resources.dose.drl import DrlMapping
from resources.dose.effective_dose import load_factor_set
from resources.dose.exam_context import default_exam_context
from resources.dose.partition_events import analyse_files
from resources.dose.study_rows import effective_dose_rows, study_dose_rows
from resources.dose.table_rows import read_rows, table_rows
from resources.warehouse import Lineage, Warehouse
from resources.warehouse import dose_tables as dt_tables
from resources.warehouse.tables import CURATION_TABLES
from tests.warehouse.backends import BACKENDS, postgres_schema

SPEC = CorpusSpec(
    seed=23,
    n_studies=70,
    start_date=dt.date(2026, 10, 26),
    days=21,
    header_only=True,
    plant_phi=False,
    ct_images_per_series=3,
    mg_fraction=0.25,
)
FACTOR_SET = "aapm96_icrp60"


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusManifest]:
    folder = tmp_path_factory.mktemp("analytics_corpus")
    return folder, generate_corpus(folder, SPEC)


def shift_days(patient_pseudonym: str) -> int:
    """A per-patient shift in [-300, -1] days, as de-identification draws one."""
    return -(1 + int.from_bytes(hashlib.sha256(patient_pseudonym.encode()).digest()[:4], "big") % 300)


def curate_site(warehouse: Warehouse, folder: Path, manifest: CorpusManifest) -> None:
    """Curation and the dose stages for every partition of the corpus, then the date shift."""
    warehouse.upgrade()
    by_partition: dict[str, list[Path]] = defaultdict(list)
    for study in manifest.studies:
        by_partition[study["study_date"]].extend(sorted((folder / study["folder"]).rglob("*.dcm")))
    factors = load_factor_set(FACTOR_SET)
    for key, files in sorted(by_partition.items()):
        lineage = Lineage(key, "test-run")
        with warehouse.writing_partition(lineage, CURATION_TABLES) as writer:
            PartitionCurator().curate(files, writer)
        analysis = analyse_files(files, default_exam_context(), DrlMapping.load())
        warehouse.replace_partition(
            lineage,
            {
                dt_tables.CtDoseEvent: table_rows(dt_tables.CtDoseEvent, analysis.events),
                dt_tables.CtEventSeriesLink: table_rows(dt_tables.CtEventSeriesLink, analysis.links),
                dt_tables.DoseStudyContext: table_rows(dt_tables.DoseStudyContext, analysis.contexts),
            },
        )
        events = read_rows(warehouse, dt_tables.CtDoseEvent, IrradiationEventRow, key)
        studies = study_dose_rows(
            events, read_rows(warehouse, dt_tables.DoseStudyContext, StudyContextRow, key)
        )
        warehouse.replace_partition(lineage, {dt_tables.StudyDose: table_rows(dt_tables.StudyDose, studies)})
        event_rows, study_rows = effective_dose_rows(
            events, read_rows(warehouse, dt_tables.StudyDose, StudyDoseRow, key), factors
        )
        warehouse.replace_partition(
            lineage,
            {
                dt_tables.EffectiveDose: table_rows(dt_tables.EffectiveDose, event_rows),
                dt_tables.StudyEffectiveDose: table_rows(dt_tables.StudyEffectiveDose, study_rows),
            },
        )
    shift_dates(warehouse)


def shift_dates(warehouse: Warehouse) -> None:
    """Move every date of a patient back by the patient's shift (times of day stay)."""
    with warehouse.engine.begin() as con:
        studies = con.execute(sa.text("SELECT study_instance_uid, patient_pseudonym FROM study")).all()
        shift = {uid: dt.timedelta(days=shift_days(str(pseudonym))) for uid, pseudonym in studies}
        for table, key, columns in (
            ("study", "study_instance_uid", ("study_date",)),
            ("series", "series_instance_uid", ("series_date",)),
            ("instance", "sop_instance_uid", ("acquisition_datetime", "content_datetime")),
            ("study_dose", "id", ("study_date",)),
            ("study_effective_dose", "id", ("study_date",)),
        ):
            rows = con.execute(
                sa.text(f"SELECT {key}, study_instance_uid, {', '.join(columns)} FROM {table}")
            )
            updates: list[dict[str, Any]] = []
            for row in rows.mappings():
                delta = shift.get(row["study_instance_uid"])
                if delta is None:
                    continue
                values = {c: _shifted(row[c], delta) for c in columns}
                updates.append({"k": row[key], **values})
            if updates:
                assignments = ", ".join(f"{c} = :{c}" for c in columns)
                con.execute(sa.text(f"UPDATE {table} SET {assignments} WHERE {key} = :k"), updates)


def _shifted(value: Any, delta: dt.timedelta) -> Any:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns text for raw SQL
        parsed: Any = dt.datetime.fromisoformat(value) if len(value) > 10 else dt.date.fromisoformat(value)
        return parsed + delta
    return value + delta


@pytest.fixture(scope="module", params=BACKENDS)
def site_warehouse(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    corpus: tuple[Path, CorpusManifest],
) -> Iterator[Warehouse]:
    """The corpus curated (with dose tables and shifted dates) on each back end, once per module."""
    folder, manifest = corpus
    if request.param == "sqlite":
        warehouse = Warehouse(f"sqlite:///{tmp_path_factory.mktemp('analytics_wh') / 'warehouse.sqlite'}")
        curate_site(warehouse, folder, manifest)
        yield warehouse
        warehouse.dispose()
        return
    with postgres_schema() as warehouse:
        curate_site(warehouse, folder, manifest)
        yield warehouse
