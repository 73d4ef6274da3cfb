"""The fast paths give what the slow paths give: raw-bytes encoder, raw text screen, deny-list search."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import ImplicitVRLittleEndian

import resources.deid.profile_application as profile_application
from resources.corpus.generator import generate_corpus
from resources.corpus.spec import CorpusSpec
from resources.deid.deny_list import DenyList, Identifiers
from resources.deid.encoder import encode_file
from resources.deid.engine import Deidentifier
from tests.deid.conftest import phi_ct
from tests.dicom_builder import encode, write_file


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("fast-corpus")
    spec = CorpusSpec(seed=23, n_studies=6, days=2, ct_images_per_series=2, header_only=True)
    generate_corpus(root, spec)
    files = sorted(root.rglob("*.dcm"))
    assert len(files) >= 20
    return files


def test_encoder_writes_what_pydicom_writes(engine: Deidentifier, corpus_files: list[Path]) -> None:
    raw_kept = 0
    for path in corpus_files:
        result = engine.deidentify_file(path)
        assert result.outcome == "deidentified", result.reason
        assert result.dataset is not None and result.encoded is not None
        assert result.encoded == encode(result.dataset) == encode_file(result.dataset), path.name
        raw_kept += sum(1 for elem in result.dataset._dict.values() if elem.is_raw)
    assert raw_kept > 0  # the fast path was taken (untouched elements still raw)


def test_encoder_falls_back_for_other_encodings(engine: Deidentifier, tmp_path: Path) -> None:
    source = phi_ct()
    source.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    path = tmp_path / "implicit.dcm"
    write_file(source, path)
    result = engine.deidentify_file(path)
    assert result.dataset is not None and result.encoded is not None
    assert result.encoded == encode(result.dataset)
    again = pydicom.dcmread(io.BytesIO(result.encoded))
    assert again.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert again.PatientID == result.dataset.PatientID


def test_raw_text_screen_changes_nothing(
    engine: Deidentifier, corpus_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every kept text element judged on its bytes comes out as the converting path writes it."""
    fast = [engine.deidentify_file(path) for path in corpus_files]
    monkeypatch.setattr(profile_application, "_raw_text_is_clean", lambda ds, raw, deny: False)
    slow = [engine.deidentify_file(path) for path in corpus_files]
    for quick, careful in zip(fast, slow, strict=True):
        assert quick.outcome == careful.outcome
        assert quick.findings == careful.findings
        assert quick.dataset is not None and careful.dataset is not None
        assert quick.encoded == careful.encoded


def test_raw_text_screen_still_scrubs_identifiers(engine: Deidentifier, tmp_path: Path) -> None:
    source = phi_ct()
    source.ManufacturerModelName = "Revolution Rigby"  # kept (not in the table): only the deny list cleans it
    source.SoftwareVersions = ["v1", "Eleanor"]  # a hit in the second value of a multi-valued element
    path = tmp_path / "kept-text.dcm"
    write_file(source, path)
    result = engine.deidentify_file(path)
    assert result.outcome == "deidentified", result.reason
    assert result.encoded is not None and b"rigby" not in result.encoded.lower()
    assert b"eleanor" not in result.encoded.lower()
    assert result.dataset is not None
    assert str(result.dataset.ManufacturerModelName) == "Revolution [PERSON]"
    assert list(result.dataset.SoftwareVersions) == ["v1", "[PERSON]"]
    assert str(result.dataset.Manufacturer) == "GE MEDICAL SYSTEMS"


def test_deny_list_find_equals_the_word_bounded_regex() -> None:
    identifiers = Identifiers(
        names=frozenset({"SMITH^JOHN^A", "O'NEIL^ANN", "LI^JO", "Müller^Jürgen"}),
        ids=frozenset({"12345678", "AB-99"}),
        birth_dates=frozenset({"19560302"}),
        addresses=frozenset({"1 High St^Leeds^LS1 1AA"}),
        phones=frozenset({"07700 900445"}),
    )
    deny = DenyList(identifiers)
    reference = re.compile(deny._word_pattern())
    phone = re.compile(
        r"(?<!\d)(?:0[\s\-().+]*7[\s\-().+]*7[\s\-().+]*0[\s\-().+]*0[\s\-().+]*9"
        r"[\s\-().+]*0[\s\-().+]*0[\s\-().+]*4[\s\-().+]*4[\s\-().+]*5)(?!\d)"
    )
    words = [*deny._terms, "x", "ann", "smith", "jo", "li", "9", "é"]
    separators = [" ", "", "_", "-", ".", "\\", "\x00", "a", "1", "é", "^", ",", "/"]
    rng = random.Random(5)
    compared = 0
    for _ in range(20_000):
        parts = [rng.choice(words) + rng.choice(separators) for _ in range(rng.randint(1, 6))]
        text = "".join(parts)
        text = text.upper() if rng.random() < 0.5 else text
        lowered = text.lower()
        expected = [(m.start(), m.end(), deny._entity_of[m.group(0)]) for m in reference.finditer(lowered)]
        expected += [(m.start(), m.end(), "PHONE_NUMBER") for m in phone.finditer(text)]
        assert [(s.start, s.end, s.entity_type) for s in deny.find(text)] == expected, text
        compared += 1
    assert compared == 20_000


@pytest.mark.filterwarnings("ignore:The value")  # the over-long LT, on purpose
def test_encoder_matches_pydicom_for_converted_values(tmp_path: Path) -> None:
    source = phi_ct()
    source.InstitutionName = "Hôpital Saint-Éloi"  # non-ASCII: pydicom encodes it
    source.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]  # multi-valued
    source.SeriesDescription = "odd"  # odd length, padded
    source.AdditionalPatientHistory = "x" * 70_001  # LT longer than a short length field allows
    path = tmp_path / "values.dcm"
    write_file(source, path)
    ds = pydicom.dcmread(path)
    for keyword in ("InstitutionName", "ImageType", "SeriesDescription", "StudyDate", "AccessionNumber"):
        ds[keyword].value = ds[keyword].value  # converted, as the walk leaves changed elements
    ds.SOPInstanceUID = "1.2.3.45"  # odd-length UID: NUL padding
    ds.StudyDate = None  # emptied
    ds.ContentDate = ""
    assert encode_file(ds) == encode(ds)


@pytest.mark.parametrize(
    "meta",
    [
        {"MediaStorageSOPInstanceUID": "1.2.3.45"},  # odd length: NUL padded
        {"MediaStorageSOPInstanceUID": "1.2.3.4"},
        {"SourceApplicationEntityTitle": "ODD_AE"},  # AE padded with a space
        {"ImplementationVersionName": "LAKE_1"},
        {"ImplementationClassUID": "1.2.826.0.1.3680043.10.1"},
        {"FileMetaInformationVersion": b"\x00\x01"},
        {"PrivateInformationCreatorUID": "1.2.3"},  # not a plain group: pydicom's writer
        {"FileMetaInformationVersion": b"\x00\x02"},
    ],
)
def test_plain_file_meta_is_what_pydicom_writes(meta: dict[str, object]) -> None:
    ds = phi_ct()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    for keyword, value in meta.items():
        setattr(ds.file_meta, keyword, value)
    ds = pydicom.dcmread(io.BytesIO(encode(ds)))
    assert encode_file(ds) == encode(ds)


def test_phone_recognizer_gate_changes_nothing(corpus_files: list[Path]) -> None:
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    from resources.deid.phi_recognizers import PHONE_REGIONS, _digit_gated_phone_recognizer

    plain = PhoneRecognizer(supported_regions=PHONE_REGIONS)
    gated = _digit_gated_phone_recognizer(PHONE_REGIONS)
    texts = {
        "Pt asked to call 0151 496 0123 with results",
        "call +44 (0)20 7946 0958 or 1-800-FLOWERS",
        "ring ０１５１ ４９６ ０１２３",  # full-width digits
        "call one-eight-hundred FLOWERS",
        "1-800-FLOWERS-NOW",
        "CT HEAD for [PERSON]",
    }
    for path in corpus_files:
        ds = pydicom.dcmread(path)
        texts.update(str(e.value) for e in ds.iterall() if e.VR in ("LO", "SH", "LT", "ST", "UT") and e.value)
    found = 0
    for text in sorted(texts):
        expected = [(r.start, r.end, r.score) for r in plain.analyze(text, ["PHONE_NUMBER"])]
        assert [(r.start, r.end, r.score) for r in gated.analyze(text, ["PHONE_NUMBER"])] == expected, text
        found += bool(expected)
    assert found >= 2  # the comparison saw phone numbers
