"""The committed DICOM Conformance Statement is what the code's tables say, and follows them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydicom.dataset import Dataset

from orchestration import conformance
from orchestration.cli import main
from resources.listener.storage_contexts import SOP_CLASS_TABLE
from resources.pacs.find_results import SeriesRow
from resources.pacs.query import PacsQuerier


def test_the_committed_statement_equals_a_fresh_generation() -> None:
    committed = conformance.DOCUMENT.read_text(encoding="utf-8")
    assert committed == conformance.conformance_statement(), (
        "docs/conformance-statement.md is stale: run "
        "`dicom-lake conformance --out docs/conformance-statement.md` and commit the result"
    )


def test_the_command_writes_the_generated_statement(tmp_path: Path) -> None:
    out = tmp_path / "statement.md"
    assert main(["conformance", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == conformance.conformance_statement()


def test_a_sop_class_added_to_the_storage_table_appears_in_the_statement(tmp_path: Path) -> None:
    data = yaml.safe_load(SOP_CLASS_TABLE.read_text(encoding="utf-8"))
    assert "NuclearMedicineImageStorage" not in str(data["sop_classes"])
    data["sop_classes"]["NM"] = ["NuclearMedicineImageStorage"]
    copy = tmp_path / "storage_sop_classes.yaml"
    copy.write_text(yaml.safe_dump(data), encoding="utf-8")

    before = conformance.conformance_statement()
    after = conformance.conformance_statement(copy)
    listener_part = after.split("### 3.1", 1)[1].split("### 3.2", 1)[0]
    assert "| Nuclear Medicine Image Storage | `1.2.840.10008.5.1.4.1.1.20` |" in listener_part
    assert "| Nuclear Medicine Image Storage |" not in before.split("### 3.1", 1)[1].split("### 3.2", 1)[0]


def test_a_query_key_changed_in_the_querier_changes_the_statement(monkeypatch: pytest.MonkeyPatch) -> None:
    def series_query_with_body_part(self: PacsQuerier, study_uid: str) -> list[SeriesRow]:
        query = Dataset()
        query.QueryRetrieveLevel = "SERIES"
        query.StudyInstanceUID = study_uid
        query.SeriesInstanceUID = ""
        query.BodyPartExamined = ""
        self.find(query)
        return []

    before = conformance.conformance_statement()
    monkeypatch.setattr(PacsQuerier, "find_series", series_query_with_body_part)
    after = conformance.conformance_statement()
    assert after != before
    series_table = after.split("| SERIES key |", 1)[1].split("\n\n", 1)[0]
    assert "| `BodyPartExamined` | return |" in series_table
    assert "`StationName`" not in series_table


def test_the_statement_names_what_the_code_uses() -> None:
    text = conformance.conformance_statement()
    from resources.dicom_network.upper_layer import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION

    assert IMPLEMENTATION_CLASS_UID in text and IMPLEMENTATION_VERSION in text
    keys = conformance.query_keys()
    assert ("StudyDate", "matching") in keys["STUDY"]
    assert ("SeriesInstanceUID", "matching") in keys["IMAGE"]
    assert "| C-STORE | out of resources | `0xA700` |" in text
    assert "`listener.max_associations` | `10`" in text
