"""``dicom-lake corpus generate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration.cli import main


def test_corpus_generate_writes_files_and_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "corpus"
    argv = ["corpus", "generate", str(out), "--seed", "5", "--studies", "6", "--start-date", "2026-11-09"]
    assert main([*argv, "--days", "3", "--header-only"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spec"]["seed"] == 5 and manifest["spec"]["header_only"] is True
    assert len(manifest["studies"]) == 6
    assert {s["study_date"] for s in manifest["studies"]} <= {"2026-11-09", "2026-11-10", "2026-11-11"}
    assert sum(1 for _ in out.rglob("*.dcm")) == manifest["n_files"]
    assert "files/s" in capsys.readouterr().out


def test_corpus_generate_refuses_a_non_empty_folder_and_bad_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "something").write_text("x")
    assert main(["corpus", "generate", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert main(["corpus", "generate", str(tmp_path / "new"), "--days", "0"]) == 2
    assert "days" in capsys.readouterr().err
