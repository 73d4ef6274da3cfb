"""The blocking leak check, right both ways: planted leaks caught (one per class), clean files passed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pydicom
import pydicom.data
import pytest
from pydicom.dataset import Dataset

from resources.deid.engine import Deidentifier, DeidResult
from resources.deid.identifier_collection import collect_identifiers, collect_source_uids
from resources.deid.leak_check import find_leaks
from tests.deid.conftest import phi_ct
from tests.dicom_builder import code_item, dose_sr, sr_text


def _clean_output(engine: Deidentifier) -> tuple[Dataset, Dataset]:
    """The PHI-laden CT and its de-identified copy (two builds: the engine works in place)."""
    result = engine.deidentify(phi_ct(), name="ct")
    assert result.dataset is not None, result.reasons
    return phi_ct(), result.dataset


@pytest.mark.parametrize(
    ("planted", "entity"),
    [
        ("Reviewed with Eleanor Rigby", "PERSON"),  # full name
        ("RIGBY protocol", "PERSON"),  # one component of four letters or more
        ("ref MRN4455667", "ID"),
        ("order ACC7788990", "ID"),  # accession
        ("born 12 March 1954", "BIRTH_DATE"),
        ("lives at 12 Penny Lane", "LOCATION"),
        ("call 0151-496-0123", "PHONE_NUMBER"),
        ("scanned at St Elsewhere Hospital", "ORGANIZATION"),  # institution, not retained
        ("detector SN-0042-XY", "DEVICE_SERIAL"),
    ],
)
def test_each_planted_class_is_caught(engine: Deidentifier, planted: str, entity: str) -> None:
    source, output = _clean_output(engine)
    identifiers = collect_identifiers(source)
    assert find_leaks(output, identifiers) == []
    output.SeriesDescription = planted
    assert [(h.tag_path, h.entity_type) for h in find_leaks(output, identifiers)] == [("0008103E", entity)]


def test_sr_text_and_local_code_leaks_are_caught() -> None:
    source = phi_ct()
    identifiers = collect_identifiers(source)
    output = dose_sr(ContentSequence=[sr_text(("121106", "DCM", "Comment"), "for Eleanor Rigby")])
    output.PerformedProtocolCodeSequence = [code_item("P1", "99MYHOSP", "Rigby head")]
    paths = sorted(h.tag_path for h in find_leaks(output, identifiers))
    assert paths == ["00400260[0].00080104", "0040A730[0].0040A160"]


def test_vocabulary_code_strings_and_engine_replacements_are_not_leaks(engine: Deidentifier) -> None:
    source = phi_ct()
    source.PatientName = "Perfusion^Text^Li"
    source.OtherPatientNames = "ANONYMIZED"
    identifiers = collect_identifiers(source)
    output = dose_sr(ContentSequence=[sr_text(("121106", "DCM", "Comment"), "[PERSON] seen")])
    output.ImageType = ["DERIVED", "SECONDARY", "PERFUSION"]  # CS: code strings, not text
    output.ReferringPhysicianName = "ANONYMIZED"  # the engine's own dummy
    output.SeriesDescription = "Li wrap"  # a component under four letters is not searched alone
    assert find_leaks(output, identifiers) == []
    output.SeriesDescription = "Perfusion Text Li"  # the full name still is
    assert [h.entity_type for h in find_leaks(output, identifiers)] == ["PERSON"]


def test_institution_is_not_a_leak_when_the_output_retains_it(make_engine) -> None:  # type: ignore[no-untyped-def]
    source = phi_ct()
    result = make_engine(retain_institution_identity=True).deidentify(phi_ct(), name="ct")
    assert result.outcome == "deidentified", result.reasons
    assert result.dataset is not None and result.dataset.InstitutionName == "St Elsewhere Hospital"
    assert find_leaks(result.dataset, collect_identifiers(source)) == []


def test_clean_real_files_pass(engine: Deidentifier) -> None:
    """pydicom's test files, de-identified by the engine: none is quarantined by the leak check."""
    flagged, checked = [], 0
    # The files the pydicom wheel ships (get_testdata_files would also try to download more).
    bundled = Path(pydicom.data.__file__).parent / "test_files"
    for name in sorted(str(path) for path in bundled.glob("*.dcm")):
        try:
            source = pydicom.dcmread(name)
            identifiers, uids = collect_identifiers(source), collect_source_uids(source)
        except Exception:  # damaged test inputs are the reader's business, not the leak check's
            continue
        result = engine.deidentify(source, name=Path(name).name)
        if result.outcome != "deidentified" and not result.leaks:
            continue
        checked += 1
        if result.leaks or find_leaks(result.dataset, identifiers, uids=uids):  # type: ignore[arg-type]
            flagged.append(Path(name).name)
    assert checked >= 20 and flagged == []  # reportsi.dcm ("TEXT" value type) was flagged before


@pytest.mark.openrem
def test_clean_openrem_files_pass(
    deidentified: Callable[[Path], DeidResult], openrem_test_files: Path
) -> None:
    """Every openrem file de-identified (one with burned-in annotation aside) passes the leak check."""
    outcomes = {p.name: deidentified(p) for p in sorted(openrem_test_files.glob("*.dcm"))}
    leaking = {name: r.reasons for name, r in outcomes.items() if r.leaks}
    assert leaking == {}
    assert sum(r.outcome == "deidentified" for r in outcomes.values()) >= len(outcomes) - 1


@pytest.mark.parametrize(
    ("options", "typed", "scrubbed"),
    [
        ({}, "CT at St Elsewhere Hospital", True),  # institution identity not retained (the default)
        ({"retain_institution_identity": True}, "CT at St Elsewhere Hospital", False),
        ({}, "QA on SN-0042-XY", True),  # a serial: pseudonymised in its attribute whatever the options
        ({"retain_device_identity": False}, "QA on SN-0042-XY", True),
    ],
)
def test_institution_and_serial_in_kept_text_are_cleaned_as_the_header_is(
    make_engine,  # type: ignore[no-untyped-def]
    options: dict[str, bool],
    typed: str,
    scrubbed: bool,
) -> None:
    """An identity the options remove from the header is scrubbed from kept text, not quarantined."""
    source = phi_ct()
    source.SeriesDescription = typed
    result = make_engine(**options).deidentify(source, name="ct")
    assert result.outcome == "deidentified", result.reasons
    assert result.dataset is not None
    kept = str(result.dataset.SeriesDescription)
    if scrubbed:
        assert "Elsewhere" not in kept and "0042" not in kept
        assert kept.startswith(typed.split(" ")[0])  # the clinical words stay
    else:
        assert kept == typed
