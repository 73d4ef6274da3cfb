"""``dicom-lake rdsr FILE...``: one JSON object per file, with totals, events, flags; no patient identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration.cli import main
from tests.dicom_builder import CT_IMAGE, write_file
from tests.dose.conftest import ct_event, rdsr_dataset


def test_one_json_object_per_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = rdsr_dataset([ct_event("1.2.3.1", ctdivol="10.50/ 15.00"), ct_event("1.2.3.2", dlp="120.5")])
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "SECRET-ID-77"
    ds.StudyDescription = "for Jane Doe"
    report = write_file(ds, tmp_path / "report.dcm")
    ds2 = rdsr_dataset([])
    ds2.SOPClassUID = CT_IMAGE
    image = write_file(ds2, tmp_path / "image.dcm")

    status = main(["rdsr", str(report), str(image)])
    out = capsys.readouterr().out
    assert status == 0
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["document_type"] == "xray_radiation_dose_sr"
    assert first["totals"]["reported"]["total_number_of_events"] == 2
    assert first["totals"]["dlp_total_from_events_mgycm"] == pytest.approx(420.5)
    assert first["totals"]["dlp_total_matches"] is True
    bad = first["events"][0]
    assert bad["ctdivol_mgy"] is None and bad["invalid_values"] == {"ctdivol": "10.50/ 15.00"}
    assert "invalid_number:ctdivol" in bad["flags"]
    assert first["events"][1]["target_region"] == {"value": "43799004", "scheme": "SCT", "meaning": "Chest"}
    assert second == {
        "file": str(image),
        "document_type": "not_sr",
        "reason": "SOP class 1.2.840.10008.5.1.4.1.1.2 cannot carry TID 10011",
    }
    for secret in ("SECRET-ID-77", "Doe", "Jane"):
        assert secret not in out


def test_missing_file_sets_the_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rdsr", str(tmp_path / "nope.dcm")]) == 1
    assert json.loads(capsys.readouterr().out)["document_type"] == "missing"
