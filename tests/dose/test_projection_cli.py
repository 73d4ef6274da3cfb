"""``dicom-lake rdsr FILE...`` on projection X-ray dose SRs: read, totals per plane, no patient identity."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest

from orchestration.cli import main

pytestmark = pytest.mark.openrem


def test_projection_reports_are_printed_like_ct_ones(
    openrem_test_files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zee = openrem_test_files / "RF-RDSR-Siemens-Zee.dcm"
    mammo = openrem_test_files / "MG-RDSR-Hologic_2D.dcm"
    truncated = tmp_path / "cut.dcm"
    truncated.write_bytes(zee.read_bytes()[:40000])
    status = main(["rdsr", str(zee), str(mammo), str(truncated)])
    out = capsys.readouterr().out
    assert status == 0
    fluoro, mg, cut = (json.loads(line) for line in out.splitlines())
    assert (fluoro["document_type"], fluoro["kind"]) == ("xray_radiation_dose_sr", "projection_xray")
    (plane,) = fluoro["totals"]["planes"]
    assert plane["plane"] == "single" and plane["events_read"] == 8
    assert plane["reported"]["dose_area_product_total_gym2"] == pytest.approx(0.000016)
    assert plane["dap_total_from_events_gym2"] == pytest.approx(0.000016)
    assert plane["dap_total_matches"] is True and plane["dose_rp_total_matches"] is True
    assert fluoro["events"][0]["dose_rp_gy"] is not None
    assert mg["kind"] == "mammography"
    assert [e["laterality"] for e in mg["events"]] == ["left", "right"]
    assert mg["events"][0]["average_glandular_dose_mgy"] == pytest.approx(1.3)
    assert cut["partial"] is True and "truncated_content_tree" in cut["flags"]
    assert 0 < cut["totals"]["events_read"] < 8
    for source in (zee, mammo):
        patient_id = str(pydicom.dcmread(source).PatientID)
        assert patient_id and patient_id not in out
    assert "patient_id" not in fluoro
