"""SR TEXT items of people, organisations, places and devices are cleaned like their header attributes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from resources.deid.engine import Deidentifier, DeidResult
from resources.deid.sr_text_items import sr_text_concepts, text_concept_of
from tests.dicom_builder import dose_sr, sr_container, sr_num, sr_text, with_file_meta

SERIAL = "SN-0042-XY"
INSTITUTION = "St Elsewhere Hospital"


def _items(sequence: list[Dataset]) -> Iterator[Dataset]:
    for item in sequence:
        yield item
        yield from _items(item.get("ContentSequence", []))


def _by_concept(ds: Dataset) -> dict[str, str]:
    return {
        str(item.ConceptNameCodeSequence[0].CodeValue): str(item.TextValue)
        for item in _items(ds.ContentSequence)
        if item.get("ValueType") == "TEXT"
    }


def _report() -> Dataset:
    device = sr_container(
        ("113876", "DCM", "Device Role in Procedure"),
        [
            sr_text(("113877", "DCM", "Device Name"), "CTSTATION1", "HAS PROPERTIES"),
            sr_text(("113880", "DCM", "Device Serial Number"), SERIAL, "HAS PROPERTIES"),
        ],
    )
    person = sr_container(
        ("113870", "DCM", "Person Name"),
        [sr_text(("113873", "DCM", "Organization Name"), INSTITUTION, "HAS PROPERTIES")],
    )
    tree = [
        sr_text(("121016", "DCM", "Device Observer Serial Number"), SERIAL, "HAS OBS CONTEXT"),
        sr_text(("121017", "DCM", "Device Observer Physical Location During Observation"), INSTITUTION),
        sr_text(("121008", "DCM", "Person Observer Name"), "Ratched^Mildred", "HAS OBS CONTEXT"),
        sr_text(("121106", "DCM", "Comment"), "QA phantom"),
        device,
        person,
        sr_num(("113830", "DCM", "Mean CTDIvol"), "42.5", "mGy"),
    ]
    return with_file_meta(
        dose_sr(
            PatientName="Rigby^Eleanor",
            PatientID="MRN4455667",
            DeviceSerialNumber=SERIAL,
            InstitutionName=INSTITUTION,
            StationName="CTSTATION1",
            ContentSequence=tree,
        )
    )


def test_table_names_header_attributes_for_the_vendor_concepts() -> None:
    table = sr_text_concepts()
    assert {("113880", "DCM"), ("121016", "DCM"), ("121017", "DCM"), ("113873", "DCM")} <= set(table)
    item = sr_text(("113880", "DCM", "Device Serial Number"), SERIAL)
    concept = text_concept_of(item)
    assert concept is not None and concept.header_tag == 0x00181000 and concept.collect == "serial"


def test_default_options_clean_serials_institutions_and_people_like_the_header(
    engine: Deidentifier,
) -> None:
    result = engine.deidentify(_report(), name="rdsr")
    assert result.outcome == "deidentified", result.reasons
    assert result.dataset is not None
    texts = _by_concept(result.dataset)
    header_serial = str(result.dataset.DeviceSerialNumber)
    assert header_serial != SERIAL
    assert texts["113880"] == texts["121016"] == header_serial  # one pseudonym, SR and header agree
    assert INSTITUTION not in (texts["121017"], texts["113873"])
    assert "InstitutionName" not in result.dataset or result.dataset.InstitutionName != INSTITUTION
    assert "Ratched" not in texts["121008"]
    assert texts["113877"] == "CTSTATION1" == result.dataset.StationName  # Retain Device Identity on
    assert texts["121106"] == "QA phantom"
    num = next(i for i in _items(result.dataset.ContentSequence) if i.ValueType == "NUM")
    assert str(num.MeasuredValueSequence[0].NumericValue) == "42.5"


def test_options_are_honoured(make_engine: Callable[..., Deidentifier]) -> None:
    kept = make_engine(retain_institution_identity=True).deidentify(_report(), name="rdsr")
    assert kept.dataset is not None, kept.reasons
    assert _by_concept(kept.dataset)["113873"] == INSTITUTION == kept.dataset.InstitutionName
    off = make_engine(retain_device_identity=False).deidentify(_report(), name="rdsr")
    assert off.dataset is not None, off.reasons
    texts = _by_concept(off.dataset)
    assert SERIAL not in (texts["113880"], texts["121016"])
    assert texts["113877"] != "CTSTATION1"


_IDENTIFYING = {"113880", "121016", "121017", "113873", "121009", "121008", "113870", "121114", "113871"}


@pytest.mark.openrem
def test_real_vendor_srs_keep_no_identifying_text_item(
    deidentified: Callable[[Path], DeidResult], openrem_test_files: Path
) -> None:
    """The openrem wheel's dose SRs: serial, institution and person TEXT items never keep their value."""
    checked = serials = 0
    for path in sorted(openrem_test_files.glob("*.dcm")):
        source = pydicom.dcmread(path)
        if "ContentSequence" not in source:
            continue
        before = [(i, str(i.get("TextValue", ""))) for i in _items(source.ContentSequence)]
        result = deidentified(path)
        assert result.outcome == "deidentified", (path.name, result.reasons)
        assert result.dataset is not None
        after = list(_items(result.dataset.ContentSequence))
        assert len(after) == len(before), path.name
        for (item, value), out in zip(before, after, strict=True):
            if item.get("ValueType") != "TEXT" or not value.strip():
                continue
            code = str(item.ConceptNameCodeSequence[0].CodeValue)
            if code in _IDENTIFYING:
                assert str(out.TextValue) != value, (path.name, code)
                checked += 1
                serials += code in {"113880", "121016"}
    assert serials >= 90 and checked >= 200
