"""The arrival delay rule (``resources.deid.arrival``) and its sidecar written by the partition run.

The rule's inputs are spelled as the spool index and real headers spell them: ``received_at`` in ISO
8601 UTC with microseconds, DICOM DT/DA/TM strings with and without a UTC offset.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydicom.dataset import Dataset

from resources.deid.arrival import (
    ARRIVAL_FILE,
    FLAG_IMPLAUSIBLE,
    FLAG_NEGATIVE,
    FLAG_NO_ACQUISITION_TIME,
    FLAG_NO_ARRIVAL_TIME,
    PROSPECTIVE,
    RETRIEVAL,
    arrival_delay,
    local_zone,
    source_moment,
)
from resources.deid.engine import Deidentifier
from resources.deid.errors import DeidSettingsError
from resources.deid.partition_run import deidentify_partition
from resources.quarantine import QuarantineStore
from resources.research_store import ResearchStore
from resources.spool.store import SpoolStore
from tests.deid.conftest import phi_ct
from tests.dicom_builder import encode, with_file_meta

PARIS = ZoneInfo("Europe/Paris")


def header(**values: str) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def test_acquisition_datetime_wins_then_acquisition_date_time_then_content() -> None:
    full = header(
        AcquisitionDateTime="20261110101623.5",
        AcquisitionDate="20261110",
        AcquisitionTime="090000",
        ContentDate="20261110",
        ContentTime="080000",
    )
    assert source_moment(full) is not None
    assert source_moment(full).local == dt.datetime(2026, 11, 10, 10, 16, 23, 500000)  # type: ignore[union-attr]
    pair = header(
        AcquisitionDate="20261110", AcquisitionTime="09:00:00", ContentDate="20261110", ContentTime="08"
    )
    assert source_moment(pair).local == dt.datetime(2026, 11, 10, 9, 0, 0)  # type: ignore[union-attr]
    content = header(ContentDate="20261110", ContentTime="0815")
    assert source_moment(content).local == dt.datetime(2026, 11, 10, 8, 15)  # type: ignore[union-attr]
    # A date-only Acquisition DateTime says nothing of the time: the next pair is used.
    date_only = header(AcquisitionDateTime="20261110", ContentDate="20261110", ContentTime="120000")
    assert source_moment(date_only).local == dt.datetime(2026, 11, 10, 12)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"AcquisitionDate": "20261110"},
        {"ContentTime": "101500"},
        {"AcquisitionDateTime": "garbage", "AcquisitionDate": "2026-11-10", "AcquisitionTime": "1015"},
        {"AcquisitionDate": "20261310", "AcquisitionTime": "101500"},
    ],
)
def test_missing_or_unreadable_times_give_no_delay_and_say_why(values: dict[str, str]) -> None:
    moment = source_moment(header(**values))
    assert moment is None
    delay = arrival_delay("2026-11-10T09:20:00.000000+00:00", moment, "listener", PARIS)
    assert (delay.delay_s, delay.path, delay.flag) == (None, PROSPECTIVE, FLAG_NO_ACQUISITION_TIME)


def test_header_local_time_is_read_in_the_site_zone_and_arrival_in_utc() -> None:
    # 10:15 in Paris on 10 November (CET, UTC+1) is 09:15 UTC; received 5 minutes later.
    moment = source_moment(header(AcquisitionDate="20261110", AcquisitionTime="101500"))
    delay = arrival_delay("2026-11-10T09:20:00.250000+00:00", moment, "listener", PARIS)
    assert delay.delay_s == pytest.approx(300.25)
    assert delay.flag is None
    # The same header read as UTC would be 55 minutes negative: the zone matters.
    utc = arrival_delay("2026-11-10T09:20:00.250000+00:00", moment, "listener", dt.UTC)
    assert utc.delay_s == pytest.approx(-3299.75)
    assert utc.flag == FLAG_NEGATIVE
    # Summer time: 10:15 in Paris on 10 July (CEST, UTC+2) is 08:15 UTC.
    summer = source_moment(header(AcquisitionDateTime="20260710101500"))
    assert arrival_delay("2026-07-10T08:16:00+00:00", summer, "listener", PARIS).delay_s == 60.0


def test_the_header_s_own_offset_beats_the_site_zone() -> None:
    suffixed = source_moment(header(AcquisitionDateTime="20261110101500-0500", TimezoneOffsetFromUTC="+0900"))
    assert arrival_delay("2026-11-10T15:16:00+00:00", suffixed, "listener", PARIS).delay_s == 60.0
    tagged = source_moment(
        header(AcquisitionDate="20261110", AcquisitionTime="101500", TimezoneOffsetFromUTC="+0900")
    )
    assert arrival_delay("2026-11-10T01:16:00+00:00", tagged, "listener", PARIS).delay_s == 60.0


def test_negative_and_implausible_delays_are_kept_and_flagged() -> None:
    moment = source_moment(header(AcquisitionDateTime="20261110101500"))
    ahead = arrival_delay("2026-11-10T10:14:00+00:00", moment, "listener", dt.UTC)
    assert (ahead.delay_s, ahead.flag) == (-60.0, FLAG_NEGATIVE)
    late = arrival_delay("2026-11-20T10:15:00+00:00", moment, "listener", dt.UTC)
    assert (late.delay_s, late.flag) == (10 * 86400.0, FLAG_IMPLAUSIBLE)
    # A retrieval ten days (or ten years) after acquisition is ordinary: no flag.
    fetched = arrival_delay("2026-11-20T10:15:00+00:00", moment, "pacs", dt.UTC)
    assert (fetched.delay_s, fetched.path, fetched.flag) == (10 * 86400.0, RETRIEVAL, None)
    # A retrieval can still be flagged negative (the header lies about the time).
    assert arrival_delay("2026-11-10T10:14:00+00:00", moment, "pacs", dt.UTC).flag == FLAG_NEGATIVE


def test_retrieval_and_listener_and_unknown_sources_and_bad_receipts() -> None:
    moment = source_moment(header(AcquisitionDateTime="20261110101500"))
    assert arrival_delay("2026-11-10T10:15:01+00:00", moment, "listener", dt.UTC).path == PROSPECTIVE
    assert arrival_delay("2026-11-10T10:15:01+00:00", moment, "pacs", dt.UTC).path == RETRIEVAL
    assert arrival_delay("2026-11-10T10:15:01+00:00", moment, "import", dt.UTC).path == "import"
    # An offset-less receipt is read as UTC, as the spool writes it.
    assert arrival_delay("2026-11-10T10:15:01", moment, "listener", dt.UTC).delay_s == 1.0
    broken = arrival_delay("yesterday", moment, "listener", dt.UTC)
    assert (broken.delay_s, broken.flag) == (None, FLAG_NO_ARRIVAL_TIME)


def test_an_unknown_site_zone_is_a_settings_error() -> None:
    assert local_zone("Europe/Paris") == PARIS
    with pytest.raises(DeidSettingsError, match="Mars/Olympus"):
        local_zone("Mars/Olympus")


def _spool(spool: SpoolStore, ds: Dataset, *, source: str, received_at: str, partition: str) -> None:
    record = spool.write_file(
        encode(with_file_meta(ds)),
        sop_instance_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.SOPClassUID),
        study_uid=str(ds.StudyInstanceUID),
        series_uid=str(ds.SeriesInstanceUID),
        partition_key=partition,
        source=source,
        received_at=received_at,
    )
    spool.index_records([record])


def test_partition_run_writes_one_sidecar_line_per_research_copy_keyed_by_research_uid(
    engine: Deidentifier, tmp_path: Path
) -> None:
    spool, research = SpoolStore(tmp_path / "spool", fsync=False), ResearchStore(tmp_path / "research")
    forwarded = phi_ct(study_uid="1.2.826.0.1.3680043.8.498.501")  # acquired 2026-11-10 10:16:23.5
    fetched = phi_ct(patient_id="MRN9", study_uid="1.2.826.0.1.3680043.8.498.502")
    untimed = phi_ct(patient_id="MRN8", study_uid="1.2.826.0.1.3680043.8.498.503")
    for keyword in ("AcquisitionDateTime", "AcquisitionDate", "AcquisitionTime"):
        del untimed[keyword]
    assert "ContentTime" not in untimed  # Content Date alone gives no moment either
    _spool(
        spool,
        forwarded,
        source="listener",
        received_at="2026-11-10T09:18:23.500000+00:00",
        partition="2026-11-10",
    )
    _spool(
        spool, fetched, source="pacs", received_at="2026-11-12T09:16:23.500000+00:00", partition="2026-11-10"
    )
    _spool(
        spool,
        untimed,
        source="listener",
        received_at="2026-11-10T09:30:00.000000+00:00",
        partition="2026-11-10",
    )

    summary = deidentify_partition(
        engine, spool, research, QuarantineStore(tmp_path / "q"), "2026-11-10", local_zone=PARIS
    )

    assert summary.outcomes["deidentified"] == 3
    lines = [
        json.loads(line)
        for line in (research.partition_folder("2026-11-10") / ARRIVAL_FILE).read_text().splitlines()
    ]
    research_uids = {path.stem for path in research.files("2026-11-10")}
    assert {line["sop_instance_uid"] for line in lines} == research_uids
    source_uids = {str(ds.SOPInstanceUID) for ds in (forwarded, fetched, untimed)}
    assert not research_uids & source_uids
    by_delay = sorted(lines, key=lambda line: (line["arrival_delay_s"] is None, line["arrival_delay_s"] or 0))
    assert [(line["arrival_delay_s"], line["arrival_path"], line["flag"]) for line in by_delay] == [
        (120.0, PROSPECTIVE, None),  # 10:16:23.5 Paris = 09:16:23.5 UTC, received 2 minutes later
        (2 * 86400.0 + 0.0, RETRIEVAL, None),
        (None, PROSPECTIVE, FLAG_NO_ACQUISITION_TIME),
    ]
    assert summary.as_dict()["arrival"] == {
        "paths": {PROSPECTIVE: 2, RETRIEVAL: 1},
        "flags": {FLAG_NO_ACQUISITION_TIME: 1},
    }
    # Neither the sidecar nor the summary carries a receipt time.
    written = (research.partition_folder("2026-11-10") / ARRIVAL_FILE).read_text() + json.dumps(
        summary.as_dict()
    )
    for receipt_clock in ("09:18:23", "09:16:23", "09:30:00", "091823", "091623", "093000"):
        assert receipt_clock not in written
