"""Honest outputs: the output folder holds only de-identified data, failures and quarantines are said out
loud, colliding SOP Instance UIDs are resolved by a stated rule, UN values and headerless data sets are
read for what they are, and Ethnic Group is a site choice."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pydicom
import pytest
import yaml
from pydicom.data import get_testdata_file
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from assets.deidentification import deidentified_instances
from orchestration.cli import main as cli_main
from resources.curation.resource import CurationResource
from resources.deid import engine as engine_module
from resources.deid.engine import Deidentifier
from resources.deid.errors import DeidSettingsError
from resources.deid.leak_check import LeakHit
from resources.deid.options import DeidOptions
from resources.deid.resource import DeidentificationResource
from resources.site_config import DeidentificationSettings
from resources.site_resource import SiteConfigResource
from resources.spool.store import SpoolStore
from resources.warehouse.resource import WarehouseResource
from tests.deid.conftest import phi_ct
from tests.dicom_builder import encode, write_file

Build = Callable[..., Deidentifier]
SECRET = "honest-outputs-secret-0123456789"
# Values phi_ct plants that must never reach the output folder, in any file, in any form.
SOURCE_IDENTIFIERS = (b"Rigby", b"Eleanor", b"MRN4455667", b"ACC7788990", b"19540312", b"Penny Lane")


def _run_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path, *extra: str
) -> tuple[int, Path, dict[str, object]]:
    monkeypatch.setenv("DICOM_LAKE_SECRET_KEY", SECRET)
    monkeypatch.delenv("DICOM_LAKE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    code = cli_main(["deidentify", str(source), str(out), *extra])
    return code, out, json.loads((out / "summary.json").read_text())


def _stderr_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


# -- 1 and 2: the output folder, stderr, exit status ---------------------------------------------------
def test_output_holds_only_deidentified_data_and_quarantine_is_where_the_summary_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    write_file(phi_ct(), source / "good.dcm")
    burned = phi_ct(study_uid="1.2.3.4.300")
    burned.BurnedInAnnotation = "YES"
    write_file(burned, source / "burned.dcm")
    (source / "notes.txt").write_bytes(b"Rigby Eleanor MRN4455667 ACC7788990 born 19540312, 12 Penny Lane")
    code, out, summary = _run_cli(tmp_path, monkeypatch, source)
    assert code == 0
    assert summary["outcomes"] == {"deidentified": 1, "quarantined": 2, "opted_out": 0}
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [value for value in SOURCE_IDENTIFIERS if value in data], path
    quarantine = summary["quarantine"]
    assert isinstance(quarantine, dict) and quarantine["files"] == 2
    folder = Path(quarantine["folder"])
    assert folder == (tmp_path / "out.quarantine-identifiable").resolve()
    assert not folder.is_relative_to(out.resolve())
    copies = sorted(p.name for p in folder.iterdir() if not p.name.endswith(".reason.txt"))
    assert [name.split("_", 1)[1] for name in copies] == ["burned.dcm", "notes.txt"]
    assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
    lines = _stderr_lines(capsys)
    quarantined = [line for line in lines if line.startswith("dicom-lake: quarantined: ")]
    assert len(quarantined) == 2
    assert any("burned.dcm: Burned In Annotation is YES" in line for line in quarantined)
    assert any("notes.txt: not a DICOM file" in line for line in quarantined)
    assert any(str(folder) in line for line in lines)
    assert not [line for line in lines if any(v.decode() in line for v in SOURCE_IDENTIFIERS)]


def test_quarantine_folder_can_be_chosen_but_never_inside_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "broken.dcm").write_bytes(b"\0" * 10)
    chosen = tmp_path / "held" / "identifiable"
    code, _, summary = _run_cli(tmp_path, monkeypatch, source, "--quarantine", str(chosen))
    assert code == 0 and summary["quarantine"] == {"folder": str(chosen.resolve()), "files": 1}
    assert (chosen / "000000_broken.dcm").exists()
    code = cli_main(["deidentify", str(source), str(tmp_path / "o2"), "--quarantine", str(tmp_path / "o2/q")])
    assert code == 2
    assert "may not be inside the de-identified output" in capsys.readouterr().err


def test_a_failed_leak_check_exits_one_and_names_the_file_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    write_file(phi_ct(), source / "leaky.dcm")
    # A leak the profile missed, as the verification would report it.
    monkeypatch.setattr(engine_module, "encoded_may_leak", lambda *args: True)
    monkeypatch.setattr(
        engine_module, "find_leaks", lambda *args, **kwargs: [LeakHit("(0008,1030)", "PERSON")]
    )
    code, out, summary = _run_cli(tmp_path, monkeypatch, source)
    assert code == 1
    assert summary["leak_check"] == {
        "instances_checked": 1,
        "instances_with_leaks": 1,
        "hits": 1,
        "passed": False,
    }
    assert not list(out.rglob("*.dcm"))
    lines = [line for line in _stderr_lines(capsys) if line.startswith("dicom-lake: quarantined: ")]
    assert lines == [
        "dicom-lake: quarantined: leaky.dcm: leak check found 1 source identifier(s) at (0008,1030)"
    ]


# -- 3: two inputs, one SOP Instance UID ----------------------------------------------------------------
def _variant(description: str, created: str | None = None) -> Dataset:
    ds = phi_ct()
    ds.SeriesDescription = description
    if created is not None:
        ds.InstanceCreationDate, ds.InstanceCreationTime = created[:8], created[8:]
    return ds


@pytest.mark.parametrize(
    ("first", "second", "kept", "rule"),
    [
        # The corrected re-send was created later but sorts first by path: creation time wins.
        (("CORRECTED", "20261110120000"), ("ORIGINAL", "20261110090000"), "CORRECTED", "later Instance"),
        # No creation times: the larger file wins.
        (("SHORT", None), ("LONGER DESCRIPTION", None), "LONGER DESCRIPTION", "larger file"),
        # Nothing to tell them apart: the first in path order.
        (("AAAA", None), ("BBBB", None), "AAAA", "first in processing order"),
    ],
)
def test_colliding_sop_instance_uids_keep_one_by_the_rule_and_are_reported(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    first: tuple[str, str | None],
    second: tuple[str, str | None],
    kept: str,
    rule: str,
) -> None:
    source = tmp_path / "in"
    write_file(_variant(*first), source / "a.dcm")
    write_file(_variant(*second), source / "b.dcm")
    write_file(phi_ct(study_uid="1.2.3.4.900"), source / "c.dcm")
    code, out, summary = _run_cli(tmp_path, monkeypatch, source)
    assert code == 0
    assert summary["sop_instance_uid_collisions"] == 1
    assert summary["outcomes"]["deidentified"] == 2
    files = sorted((out / "research").rglob("*.dcm"))
    assert len(files) == 2
    assert {pydicom.dcmread(f).SeriesDescription for f in files} == {kept, "Axial 5mm"}
    findings = (out / "_phi_findings.jsonl").read_text().splitlines()
    assert len({json.loads(line)["sop_instance_uid"] for line in findings}) == 2
    lines = [line for line in _stderr_lines(capsys) if line.startswith("dicom-lake: collision: ")]
    assert len(lines) == 1
    kept_name = "a.dcm" if kept == first[0] else "b.dcm"
    assert "a.dcm and b.dcm" in lines[0] or "b.dcm and a.dcm" in lines[0]
    assert f"kept {kept_name} ({rule}" in lines[0]


def test_partition_run_resolves_a_collision_and_the_asset_reports_the_count(tmp_path: Path) -> None:
    site = tmp_path / "dicom-lake.yaml"
    site.write_text(yaml.safe_dump({"folders": {"root": str(tmp_path / "var")}}))
    config_site = SiteConfigResource(config_path=str(site))
    spool = SpoolStore(config_site.load().paths.spool, fsync=False)
    original = _variant("ORIGINAL", "20261110090000")
    corrected = _variant("CORRECTED", "20261110120000")
    # The re-send reached the spool under another row UID; its file carries the same SOP Instance UID.
    for ds, row_uid in ((original, original.SOPInstanceUID), (corrected, "1.2.3.4.100.1.2")):
        spool.store(
            encode(ds),
            sop_instance_uid=row_uid,
            sop_class_uid=ds.SOPClassUID,
            study_uid=ds.StudyInstanceUID,
            series_uid=ds.SeriesInstanceUID,
            partition_key="2026-11-10",
            source="listener",
        )
    resource = DeidentificationResource(site=config_site, secret_key=SECRET)
    outcome = dg.materialize(
        [deidentified_instances], resources={"deid": resource}, partition_key="2026-11-10"
    )
    assert outcome.success
    metadata = outcome.asset_materializations_for_node("deidentified_instances")[0].metadata
    assert metadata["sop_instance_uid_collisions"].value == 1
    assert metadata["deidentified"].value == 1
    files = list((config_site.load().paths.research / "2026-11-10").rglob("*.dcm"))
    assert [pydicom.dcmread(f).SeriesDescription for f in files] == ["CORRECTED"]
    rows = spool.instances("2026-11-10", states=("released", "quarantined"))
    states = {r.sop_instance_uid: (r.state, r.state_reason or "") for r in rows}
    assert states["1.2.3.4.100.1.2"][0] == "released"
    assert states["1.2.3.4.100.1.1"][0] == "quarantined" and "superseded" in states["1.2.3.4.100.1.1"][1]


# -- 4: values encoded with VR UN ---------------------------------------------------------------------
_UN_VALUES = {
    "StudyDate": b"20261110",
    "PatientName": b"Rigby^Eleanor^Mary ",
    "StudyDescription": b"CT HEAD for Eleanor Rigby ",
}


def _with_un(as_raw: bool) -> Dataset:
    ds = phi_ct()
    for keyword, value in _UN_VALUES.items():
        tag = Tag(pydicom.datadict.tag_for_keyword(keyword))
        del ds[tag]
        if as_raw:  # as read from an explicit VR stream, value not yet converted
            ds._dict[tag] = RawDataElement(tag, "UN", len(value), value, 0, False, True)
        else:  # as built in memory
            ds[tag] = DataElement(tag, "UN", value)
    return ds


@pytest.mark.parametrize("as_raw", [True, False], ids=["raw", "in-memory"])
def test_un_values_are_decoded_with_the_dictionary_vr_before_the_profile(
    make_engine: Build, as_raw: bool
) -> None:
    engine = make_engine()
    reference = engine.deidentify(phi_ct()).dataset
    result = engine.deidentify(_with_un(as_raw))
    assert result.outcome == "deidentified", result.reasons
    out = result.dataset
    assert out is not None and reference is not None
    assert out["StudyDate"].VR == "DA" and out.StudyDate == reference.StudyDate
    assert dt.datetime.strptime(out.StudyDate, "%Y%m%d").date() != dt.date(2026, 11, 10)  # shifted
    assert out.StudyDescription == "CT HEAD for [PERSON]"
    assert out.PatientName == reference.PatientName
    assert b"Rigby" not in (result.encoded or b"") and b"Eleanor" not in (result.encoded or b"")


def test_un_values_inside_a_sequence_item_are_decoded(make_engine: Build) -> None:
    ds = phi_ct()
    item = Dataset()
    value = b"Rigby^Eleanor"
    item._dict[Tag(0x00100010)] = RawDataElement(Tag(0x00100010), "UN", len(value), value, 0, False, True)
    item.ReferencedSOPInstanceUID = "1.2.3.4.100.1.1"
    ds.ReferencedPatientSequence = [item]
    result = make_engine().deidentify(ds)
    assert result.outcome == "deidentified", result.reasons
    assert b"Rigby" not in (result.encoded or b"")


# -- 6: data sets without a Part 10 meta header ---------------------------------------------------------
def test_a_real_data_set_without_meta_header_is_read_and_deidentified(
    engine: Deidentifier, tmp_path: Path
) -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    source_uid = ds.SOPInstanceUID
    del ds.file_meta
    ds.preamble = None  # the bare data set: no preamble, no "DICM", no meta header
    bare = tmp_path / "ct_small_no_meta.dcm"
    ds.save_as(bare, implicit_vr=True, little_endian=True)
    assert bare.read_bytes()[:4] == b"\x08\x00\x05\x00"  # (0008,0005) first
    result = engine.deidentify_file(bare)
    assert result.outcome == "deidentified", result.reasons
    assert result.dataset is not None and result.dataset.SOPInstanceUID != source_uid
    assert result.dataset.PatientIdentityRemoved == "YES"
    assert b"CompressedSamples" not in (result.encoded or b"")
    again = pydicom.dcmread(pydicom.filebase.DicomBytesIO(result.encoded))
    assert again.file_meta.TransferSyntaxUID == pydicom.uid.ImplicitVRLittleEndian


def test_explicit_vr_data_set_without_meta_header_is_read(engine: Deidentifier) -> None:
    result = engine.deidentify_file(Path(str(get_testdata_file("ExplVR_LitEndNoMeta.dcm", download=False))))
    assert result.outcome == "deidentified", result.reasons


@pytest.mark.parametrize(
    "data",
    [
        os.urandom(4096),
        b"\x08\x00\x05\x00" + os.urandom(2000),  # a plausible first tag, then noise
        b"\x08\x00\x16\x00UI\x04\x001.2\x00",  # a data set with no SOP Instance UID
        b"",
    ],
    ids=["random", "plausible-start", "no-sop-instance-uid", "empty"],
)
def test_what_is_not_dicom_is_still_quarantined(engine: Deidentifier, tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "noise.dcm"
    path.write_bytes(data)
    result = engine.deidentify_file(path)
    assert result.outcome == "quarantined"
    assert result.reason.startswith("noise.dcm: ")


# -- 7: Ethnic Group ------------------------------------------------------------------------------------
def test_ethnic_group_is_removed_by_default_and_kept_when_the_site_chooses(make_engine: Build) -> None:
    ds = phi_ct()
    ds.EthnicGroup = "W1"
    default = make_engine().deidentify(ds).dataset
    assert default is not None and "EthnicGroup" not in default
    assert "PatientAge" in default  # the rest of Retain Patient Characteristics still applies
    ds = phi_ct()
    ds.EthnicGroup = "W1"
    chosen = make_engine(retain_ethnic_group=True)
    kept = chosen.deidentify(ds).dataset
    assert kept is not None and kept.EthnicGroup == "W1"
    assert chosen.profile_version.endswith(",retain_ethnic_group")
    assert DeidentificationSettings().retain_ethnic_group is False
    with pytest.raises(DeidSettingsError, match="retain_ethnic_group needs"):
        DeidOptions(retain_ethnic_group=True, retain_patient_characteristics=False)


# -- 5: the profile version reaches the warehouse whole -------------------------------------------------
def test_curation_reads_the_whole_profile_version(tmp_path: Path, make_engine: Build) -> None:
    site = tmp_path / "dicom-lake.yaml"
    site.write_text(yaml.safe_dump({"folders": {"root": str(tmp_path / "var")}}))
    config_site = SiteConfigResource(config_path=str(site))
    version = make_engine(retain_institution_identity=True).profile_version
    assert len(version) > 64
    folder = config_site.load().paths.research / "2026-11-10"
    folder.mkdir(parents=True)
    (folder / "_deid_summary.json").write_text(json.dumps({"profile_version": version}))
    curation = CurationResource(site=config_site, warehouse=WarehouseResource(site=config_site))
    assert curation.deid_profile_version("2026-11-10") == version
