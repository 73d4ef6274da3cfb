"""Two sources for the end-to-end tests: the demo PACS and Orthanc, each holding a generated corpus of
the same study dates, and the site file that lists them under ``sources:``.

The two corpora have different seeds, so their studies (and UIDs) differ, and different sizes, so a
partition holding the other source's studies shows in its count as well as in its UIDs. The expected
research UIDs are the keyed pseudonyms of the source UIDs under the site secret
(:class:`resources.deid.pseudonyms.Pseudonymiser`), so the warehouse can be checked study by study.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from resources.corpus import CorpusSpec, generate_corpus
from resources.deid.pseudonyms import Pseudonymiser
from resources.partition_keys import key_for

START = dt.date(2026, 11, 9)
DAYS = 2
DAY_KEYS = [(START + dt.timedelta(days=n)).isoformat() for n in range(DAYS)]
DEMO, ORTHANC = "demo", "orthanc"
SOURCES = (DEMO, ORTHANC)
SECRET = "two-sources-secret-key-0123456789"
DEMO_PACS_AE = "DEMO_PACS"
LAKE_AE = "DICOM_LAKE"
# Columns that differ between two executions of the same partition by design.
RUN_COLUMNS = frozenset({"id", "run_id", "processed_at", "arrival_delay_s"})


def all_keys(days: list[str] | None = None) -> list[str]:
    """Every date x source key of the given study dates (default: the corpora's), date-major."""
    return [key_for(day, source) for day in (days or DAY_KEYS) for source in SOURCES]


@dataclass(frozen=True)
class SourceCorpus:
    """A source's generated archive: its files and its study UIDs by study date."""

    folder: Path
    studies: dict[str, frozenset[str]]

    def files(self) -> list[Path]:
        return sorted(self.folder.rglob("*.dcm"))

    def research_uids(self, day: str) -> set[str]:
        """The study UIDs the warehouse holds for ``day``: the keyed pseudonyms of the source UIDs."""
        pseudonyms = Pseudonymiser(SECRET.encode("utf-8"))
        return {pseudonyms.uid(uid) for uid in self.studies.get(day, frozenset())}


def make_corpus(folder: Path, *, seed: int, n_studies: int, days: int = DAYS) -> SourceCorpus:
    spec = CorpusSpec(
        seed=seed,
        n_studies=n_studies,
        start_date=START,
        days=days,
        ct_images_per_series=2,
        header_only=True,
        opt_out_fraction=0.0,
    )
    manifest = generate_corpus(folder, spec)
    by_day: dict[str, set[str]] = {}
    for study in manifest.studies:
        by_day.setdefault(str(study["study_date"]), set()).add(str(study["study_uid"]))
    return SourceCorpus(folder, {day: frozenset(uids) for day, uids in by_day.items()})


@dataclass(frozen=True)
class SourcePeer:
    """A source's archive as the site file names it, and the storage SCP port it moves to."""

    port: int
    ae_title: str
    lake_port: int

    def pacs_section(self) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "called_ae_title": self.ae_title,
            "calling_ae_title": LAKE_AE,
            "storage_scp_port": self.lake_port,
            "storage_scp_bind": "127.0.0.1",
        }


def write_two_source_site(
    path: Path, peers: dict[str, SourcePeer], *, warehouse: str | None = None, **sections: Any
) -> Path:
    """A site file with one ``sources:`` entry per peer (data zones beside the file)."""
    site: dict[str, Any] = {
        "partitions_start_date": "2026-01-01",
        "folders": {"root": str(path.parent)},
        "sources": [{"name": name, "pacs": peer.pacs_section()} for name, peer in peers.items()],
        "retrieval": {"policy": "metadata"},
        "selection": {"modalities": ["CT", "MG", "SR"]},
        **sections,
    }
    if warehouse is not None:
        site["warehouse"] = {"url": warehouse}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(site, sort_keys=False))
    return path


def partitioned_tables(engine: sa.Engine) -> dict[str, sa.Table]:
    metadata = sa.MetaData()
    metadata.reflect(engine)
    return {
        name: table
        for name, table in sorted(metadata.tables.items())
        if not name.startswith("alembic") and "partition_key" in table.c
    }


def rows_by_partition(url: str) -> dict[str, dict[str, list[tuple[Any, ...]]]]:
    """Every partitioned table's rows (without run columns, sorted) by partition key, then table."""
    engine = sa.create_engine(url)
    try:
        out: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
        with engine.connect() as con:
            for name, table in partitioned_tables(engine).items():
                columns = [c for c in table.c if c.name not in RUN_COLUMNS]
                for row in con.execute(sa.select(table.c.partition_key, *columns)):
                    out.setdefault(str(row[0]), {}).setdefault(name, []).append(tuple(row[1:]))
        for tables in out.values():
            for rows in tables.values():
                rows.sort(key=lambda r: tuple(repr(v) for v in r))
        return out
    finally:
        engine.dispose()


def run_ids_by_partition(url: str) -> dict[str, set[str]]:
    """The runs whose rows each partition holds, over every partitioned table."""
    engine = sa.create_engine(url)
    try:
        out: dict[str, set[str]] = {}
        with engine.connect() as con:
            for table in partitioned_tables(engine).values():
                if "run_id" not in table.c:
                    continue
                query = sa.select(table.c.partition_key, table.c.run_id).distinct()
                for key, run_id in con.execute(query):
                    out.setdefault(str(key), set()).add(str(run_id))
        return out
    finally:
        engine.dispose()


def study_uids_by_partition(url: str) -> dict[str, set[str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            rows = con.execute(sa.text("SELECT partition_key, study_instance_uid FROM study")).all()
        out: dict[str, set[str]] = {}
        for key, uid in rows:
            out.setdefault(str(key), set()).add(str(uid))
        return out
    finally:
        engine.dispose()
