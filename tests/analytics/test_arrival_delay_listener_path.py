"""The delay from acquisition to arrival, end to end on the prospective path.

pydicom's CT_small.dcm, given acquisition times a known number of seconds before now (in the site's
zone, in a header offset, or only as Content Date/Time), is sent by dcmtk storescu to the in-process
listener; one more copy lands in the spool as a C-MOVE would put it (source ``pacs``). The partition
is de-identified and curated (SQLite and PostgreSQL) and the workflow analysis run. The delays must
come out within the time the sending took, the retrieved copy must stay out of the analysis, and no
receipt time or source UID may reach the warehouse or the research store.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pydicom
import pytest
import sqlalchemy as sa
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from resources.analytics.catalog import run_analysis
from resources.curation import PartitionCurator
from resources.curation.arrival_delays import ARRIVAL_FILE
from resources.deid.arrival import local_zone
from resources.deid.partition_run import SUMMARY_FILE, deidentify_partition
from resources.deid.resource import build_deidentifier
from resources.quarantine import QuarantineStore
from resources.research_store import ResearchStore
from resources.site_config import SiteConfig, load_site_config
from resources.spool.store import SpoolStore
from resources.warehouse import Lineage, Warehouse
from resources.warehouse.tables import CURATION_TABLES
from tests.dcmtk_tools import require_dcmtk, run_storescu
from tests.dicom_builder import encode
from tests.listener_site import start_listener_in_process, write_site
from tests.warehouse.backends import BACKENDS, make_warehouse

__all__ = ["make_warehouse"]  # the back-end fixture, used by parametrisation

ZONE = "Europe/Paris"
SECRET = b"arrival-test-secret-0123456789abcdef"
# Instance number -> (station, seconds acquired before the send, how the time is written).
PLAN: dict[int, tuple[str, float, str]] = {
    1: ("CT ALPHA", 600.0, "datetime"),
    2: ("CT ALPHA", 1200.0, "datetime"),
    3: ("CT ALPHA", 1800.0, "datetime"),
    4: ("CT BRAVO", 3600.0, "file_offset"),
    5: ("CT BRAVO", 120.0, "content_only"),
    6: ("CT BRAVO", -300.0, "datetime"),  # the modality's clock five minutes ahead of the lake's
}
RETRIEVED = (7, "CT BRAVO", 10 * 86400.0)
SERIES: dict[str, str] = {}  # one series per station


@dataclass
class Lake:
    config: SiteConfig
    partition: str
    window_s: float  # how long building and sending took: each delay may exceed its plan by this much
    source_uids: set[str]
    receipts: list[str]


def _instance(number: int, station: str, before_s: float, how: str, now: dt.datetime, study: str) -> bytes:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    acquired = now - dt.timedelta(seconds=before_s)
    local = acquired.astimezone(ZoneInfo(ZONE))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, SERIES.setdefault(station, generate_uid())
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyDate = ds.SeriesDate = now.astimezone(ZoneInfo(ZONE)).strftime("%Y%m%d")
    ds.InstanceNumber, ds.StationName, ds.DeviceSerialNumber = number, station, f"SN-{station[-5:]}"
    for keyword in (
        "AcquisitionDateTime",
        "AcquisitionDate",
        "AcquisitionTime",
        "ContentDate",
        "ContentTime",
    ):
        if keyword in ds:
            del ds[keyword]
    if how == "file_offset":
        # CT_small.dcm says Timezone Offset From UTC -0500: its times are read in that offset.
        assert ds.TimezoneOffsetFromUTC == "-0500"
        there = acquired.astimezone(dt.timezone(-dt.timedelta(hours=5)))
        ds.AcquisitionDate, ds.AcquisitionTime = there.strftime("%Y%m%d"), there.strftime("%H%M%S.%f")
        return encode(ds)
    del ds.TimezoneOffsetFromUTC  # the others: header local time, read in the site's zone
    if how == "datetime":
        ds.AcquisitionDateTime = local.strftime("%Y%m%d%H%M%S.%f")
    else:
        ds.ContentDate, ds.ContentTime = local.strftime("%Y%m%d"), local.strftime("%H%M%S.%f")
    return encode(ds)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    require_dcmtk("storescu")
    root = tmp_path_factory.mktemp("arrival")
    config = load_site_config(write_site(root / "site", schedule={"timezone": ZONE}))
    running = start_listener_in_process(config)
    try:
        started = time.monotonic()
        now = dt.datetime.now(dt.UTC)
        study = generate_uid()
        files = []
        for number, (station, before_s, how) in PLAN.items():
            path = root / "send" / f"{number}.dcm"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(_instance(number, station, before_s, how, now, study))
            files.append(path)
        result = run_storescu(running.port, files)
        assert result.returncode == 0, result.stderr
        window_s = time.monotonic() - started
    finally:
        running.close()
    partition = now.astimezone(ZoneInfo(ZONE)).date().isoformat()
    spool = SpoolStore(config.paths.spool)
    number, station, before_s = RETRIEVED
    retrieved = pydicom.dcmread(
        pydicom.filebase.DicomBytesIO(_instance(number, station, before_s, "datetime", now, study))
    )
    spool.store(
        encode(retrieved),
        sop_instance_uid=str(retrieved.SOPInstanceUID),
        sop_class_uid=str(retrieved.SOPClassUID),
        study_uid=study,
        series_uid=str(retrieved.SeriesInstanceUID),
        partition_key=partition,
        source="pacs",
    )
    records = spool.instances(partition)
    assert sorted(r.source for r in records) == ["listener"] * len(PLAN) + ["pacs"]
    source_uids = {uid for r in records for uid in (r.sop_instance_uid, r.series_uid, r.study_uid)}
    summary = deidentify_partition(
        build_deidentifier(config, SECRET),
        spool,
        ResearchStore(config.paths.research),
        QuarantineStore(config.paths.quarantine),
        partition,
        local_zone=local_zone(config.schedule.timezone),
    )
    assert summary.outcomes["deidentified"] == len(PLAN) + 1, summary.as_dict()
    yield Lake(config, partition, window_s + 1.0, source_uids, [r.received_at for r in records])


def _curate(warehouse: Warehouse, lake: Lake) -> None:
    warehouse.upgrade()
    research = ResearchStore(lake.config.paths.research)
    with warehouse.writing_partition(Lineage(lake.partition, "run-1"), CURATION_TABLES) as writer:
        PartitionCurator().curate(
            research.iter_files(lake.partition),
            writer,
            arrivals=research.partition_folder(lake.partition) / ARRIVAL_FILE,
        )


@pytest.mark.parametrize("make_warehouse", BACKENDS, indirect=True)
def test_listener_delays_reach_the_warehouse_and_the_workflow_analysis(
    make_warehouse: Warehouse, lake: Lake
) -> None:
    _curate(make_warehouse, lake)
    rows = make_warehouse.read_frame(
        "SELECT instance_number, arrival_delay_s, arrival_path FROM instance"
    ).set_index("instance_number")
    for number, (_, before_s, _) in PLAN.items():
        delay = rows.loc[number, "arrival_delay_s"]
        assert before_s <= delay <= before_s + lake.window_s, (number, delay)
        assert rows.loc[number, "arrival_path"] == "prospective"
    number, _, before_s = RETRIEVED
    assert rows.loc[number, "arrival_path"] == "retrieval"
    assert before_s <= rows.loc[number, "arrival_delay_s"] <= before_s + lake.window_s
    flags = make_warehouse.read_frame("SELECT rule FROM quality_flag WHERE rule LIKE 'arrival%'")
    assert flags["rule"].tolist() == ["arrival_delay_negative"]  # instance 6, kept and flagged

    analysis = run_analysis("workflow_timing", make_warehouse.engine)
    per_device = analysis.tables["arrival_delay_per_device"].sort_values("max", ignore_index=True)
    assert per_device["n"].tolist() == [3, 3]  # the retrieved copy is left out
    alpha, bravo = per_device.iloc[0], per_device.iloc[1]
    slack = lake.window_s
    assert 1200.0 <= alpha["median"] <= 1200.0 + slack
    assert 1800.0 <= alpha["max"] <= 1800.0 + slack
    assert alpha["iqr"] == pytest.approx(600.0, abs=slack) and alpha["n_negative"] == 0
    assert 120.0 <= bravo["median"] <= 120.0 + slack  # of -300, 120, 3600
    assert 3600.0 <= bravo["max"] <= 3600.0 + slack
    assert -300.0 <= bravo["min"] <= -300.0 + slack and bravo["n_negative"] == 1
    per_day = analysis.tables["arrival_delay_per_day"]
    assert set(per_day["partition_key"]) == {lake.partition} and per_day["n"].sum() == len(PLAN)
    assert {"arrival_delay", "arrival_delay_per_day"} <= set(analysis.figures)
    assert not any("not available" in note for note in analysis.notes)


def _receipt_spellings(received_at: str) -> set[str]:
    moment = dt.datetime.fromisoformat(received_at)
    local = moment.astimezone(ZoneInfo(ZONE))
    return {
        received_at,
        moment.strftime("%Y-%m-%dT%H:%M:%S"),
        moment.strftime("%Y-%m-%d %H:%M:%S"),
        moment.strftime("%Y%m%d%H%M%S"),
        local.strftime("%Y-%m-%d %H:%M:%S"),
        local.strftime("%Y%m%d%H%M%S"),
        moment.strftime("%H%M%S.%f"),
    }


@pytest.mark.parametrize("make_warehouse", BACKENDS[:1], indirect=True)
def test_no_receipt_time_or_source_uid_reaches_the_warehouse_or_research_store(
    make_warehouse: Warehouse, lake: Lake
) -> None:
    _curate(make_warehouse, lake)
    forbidden = set(lake.source_uids)
    for received_at in lake.receipts:
        forbidden |= _receipt_spellings(received_at)
    texts: list[tuple[str, str]] = []
    with make_warehouse.engine.connect() as connection:
        for table in sa.inspect(connection).get_table_names():
            for row in connection.execute(sa.text(f'SELECT * FROM "{table}"')).mappings():
                # processed_at is when curation wrote the row, not a receipt (and may share its second).
                texts.extend(
                    (table, str(value))
                    for column, value in row.items()
                    if value is not None and column != "processed_at"
                )
    research = Path(lake.config.paths.research)
    for path in sorted(p for p in research.rglob("*") if p.is_file()):
        texts.append((str(path.relative_to(research)), path.read_bytes().decode("latin-1")))
    hits = [(where, term) for where, text in texts for term in forbidden if term in text]
    assert hits == []
    # The partition summary (what the asset puts in Dagster metadata) holds counts only.
    summary = json.loads(
        (ResearchStore(research).partition_folder(lake.partition) / SUMMARY_FILE).read_text()
    )
    assert summary["arrival"] == {
        "paths": {"prospective": len(PLAN), "retrieval": 1},
        "flags": {"negative": 1},
    }
