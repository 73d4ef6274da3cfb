"""Reading values from their bytes gives what pydicom's conversion gives; the byte screen misses no leak."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pydicom.data
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

import resources.deid.coded_items as coded_items
import resources.deid.identifier_collection as identifier_collection
import resources.deid.profile_application as profile_application
import resources.deid.sr_text_items as sr_text_items
from resources.corpus.generator import generate_corpus
from resources.corpus.spec import CorpusSpec
from resources.deid.deny_list import Identifiers
from resources.deid.element_values import as_list, raw_text_values
from resources.deid.encoder import encode_file
from resources.deid.engine import Deidentifier
from resources.deid.identifier_collection import collect_identifiers, collect_source_uids
from resources.deid.leak_check import encoded_may_leak, find_leaks
from tests.deid.conftest import phi_ct
from tests.dicom_builder import ct_image, with_file_meta


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("raw-corpus")
    generate_corpus(root, CorpusSpec(seed=29, n_studies=6, days=2, ct_images_per_series=2, header_only=True))
    return sorted(root.rglob("*.dcm"))


def _bundled_files() -> list[Path]:
    return sorted((Path(pydicom.data.__file__).parent / "test_files").glob("*.dcm"))


def _compare(ds: Dataset, counts: dict[str, int]) -> None:
    for tag in list(ds._dict):
        fast = raw_text_values(ds, tag)
        elem = ds[tag]
        if elem.VR == "SQ":
            for item in elem.value or []:
                _compare(item, counts)
            continue
        if fast is None:
            continue
        slow = [str(v) for v in as_list(elem.value)] if elem.value else []
        if not slow:
            assert not any(fast), (tag, elem.VR)  # "" or padding only: empty both ways
        else:
            assert fast == slow, (tag, elem.VR)
        counts[elem.VR] = counts.get(elem.VR, 0) + 1


def test_raw_text_values_are_pydicoms_values(corpus_files: list[Path]) -> None:
    counts: dict[str, int] = {}
    for path in corpus_files + _bundled_files():
        try:
            ds = pydicom.dcmread(path)
        except Exception:  # damaged test inputs are the reader's business
            continue
        try:
            _compare(ds, counts)
        except AssertionError:
            raise
        except Exception:  # a value pydicom itself cannot convert: nothing to compare with
            continue
    for vr in ("PN", "LO", "SH", "LT", "CS", "DA", "TM"):
        assert counts.get(vr, 0) >= 20, (vr, counts)


def test_raw_reading_changes_no_output(
    engine: Deidentifier, corpus_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine with every value read through pydicom writes the same bytes and findings."""
    files = corpus_files + _bundled_files()[:40]
    fast = [engine.deidentify_file(path) for path in files]
    for module in (profile_application, identifier_collection, coded_items, sr_text_items):
        monkeypatch.setattr(module, "raw_text_values", lambda ds, tag, codec="": None)
    slow = [engine.deidentify_file(path) for path in files]
    assert sum(result.outcome == "deidentified" for result in fast) >= len(corpus_files)
    for path, one, other in zip(files, fast, slow, strict=True):
        assert (one.outcome, one.reasons, one.encoded) == (other.outcome, other.reasons, other.encoded), path
        assert one.findings == other.findings, path


def _output(**values: object) -> Dataset:
    ds = with_file_meta(ct_image(SpecificCharacterSet="ISO_IR 100", **values))
    ds.preamble = b"\x00" * 128
    return ds


def test_screen_finds_a_name_at_the_end_of_an_even_length_value() -> None:
    """The next tag's first byte follows such a value in the file: "2" for group 0032 reads as a digit."""
    identifiers = collect_identifiers(phi_ct())  # the patient is Eleanor Rigby
    output = _output(RequestedProcedureDescription="CT for RIGBY", RequestedContrastAgent="IODINE")
    encoded = encode_file(output)
    assert b"RIGBY\x32\x00" in encoded  # the value is followed by (0032,1070) in the file
    assert [hit.tag_path for hit in find_leaks(output, identifiers)] == ["00321060"]
    assert encoded_may_leak(encoded, output, identifiers, frozenset())


def test_screen_reads_utf8_where_an_item_declares_it() -> None:
    identifiers = Identifiers(names=frozenset({"ÅNGSTRÖM^ZOË"}))
    item = Dataset()
    item.SpecificCharacterSet = "ISO_IR 192"
    item.RequestedProcedureDescription = "MR for Ångström"
    output = _output(RequestAttributesSequence=Sequence([item]))
    encoded = encode_file(output)
    assert "Ångström".encode() in encoded and "Ångström".encode("latin-1") not in encoded
    assert [hit.tag_path for hit in find_leaks(output, identifiers)] == ["00400275[0].00321060"]
    assert encoded_may_leak(encoded, output, identifiers, frozenset())


def test_screen_finds_phone_numbers_with_other_separators() -> None:
    identifiers = collect_identifiers(phi_ct())
    for text in ("call 0151 496 0123", "call (0151) 4960123", "call 0151\xa0496\xa00123"):
        output = _output(ImageComments=text)
        assert encoded_may_leak(encode_file(output), output, identifiers, frozenset()), text
        assert [hit.entity_type for hit in find_leaks(output, identifiers)] == ["PHONE_NUMBER"], text


def test_screen_passes_clean_outputs(engine: Deidentifier, corpus_files: list[Path]) -> None:
    """The screen is not "always True": the engine's clean outputs need no element walk."""
    passed = 0
    for path in corpus_files:
        source = pydicom.dcmread(path)
        identifiers, uids = collect_identifiers(source), collect_source_uids(source)
        result = engine.deidentify_file(path)
        assert result.outcome == "deidentified" and result.encoded and result.dataset, result.reasons
        passed += not encoded_may_leak(result.encoded, result.dataset, identifiers, uids)
    assert passed >= len(corpus_files) * 9 // 10
