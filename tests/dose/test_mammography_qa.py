"""The site QA file (tube output and HVL per room, kV and target/filter): the committed example, clear
errors naming file and field, interpolation in kV, and the path where no QA file is configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources.dose.mammography.dance import incident_air_kerma_mgy
from resources.dose.mammography.errors import QaFileError
from resources.dose.mammography.exposures import NO_QA_FILE, dance_for, partition_exposures
from resources.dose.mammography.headers import read_projection_exposure
from resources.dose.mammography.qa_file import BeamQuality, load_qa_file
from resources.errors import DicomLakeError

EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "dose" / "mammography" / "qa_example.yaml"

ROOM = """
version: 1
rooms:
  - name: GE room
    station_name: SENODS01
    output_distance_mm: 600
    beams:
      - target: RH
        filter: RH
        points:
          - {kv: 28, output_ugy_per_mas: 60.0, hvl_mm_al: 0.42}
          - {kv: 30, output_ugy_per_mas: 70.0, hvl_mm_al: 0.46}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "qa.yaml"
    path.write_text(text)
    return path


def test_the_committed_example_loads_and_says_it_is_an_example() -> None:
    qa = load_qa_file(EXAMPLE)
    assert qa.is_example
    assert "EXAMPLE" in EXAMPLE.read_text().splitlines()[0]
    assert {r.station_name for r in qa.content.rooms} == {"MAMMO1", "MAMMO2"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rooms: [", r"qa\.yaml: not valid YAML"),
        ("- just a list", r"qa\.yaml: the QA file must be a mapping"),
        (
            ROOM.replace("kv: 28", "kv: 280"),
            r"qa\.yaml: rooms\.0\.beams\.0\.points\.0\.kv: Input should be less than 60",
        ),
        (ROOM.replace("output_distance_mm: 600", "output_distance_mm: -1"), r"rooms\.0\.output_distance_mm"),
        (ROOM.replace("kv: 30", "kv: 28"), r"rooms\.0\.beams\.0: Value error, each kV is measured once"),
        (
            ROOM.replace("    station_name: SENODS01\n", ""),
            r"rooms\.0: Value error, a room needs station_name",
        ),
        (ROOM + "colour: red\n", r"qa\.yaml: colour: Extra inputs are not permitted"),
    ],
)
def test_an_invalid_qa_file_is_refused_naming_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(QaFileError, match=message) as caught:
        load_qa_file(write(tmp_path, text))
    assert isinstance(caught.value, DicomLakeError)


def test_a_missing_qa_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(QaFileError, match=r"absent\.yaml: cannot read the mammography QA file"):
        load_qa_file(tmp_path / "absent.yaml")


def test_output_and_hvl_are_interpolated_linearly_in_kv_never_extrapolated(tmp_path: Path) -> None:
    qa = load_qa_file(write(tmp_path, ROOM))
    room = qa.room_for("senods01", None)
    assert room is not None
    quality = qa.beam_quality(room, "RHODIUM", "RHODIUM", 29.0)
    assert isinstance(quality, BeamQuality)
    assert (quality.output_ugy_per_mas, quality.hvl_mm_al) == pytest.approx((65.0, 0.44))
    assert (
        qa.beam_quality(room, "RHODIUM", "RHODIUM", 31.0)
        == "QA file room GE room: 31 kV outside the measured 28-30 kV"
    )
    assert "no measurement for MOLYBDENUM/MOLYBDENUM" in str(qa.beam_quality(room, "MO", "MO", 29.0))


def test_mgd_from_the_qa_file_on_a_real_ge_header(openrem_test_files: Path, tmp_path: Path) -> None:
    qa = load_qa_file(write(tmp_path, ROOM))
    exposure = read_projection_exposure(openrem_test_files / "MG-Im-GE-SenDS-scaled.dcm")
    result = dance_for(exposure, qa)
    # K from the QA output at 29 kV, the header's mAs and its focus-to-entrance distance (607 mm).
    k = incident_air_kerma_mgy(65.0, exposure.exposure_mas or 0.0, 600.0, 607.0)
    assert result.k_mgy == pytest.approx(k)
    assert result.hvl_mm_al == pytest.approx(0.44)
    assert result.mgd_mgy == pytest.approx(k * (result.g or 0) * (result.c or 0) * 1.061)


def test_without_a_qa_file_only_the_modality_figure_is_reported(openrem_test_files: Path) -> None:
    rows = partition_exposures(sorted(openrem_test_files.glob("MG-Im-*.dcm")), None, 25.0).rows
    assert rows and all(r["mgd_mgy"] is None and r["mgd_reason"] == NO_QA_FILE for r in rows)
    assert all(r["organ_dose_mgy"] is not None for r in rows)
    assert not any(r["mgd_flagged"] for r in rows)


def test_beyond_the_tolerance_the_difference_is_flagged(openrem_test_files: Path, tmp_path: Path) -> None:
    qa = load_qa_file(write(tmp_path, ROOM))
    files = [openrem_test_files / "MG-Im-GE-SenDS-scaled.dcm"]
    loose = partition_exposures(files, qa, 1000.0).rows[0]
    tight = partition_exposures(files, qa, 0.1).rows[0]
    assert loose["mgd_difference_percent"] == tight["mgd_difference_percent"] is not None
    assert (loose["mgd_flagged"], tight["mgd_flagged"]) == (False, True)
    assert loose["mgd_qa_example"] is False
