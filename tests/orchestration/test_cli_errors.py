"""A command given a bad file stops with one line naming the file and the reason, and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.cli import main


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("warehouse: [ctdivol_ceiling_mgy\n", "not valid YAML"),
        ("- a list\n- not sections\n", "the top level must be a mapping of sections"),
    ],
)
def test_export_with_a_bad_site_file_prints_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, reason: str
) -> None:
    site = tmp_path / "dicom-lake.yaml"
    site.write_text(content)
    argv = ["--config", str(site), "export", "--from", "2026-11-09", "--to", "2026-11-09"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    line = _one_error_line(capsys)
    assert line.startswith(f"dicom-lake: error: {site}: {reason}")
    assert not (tmp_path / "out").exists()


def test_corpus_generate_into_a_file_prints_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "corpus"
    target.write_text("not a folder")
    assert main(["corpus", "generate", str(target)]) == 2
    assert _one_error_line(capsys) == f"dicom-lake: error: {target}: exists and is not a folder"
