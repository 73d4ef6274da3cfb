"""Text inside coded items: a local scheme's code is text (scanned), a standard scheme's is kept as is."""

from __future__ import annotations

from pydicom.dataset import Dataset

from resources.deid.coded_items import is_local_scheme
from resources.deid.engine import Deidentifier
from resources.deid.identifier_collection import collect_identifiers, collect_source_uids
from resources.deid.leak_check import find_leaks
from tests.deid.conftest import phi_ct
from tests.dicom_builder import code_item, dose_sr, sr_container, sr_num, with_file_meta


def _with_codes() -> Dataset:
    ds = phi_ct()
    ds.PerformedProtocolCodeSequence = [code_item("HEAD-RIGBY", "99MYHOSP", "CT head for Rigby")]
    ds.ProcedureCodeSequence = [code_item("ACC7788990", "L", "Local procedure")]
    ds.AnatomicRegionSequence = [code_item("69536005", "SCT", "Head")]
    return ds


def test_scheme_list_tells_local_from_standard() -> None:
    assert not any(is_local_scheme(s) for s in ("DCM", "SCT", "SRT", "LN", "UCUM", "NCIt", "RADLEX"))
    assert all(is_local_scheme(s) for s in ("99MYHOSP", "L", "LOCAL", "99GEMS", ""))


def test_local_protocol_code_meaning_with_family_name_does_not_survive(engine: Deidentifier) -> None:
    result = engine.deidentify(_with_codes(), name="codes")
    assert result.outcome == "deidentified", result.reasons
    assert result.dataset is not None
    protocol = result.dataset.PerformedProtocolCodeSequence[0]
    assert "rigby" not in str(protocol.CodeMeaning).lower()
    assert "rigby" not in str(protocol.CodeValue).lower()
    assert protocol.CodingSchemeDesignator == "99MYHOSP"
    # The accession typed as a local code value is scrubbed; the standard code is untouched.
    assert "ACC7788990" not in str(result.dataset.ProcedureCodeSequence[0].CodeValue)
    region = result.dataset.AnatomicRegionSequence[0]
    kept = (region.CodeValue, region.CodingSchemeDesignator, region.CodeMeaning)
    assert kept == ("69536005", "SCT", "Head")
    assert any(f.tag_path.startswith("00400260[0].") for f in result.findings)


def test_local_concept_code_deep_in_an_sr_tree_is_scanned(engine: Deidentifier) -> None:
    concept = ("027", "99MYHOSP", "Protocol of Eleanor Rigby")
    tree = sr_container(("113819", "DCM", "CT Acquisition"), [sr_num(concept, "12.5", "mGy")])
    ds = with_file_meta(dose_sr(PatientName="Rigby^Eleanor", PatientID="MRN4455667", ContentSequence=[tree]))
    result = engine.deidentify(ds, name="sr")
    assert result.outcome == "deidentified", result.reasons
    assert result.dataset is not None
    item = result.dataset.ContentSequence[0].ContentSequence[0]
    assert "rigby" not in str(item.ConceptNameCodeSequence[0].CodeMeaning).lower()
    assert str(item.MeasuredValueSequence[0].NumericValue) == "12.5"


def test_leak_check_catches_a_family_name_the_engine_missed_in_a_local_code(engine: Deidentifier) -> None:
    source = _with_codes()
    identifiers, uids = collect_identifiers(source), collect_source_uids(source)
    result = engine.deidentify(source, name="codes")
    assert result.dataset is not None
    assert find_leaks(result.dataset, identifiers, uids=uids) == []
    result.dataset.PerformedProtocolCodeSequence[0].CodeMeaning = "CT head for Rigby"
    hits = find_leaks(result.dataset, identifiers, uids=uids)
    assert [(h.tag_path, h.entity_type) for h in hits] == [("00400260[0].00080104", "PERSON")]


def test_standard_code_meaning_is_searched_for_full_names_only(engine: Deidentifier) -> None:
    source = phi_ct()
    source.PatientName = "Head^Eleanor"
    identifiers = collect_identifiers(source)
    output = Dataset()
    output.AnatomicRegionSequence = [code_item("69536005", "SCT", "Head")]
    assert find_leaks(output, identifiers) == []  # a surname that is also the scheme's word
    output.AnatomicRegionSequence = [code_item("69536005", "SCT", "Eleanor Head")]
    assert [h.tag_path for h in find_leaks(output, identifiers)] == ["00082218[0].00080104"]
