"""Generated objects validated by an independent checker: dciodvfy (Debian dicom3tools)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import pytest

from resources.corpus import generate_corpus
from tests.corpus.conftest import SPEC

DCIODVFY = shutil.which("dciodvfy")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy not installed (Debian package dicom3tools)"),
]


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("validated")
    generate_corpus(out, dataclasses.replace(SPEC, n_studies=8))
    return out


@pytest.mark.parametrize(
    ("pattern", "iod"),
    [
        ("*_CT/0002_image/1.dcm", "CTImage"),
        ("*_CT/0001_localizer/1.dcm", "CTImage"),
        ("*_MG/0001_mg/1.dcm", "MammographyImageForPresentation"),
        ("*_CT/*_rdsr/1.dcm", "XRayRadiationDoseSR"),
    ],
)
def test_dciodvfy_finds_no_errors(small_corpus: Path, pattern: str, iod: str) -> None:
    files = sorted(small_corpus.glob(pattern))
    assert files, f"the corpus has no {pattern}"
    for path in files[:2]:
        assert DCIODVFY is not None
        result = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=60)
        output = result.stdout + result.stderr
        assert iod in output, output
        errors = [line for line in output.splitlines() if line.startswith("Error")]
        assert not errors, f"{path.relative_to(small_corpus)}: {errors}"


DSR2XML = shutil.which("dsr2xml")


@pytest.mark.dcmtk
@pytest.mark.skipif(DSR2XML is None, reason="dsr2xml not installed (Debian package dcmtk)")
def test_dose_reports_parse_strictly_with_dcmtk(small_corpus: Path) -> None:
    """dsr2xml without its leniency options rejects invalid content items and relationships."""
    reports = sorted(small_corpus.glob("*_CT/*_rdsr/*.dcm"))
    assert reports
    with_dose = 0
    for path in reports:
        assert DSR2XML is not None
        result = subprocess.run([DSR2XML, str(path)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "113769" in result.stdout  # Irradiation Event UID
        with_dose += "113830" in result.stdout  # Mean CTDIvol (absent when a report holds only a localiser)
    assert with_dose >= len(reports) - 1
