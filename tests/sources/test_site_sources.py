"""The site file's sources: validation, and which settings a partition's source resolves to."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from resources.site_config import SiteConfigError, load_site_config, parse_site_config

TWO_SOURCES = """
retrieval:
  max_moves_per_minute: 30
sources:
  - name: west
    pacs: {host: pacs-west, port: 104, called_ae_title: WEST, storage_scp_port: 11113}
    listener: {port: 11114, allowed_calling_ae_titles: [WEST]}
  - name: east
    pacs: {host: pacs-east, port: 11112, called_ae_title: EAST, storage_scp_port: 11213}
    retrieval: {max_moves_per_minute: 5, allowed_windows: ["20:00-06:00"]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dicom-lake.yaml"
    path.write_text(text)
    return path


def test_each_partition_resolves_to_its_own_source(tmp_path: Path) -> None:
    config = load_site_config(write(tmp_path, TWO_SOURCES))
    assert config.partition_sources == ["west", "east"]
    east = config.source_for("2026-11-09|east")
    assert (east.pacs.host, east.pacs.called_ae_title, east.partition_source) == ("pacs-east", "EAST", "east")
    assert east.retrieval.max_moves_per_minute == 5 and east.retrieval.allowed_windows
    assert east.listener is None
    west = config.source_for("2026-11-09|west")
    assert west.retrieval.max_moves_per_minute == 30  # the site-wide section
    assert west.listener is not None and west.listener.allowed_calling_ae_titles == ["WEST"]


def test_a_key_must_name_a_listed_source(tmp_path: Path) -> None:
    config = load_site_config(write(tmp_path, TWO_SOURCES))
    with pytest.raises(SiteConfigError, match=r"partition 2026-11-09\|north: no source 'north'"):
        config.source_for("2026-11-09|north")
    with pytest.raises(SiteConfigError, match="several sources; name one"):
        config.source_for("2026-11-09")


def test_one_site_pacs_is_the_only_source_with_date_keys(tmp_path: Path) -> None:
    config = load_site_config(write(tmp_path, "pacs: {host: the-pacs}\n"))
    assert config.partition_sources == []
    only = config.source_for("2026-11-09")
    assert only.pacs.host == "the-pacs" and only.partition_source is None
    assert only.listener is config.listener
    with pytest.raises(SiteConfigError, match="lists no sources"):
        config.source_for("2026-11-09|east")


def test_a_single_listed_source_keeps_date_keys(tmp_path: Path) -> None:
    config = load_site_config(write(tmp_path, "sources:\n  - name: main\n    pacs: {host: main-pacs}\n"))
    assert config.partition_sources == []
    assert config.source_for("2026-11-09").pacs.host == "main-pacs"
    assert config.source_named("main").partition_source is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "pacs: {host: x}\nsources:\n  - name: a\n  - name: b\n    pacs: {storage_scp_port: 2}\n",
            "not at the top level",
        ),
        ("sources:\n  - name: a\n  - name: a\n    pacs: {storage_scp_port: 2}\n", "source names must differ"),
        ("sources:\n  - name: a\n  - name: b\n", r"ports; used twice: \[11113\]"),
        ("sources:\n  - name: Bad Name\n", "sources.0.name"),
        (
            "sources:\n  - name: a\n    listener: {port: 5000}\n"
            "  - name: b\n    pacs: {storage_scp_port: 5000}\n",
            r"used twice: \[5000\]",
        ),
    ],
)
def test_bad_sources_are_refused_naming_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SiteConfigError, match=message):
        parse_site_config(yaml.safe_load(text), source="site.yaml", base_dir=tmp_path)


def test_c_get_sources_may_share_the_default_storage_port(tmp_path: Path) -> None:
    """C-GET returns instances on the association itself: no storage SCP port is listened on."""
    text = (
        "sources:\n  - name: a\n    pacs: {retrieve_method: get}\n"
        "  - name: b\n    pacs: {retrieve_method: get}\n"
    )
    config = load_site_config(write(tmp_path, text))
    assert config.partition_sources == ["a", "b"]
