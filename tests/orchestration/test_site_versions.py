"""A change of de-identification option or factor set in the site file changes the code versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from assets.code_versions import site_section_version


def version_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str, text: str) -> str:
    path = tmp_path / f"site-{abs(hash(text))}.yaml"
    path.write_text(text)
    monkeypatch.setenv("DICOM_LAKE_CONFIG", str(path))
    return site_section_version(section)


def test_deidentification_option_changes_the_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on = version_with(
        tmp_path, monkeypatch, "deidentification", "deidentification:\n  clean_descriptors: true\n"
    )
    off = version_with(
        tmp_path, monkeypatch, "deidentification", "deidentification:\n  clean_descriptors: false\n"
    )
    again = version_with(
        tmp_path, monkeypatch, "deidentification", "deidentification:\n  clean_descriptors: true\n"
    )
    assert on != off
    assert on == again


def test_other_sections_do_not_change_the_deidentification_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = version_with(tmp_path, monkeypatch, "deidentification", "dose:\n  factor_set: aapm96_icrp60\n")
    b = version_with(tmp_path, monkeypatch, "deidentification", "dose:\n  factor_set: nci_icrp103\n")
    assert a == b
    assert version_with(
        tmp_path, monkeypatch, "dose", "dose:\n  factor_set: aapm96_icrp60\n"
    ) != version_with(tmp_path, monkeypatch, "dose", "dose:\n  factor_set: nci_icrp103\n")


def test_unreadable_site_file_gives_a_fixed_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert version_with(tmp_path, monkeypatch, "dose", "pacs:\n  port: -1\n") == "unconfigured"
