"""Generated warehouses for the report benchmark: curated and dose rows written straight into a private
PostgreSQL schema with COPY (no DICOM files; curation has its own benchmark).

Studies are CT (localiser plus one or two image series, CT acquisition rows, study dose and effective
dose) and mammography (four views), over a year of source days, six scanners with several manufacturer
spellings, patients seen more than once, dates shifted per patient as de-identification shifts them.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import random
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from resources.warehouse import dose_tables, tables
from resources.warehouse.store import Warehouse

FIRST_DAY = dt.date(2025, 11, 1)
DAYS = 365
CT_IMAGES_PER_SERIES = 16
FLUSH_ROWS = 50_000
NULL = "\\N"  # COPY's NULL marker: an empty field stays an empty string (flags = "")
# (station, modality, model, serial, manufacturer spellings, institution)
SCANNERS = (
    (
        "CT1",
        "CT",
        "LightSpeed VCT",
        "GE00123CT",
        ("GE MEDICAL SYSTEMS", "GE Healthcare"),
        "St Elsewhere Hospital",
    ),
    (
        "CT2",
        "CT",
        "SOMATOM Definition AS+",
        "73951",
        ("SIEMENS", "Siemens Healthineers"),
        "St Elsewhere Hospital",
    ),
    ("CT3", "CT", "Ingenuity CT", "200076", ("Philips", "PHILIPS"), "Riverside Community Hospital"),
    ("CT4", "CT", "Aquilion ONE", "CA9911", ("TOSHIBA", "CANON_MEC"), "Riverside Community Hospital"),
    (
        "MAMMO1",
        "MG",
        "Selenia Dimensions",
        "SDM0712345",
        ("HOLOGIC, Inc.", "HOLOGIC"),
        "St Elsewhere Hospital",
    ),
    ("MAMMO2", "MG", "Senographe Pristina", "PR5521", ("GE Healthcare",), "Riverside Community Hospital"),
)
CT_EXAMS = (
    ("CT Head", "head", "HEAD"),
    ("CT Chest", "chest", "CHEST"),
    ("CT Abdomen-pelvis", "abdomen_and_pelvis", "ABDOMEN"),
    ("CT Chest-abdomen-pelvis", "chest_abdomen_pelvis", "CHEST"),
    (None, "chest", "PELVIS"),
)
LINEAGE = {"run_id": "bench", "code_version": "bench", "deid_profile_version": "bench"}


class Copier:
    """Rows of one table buffered as CSV and sent with COPY in blocks."""

    def __init__(self, cursor: Any, schema: str, table: sa.Table) -> None:
        self.cursor = cursor
        self.name = f'"{schema}"."{table.name}"'
        # Serial ids are left to the server; every other column is written.
        self.columns = [c.name for c in table.columns if not (c.primary_key and c.name == "id")]
        # COPY applies no client-side defaults (n_series = 0, flags = ""): they are written here.
        self.defaults = {
            c.name: c.default.arg
            for c in table.columns
            if isinstance(c.default, ScalarElementColumnDefault) and c.name in self.columns
        }
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer)
        self.pending = 0
        self.written = 0

    def add(self, row: dict[str, Any]) -> None:
        values = []
        for name in self.columns:
            value = row.get(name, self.defaults.get(name))
            values.append(
                NULL if value is None else ("t" if value is True else "f" if value is False else value)
            )
        self.writer.writerow(values)
        self.pending += 1
        if self.pending >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        self.buffer.seek(0)
        self.cursor.copy_expert(
            f"COPY {self.name} ({', '.join(self.columns)}) FROM STDIN WITH (FORMAT csv, NULL '{NULL}')",
            self.buffer,
        )
        self.written += self.pending
        self.buffer, self.pending = io.StringIO(), 0
        self.writer = csv.writer(self.buffer)


def _table(model: Any) -> sa.Table:
    found = model.__table__
    assert isinstance(found, sa.Table)
    return found


def generate(warehouse: Warehouse, schema: str, n_instances: int, seed: int) -> dict[str, int]:
    """Write about ``n_instances`` instances (and their studies, series, devices ...) into ``schema``."""
    rng = random.Random(seed)
    models = {
        "study": tables.Study,
        "series": tables.Series,
        "instance": tables.Instance,
        "device": tables.Device,
        "patient": tables.Patient,
        "ct_acquisition": tables.CtAcquisition,
        "mg_exposure": tables.MgExposure,
        "unmapped_name": tables.UnmappedName,
        "study_dose": dose_tables.StudyDose,
        "study_effective_dose": dose_tables.StudyEffectiveDose,
    }
    raw = warehouse.engine.raw_connection()
    try:
        cursor = raw.cursor()
        out = {name: Copier(cursor, schema, _table(model)) for name, model in models.items()}
        _write_rows(out, rng, n_instances, seed)
        for copier in out.values():
            copier.flush()
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return {name: copier.written for name, copier in out.items()}


def _write_rows(out: dict[str, Copier], rng: random.Random, n_instances: int, seed: int) -> None:
    mean_per_study = 0.75 * (1 + 1.5 * CT_IMAGES_PER_SERIES) + 0.25 * 4
    n_studies = max(1, int(n_instances / mean_per_study))
    processed = dt.datetime(2026, 12, 1)
    devices_seen: set[tuple[str, str]] = set()
    patients_seen: set[tuple[str, str]] = set()
    instances = 0
    for index in range(n_studies):
        if instances >= n_instances:
            break
        day = FIRST_DAY + dt.timedelta(days=index * DAYS // n_studies)
        key = day.isoformat()
        lineage = {**LINEAGE, "partition_key": key, "processed_at": processed}
        patient = f"P{seed}-{rng.randrange(max(1, n_studies * 2 // 3))}"
        shift = dt.timedelta(days=-(1 + zlib.crc32(patient.encode()) % 300))
        wanted = "CT" if rng.random() < 0.75 else "MG"
        station, modality, model, serial, spellings, institution = rng.choice(
            [s for s in SCANNERS if s[1] == wanted]
        )
        maker = rng.choice(spellings)
        device_key = f"{station}-{maker}"[:24]
        if (device_key, key) not in devices_seen:
            devices_seen.add((device_key, key))
            out["device"].add(
                {
                    **lineage,
                    "device_key": device_key,
                    "manufacturer": maker,
                    "model_name": model,
                    "station_name": station,
                    "station_canonical": station,
                    "institution_name": institution,
                    "institution_canonical": institution,
                    "software_versions": f"{model[:4]}-{day.month % 3}",
                    "serial_pseudonym": f"{serial}-pseudo",
                }
            )
        age = rng.choice((1, 7, 12, 16)) if rng.random() < 0.08 else rng.uniform(18, 95)
        if (patient, key) not in patients_seen:
            patients_seen.add((patient, key))
            out["patient"].add(
                {**lineage, "patient_pseudonym": patient, "sex": rng.choice("FM"), "age_band": None}
            )
        start = dt.datetime.combine(day, dt.time(rng.randrange(7, 20), rng.randrange(60))) + shift
        study_uid = f"2.25.{seed}.{index}"
        exam, region, body_part = (
            rng.choice(CT_EXAMS) if modality == "CT" else ("Mammography screening", "breast", "BREAST")
        )
        # CT: a localiser and one or two image series; mammography: four views.
        series_sizes = [1] + [CT_IMAGES_PER_SERIES] * rng.choice((1, 2)) if modality == "CT" else [4]
        clock = start
        for number, size in enumerate(series_sizes, start=1):
            series_uid = f"{study_uid}.{number}"
            out["series"].add(
                {
                    **lineage,
                    "series_instance_uid": series_uid,
                    "study_instance_uid": study_uid,
                    "device_key": device_key,
                    "modality": modality,
                    "series_number": number,
                    "series_date": clock.date(),
                    "series_time": clock.time(),
                    "protocol_name": exam or "odd protocol",
                    "body_part_examined": body_part,
                    "exam_name": exam,
                    "body_region_name": region,
                    "n_instances": size,
                }
            )
            for image in range(size):
                clock += dt.timedelta(
                    seconds=rng.uniform(0.3, 2.0) if modality == "CT" else rng.uniform(30, 90)
                )
                sop_uid = f"{series_uid}.{image}"
                instances += 1
                out["instance"].add(
                    {
                        **lineage,
                        "sop_instance_uid": sop_uid,
                        "series_instance_uid": series_uid,
                        "study_instance_uid": study_uid,
                        "modality": modality,
                        "instance_number": image + 1,
                        "acquisition_datetime": clock,
                    }
                )
                keys = {
                    **lineage,
                    "sop_instance_uid": sop_uid,
                    "series_instance_uid": series_uid,
                    "study_instance_uid": study_uid,
                }
                if modality == "CT":
                    ctdi = None if number == 1 else rng.uniform(3, 60)
                    out["ct_acquisition"].add(
                        {**keys, "ctdivol_mgy": ctdi, "kvp": 120.0, "slice_thickness_mm": 1.0}
                    )
                else:
                    out["mg_exposure"].add({**keys, "organ_dose_mgy": rng.uniform(0.8, 3.0), "kvp": 29.0})
        out["study"].add(
            {
                **lineage,
                "study_instance_uid": study_uid,
                "patient_pseudonym": patient,
                "study_date": (start).date(),
                "study_time": start.time(),
                "modalities": modality,
                "exam_name": exam,
                "body_region_name": region,
                "patient_age_years": round(age, 2),
                "n_series": len(series_sizes),
                "n_instances": sum(series_sizes),
            }
        )
        if modality == "CT":
            dlp = rng.uniform(100, 1200)
            common = {
                **lineage,
                "study_instance_uid": study_uid,
                "patient_pseudonym": patient,
                "study_date": start.date(),
            }
            out["study_dose"].add(
                {
                    **common,
                    "patient_age_years": round(age, 2),
                    "device": station,
                    "exam_name": exam,
                    "origin": "rdsr" if rng.random() < 0.8 else "estimated",
                    "n_events": len(series_sizes),
                    "n_events_with_dose": len(series_sizes) - 1,
                    "dlp_total_mgycm": dlp,
                    "ctdivol_diagnostic_mean_mgy": rng.uniform(3, 60),
                }
            )
            out["study_effective_dose"].add(
                {**common, "factor_set": "aapm96_icrp60", "effective_dose_msv": dlp * 0.015, "origin": "rdsr"}
            )
        if index % 97 == 0:
            out["unmapped_name"].add({**lineage, "kind": "exam_name", "name": "odd protocol", "count": 1})


@contextlib.contextmanager
def private_warehouse(url: str, label: str) -> Iterator[tuple[Warehouse, str]]:
    """A warehouse in a fresh schema of the server, dropped on exit."""
    schema = f"bench_reports_{label}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url)
    with admin.begin() as con:
        con.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    warehouse = Warehouse(url, schema=schema)
    try:
        warehouse.create_all()
        yield warehouse, schema
    finally:
        warehouse.dispose()
        with admin.begin() as con:
            con.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
