"""The spool store: atomic owner-only files, idempotent index rows, states, safe paths, partition keys."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from resources.spool import SpoolStore, SpoolWriteError, partition_key_from_dicom_date, write_atomically
from tests.dicom_builder import CT_IMAGE


def store_one(spool: SpoolStore, sop: str = "1.2.3.4", data: bytes = b"DICM-bytes") -> Path:
    record = spool.store(
        data,
        sop_instance_uid=sop,
        sop_class_uid=CT_IMAGE,
        study_uid="1.2.3",
        series_uid="1.2.3.1",
        partition_key="2026-11-09",
        source="pacs",
    )
    return record.path


def test_spool_file_is_owner_only_and_hashed(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool")
    path = store_one(spool, data=b"abc")
    assert path.read_bytes() == b"abc"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
    (record,) = spool.instances("2026-11-09")
    assert record.sha256 == hashlib.sha256(b"abc").hexdigest()
    assert record.size_bytes == 3


def test_storing_the_same_instance_twice_keeps_one_row(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool")
    store_one(spool, data=b"first")
    store_one(spool, data=b"second")
    rows = spool.instances("2026-11-09")
    assert len(rows) == 1
    assert rows[0].path.read_bytes() == b"second"
    assert spool.known_instances(["1.2.3.4", "9.9"]) == {"1.2.3.4"}


def test_a_failed_write_leaves_no_file_and_names_it(tmp_path: Path) -> None:
    # A folder that cannot be created (its parent is a regular file) fails for root too.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(SpoolWriteError, match=r"a\.dcm: could not be written"):
        write_atomically(blocker / "a.dcm", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_partial_files_are_swept(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool")
    part = tmp_path / "spool" / "2026-11-09" / ".x.dcm.1.2.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"half")
    assert spool.sweep_partial_files() == 1
    assert not part.exists()


def test_state_changes_and_filters(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool")
    store_one(spool, sop="1.1")
    store_one(spool, sop="1.2")
    spool.set_state(["1.1"], "quarantined", "unreadable")
    assert [r.sop_instance_uid for r in spool.instances("2026-11-09")] == ["1.2"]
    assert [r.sop_instance_uid for r in spool.instances("2026-11-09", states=["quarantined"])] == ["1.1"]
    with pytest.raises(ValueError, match="unknown spool state"):
        spool.set_state(["1.1"], "lost")


def test_hostile_uid_cannot_escape_the_spool(tmp_path: Path) -> None:
    spool = SpoolStore(tmp_path / "spool")
    path = store_one(spool, sop="../../etc/passwd")
    assert (tmp_path / "spool") in path.parents


@pytest.mark.parametrize(
    ("value", "expected"), [("20261109", "2026-11-09"), ("2026110", None), ("", None), (None, None)]
)
def test_partition_key_from_dicom_date(value: str | None, expected: str | None) -> None:
    assert partition_key_from_dicom_date(value) == expected
