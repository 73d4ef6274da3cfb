"""The asset over a spool partition (any source), its blocking leak check, and the command line."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pydicom
import pytest
import yaml

from assets.deidentification import deidentified_instances, leak_check_result, phi_leak_check
from orchestration.cli import main as cli_main
from resources.deid.resource import DeidentificationResource
from resources.site_resource import SiteConfigResource
from resources.spool.store import SpoolStore
from tests.deid.conftest import phi_ct
from tests.dicom_builder import CT_IMAGE, encode, write_file

PARTITION = "2026-11-10"
SECRET = "asset-test-secret-0123456789"


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    (tmp_path / "optout.txt").write_text("# national opt-out\nOPTOUT01\n")
    config = {
        "folders": {"root": str(tmp_path / "var")},
        "deidentification": {"opt_out_file": "optout.txt", "vault_enabled": True},
    }
    path = tmp_path / "dicom-lake.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _fill_spool(root: Path) -> SpoolStore:
    spool = SpoolStore(root, fsync=False)
    datasets = [
        phi_ct(study_uid="1.2.3.4.100"),
        phi_ct(patient_id="OPTOUT01", study_uid="1.2.3.4.200"),
    ]
    for index, ds in enumerate(datasets):
        spool.store(
            encode(ds),
            sop_instance_uid=ds.SOPInstanceUID,
            sop_class_uid=ds.SOPClassUID,
            study_uid=ds.StudyInstanceUID,
            series_uid=ds.SeriesInstanceUID,
            partition_key=PARTITION,
            source="pacs" if index == 0 else "listener",
        )
    burned = phi_ct(study_uid="1.2.3.4.300")
    burned.BurnedInAnnotation = "YES"
    for data, uid in ((encode(burned), burned.SOPInstanceUID), (b"not dicom at all", "1.2.3.4.400.1.1")):
        spool.store(
            data,
            sop_instance_uid=uid,
            sop_class_uid=CT_IMAGE,
            study_uid=uid.rsplit(".", 2)[0],
            series_uid=uid.rsplit(".", 1)[0],
            partition_key=PARTITION,
            source="listener",
        )
    return spool


def test_asset_processes_every_spool_row_and_the_check_passes(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_site = SiteConfigResource(config_path=str(site))
    spool = _fill_spool(config_site.load().paths.spool)
    resource = DeidentificationResource(
        site=config_site, secret_key=SECRET, vault_key="vault-key-0123456789abc"
    )
    # ``retrieved_instances`` is only a dependency in the graph: the asset reads the spool itself.
    outcome = dg.materialize(
        [deidentified_instances, phi_leak_check], resources={"deid": resource}, partition_key=PARTITION
    )
    assert outcome.success
    materialization = outcome.asset_materializations_for_node("deidentified_instances")[0]
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["deidentified"] == 1 and metadata["opted_out"] == 1 and metadata["quarantined"] == 2
    assert metadata["unreadable"] == 1 and metadata["burned_in_quarantined"] == 1
    assert metadata["sop_instance_uid_collisions"] == 0
    checks = outcome.get_asset_check_evaluations()
    assert [c.passed for c in checks] == [True]

    research = config_site.load().paths.research / PARTITION
    files = sorted(research.rglob("*.dcm"))
    assert len(files) == 1
    summary = json.loads((research / "_deid_summary.json").read_text())
    assert summary["leak_check"]["passed"] and summary["outcomes"]["deidentified"] == 1
    findings = [json.loads(line) for line in (research / "_phi_findings.jsonl").read_text().splitlines()]
    assert findings and set(findings[0]) == {"sop_instance_uid", "tag_path", "entity_type", "score", "action"}
    assert "rigby" not in (research / "_phi_findings.jsonl").read_text().lower()
    states = {
        r.sop_instance_uid: r.state for r in spool.instances(PARTITION, states=("released", "quarantined"))
    }
    assert states == {
        "1.2.3.4.100.1.1": "released",
        "1.2.3.4.200.1.1": "quarantined",
        "1.2.3.4.300.1.1": "quarantined",
        "1.2.3.4.400.1.1": "quarantined",
    }
    # A rerun replaces the partition: same files, nothing duplicated.
    again = dg.materialize(
        [deidentified_instances, phi_leak_check], resources={"deid": resource}, partition_key=PARTITION
    )
    assert again.success and sorted(research.rglob("*.dcm")) == files

    # The vault maps the pseudonym back, and only with its key.
    pseudonym = pydicom.dcmread(files[0]).PatientID
    monkeypatch.setenv("DICOM_LAKE_VAULT_KEY", "vault-key-0123456789abc")
    assert cli_main(["--config", str(site), "reidentify", pseudonym]) == 0
    monkeypatch.setenv("DICOM_LAKE_VAULT_KEY", "a-wrong-vault-key-0000000")
    assert cli_main(["--config", str(site), "reidentify", pseudonym]) == 2


def test_check_fails_when_the_summary_records_a_leak_or_is_missing() -> None:
    summary = {"leak_check": {"passed": False, "instances_checked": 3, "instances_with_leaks": 1, "hits": 2}}
    assert leak_check_result(summary).passed is False
    assert leak_check_result(None).passed is False
    summary["leak_check"].update(passed=True, instances_with_leaks=0, hits=0)
    assert leak_check_result(summary).passed is True


def test_cli_deidentifies_a_folder_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    write_file(phi_ct(), source / "a.dcm")
    write_file(phi_ct(study_uid="1.2.3.4.500"), source / "b.dcm")
    (source / "broken.dcm").write_bytes(b"\0" * 10)
    monkeypatch.setenv("DICOM_LAKE_SECRET_KEY", SECRET)
    monkeypatch.delenv("DICOM_LAKE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert cli_main(["deidentify", str(source), str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcomes"] == {"deidentified": 2, "quarantined": 1, "opted_out": 0}
    assert summary["findings_by_entity"]["PERSON"] > 0
    assert len(list((out / "research").rglob("*.dcm"))) == 2
    assert not (out / "quarantine").exists()
    reasons = list(Path(summary["quarantine"]["folder"]).glob("*.reason.txt"))
    assert len(reasons) == 1 and "broken.dcm" in reasons[0].read_text()
    assert Path(summary["quarantine"]["folder"]) == (tmp_path / "out.quarantine-identifiable").resolve()
    monkeypatch.delenv("DICOM_LAKE_SECRET_KEY")
    assert cli_main(["deidentify", str(source), str(tmp_path / "out2")]) == 2
