"""Re-sends: a SOP Instance UID received again is counted on its spool row, not silently replaced."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from resources.spool import SpoolStore
from resources.spool.index_schema import SCHEMA
from tests.dicom_builder import CT_IMAGE

PARTITION = "2026-11-09"


def _store(spool: SpoolStore, uid: str, data: bytes) -> None:
    spool.store(
        data,
        sop_instance_uid=uid,
        sop_class_uid=CT_IMAGE,
        study_uid="1.2.3",
        series_uid="1.2.3.0",
        partition_key=PARTITION,
        source="listener",
    )


def test_a_second_copy_is_counted_with_the_time_it_arrived(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    _store(spool, "1.2.3.1", b"first copy")
    _store(spool, "1.2.3.2", b"sent once")
    assert spool.resend_summary().instances == 0
    _store(spool, "1.2.3.1", b"second copy")
    _store(spool, "1.2.3.1", b"third copy")

    [resent] = spool.resent_instances()
    assert resent.sop_instance_uid == "1.2.3.1"
    assert resent.resend_count == 2
    assert resent.last_resent_at == resent.received_at  # the latest copy is the one kept
    assert resent.path.read_bytes() == b"third copy"
    summary = spool.resend_summary()
    assert (summary.instances, summary.resends, summary.last_resent_at) == (1, 2, resent.received_at)
    assert spool.resend_summary(since=resent.received_at).instances == 0
    assert len(spool.instances(PARTITION)) == 2  # still one row per instance


def test_the_same_receipt_recorded_again_is_not_a_resend(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool", fsync=False)
    record = spool.write_file(
        b"data",
        sop_instance_uid="1.2.3.1",
        sop_class_uid=CT_IMAGE,
        study_uid="1.2.3",
        series_uid="1.2.3.0",
        partition_key=PARTITION,
        source="listener",
    )
    spool.index_records([record])
    spool.index_records([record])  # what a journal replay does
    assert spool.resend_summary().instances == 0


def test_an_index_made_before_resends_were_counted_gains_the_columns_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    root = tmp_path / "spool"
    root.mkdir()
    con = sqlite3.connect(root / "index.sqlite")
    con.executescript(SCHEMA)  # the tables as they were created before the re-send columns
    con.execute(
        """INSERT INTO spool_instance (sop_instance_uid, partition_key, study_uid, series_uid, sop_class_uid,
               path, sha256, size_bytes, source, received_at)
           VALUES ('1.2.3.1', ?, '1.2.3', '1.2.3.0', ?, ?, 'x', 4, 'listener', '2026-11-09T00:00:00')""",
        (PARTITION, CT_IMAGE, str(root / "a.dcm")),
    )
    con.commit()
    con.close()
    (root / "a.dcm").write_bytes(b"data")

    spool = SpoolStore(root, fsync=False)
    SpoolStore(root, fsync=False).close()  # a second open finds the columns there: no error
    [row] = spool.instances(PARTITION)
    assert (row.resend_count, row.last_resent_at) == (0, None)
    _store(spool, "1.2.3.1", b"again")
    assert spool.resend_summary().resends == 1
