"""The site file: defaults, validation messages that name the field, secrets only from the environment."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from resources.site_config import (
    SECRET_KEY_ENV_VAR,
    SiteConfigError,
    load_site_config,
    secret_from_env,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dicom-lake.yaml"
    path.write_text(text)
    return path


def test_example_config_is_valid() -> None:
    config = load_site_config(REPO_ROOT / "dicom-lake.example.yaml")
    assert config.pacs.calling_ae_title
    assert config.retrieval.policy in {"metadata", "full"}


def test_relative_folders_resolve_against_the_config_file(tmp_path: Path) -> None:
    config = load_site_config(write(tmp_path, "folders:\n  root: data\n  research: /srv/research\n"))
    assert config.paths.root == (tmp_path / "data").resolve()
    assert config.paths.spool == (tmp_path / "data" / "spool").resolve()
    assert config.paths.research == Path("/srv/research")


def test_bad_port_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(SiteConfigError, match=r"pacs\.port: .*65535"):
        load_site_config(write(tmp_path, "pacs:\n  port: 70000\n"))


def test_misspelt_option_is_an_error_not_ignored(tmp_path: Path) -> None:
    with pytest.raises(SiteConfigError, match=r"retrieval\.polcy: Extra inputs are not permitted"):
        load_site_config(write(tmp_path, "retrieval:\n  polcy: full\n"))


def test_ae_title_longer_than_16_characters_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SiteConfigError, match=r"pacs\.calling_ae_title"):
        load_site_config(write(tmp_path, "pacs:\n  calling_ae_title: A_VERY_LONG_AE_TITLE_X\n"))


def test_invalid_regex_in_selection_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        SiteConfigError, match=r"selection\.study_description_include.*invalid regular expression"
    ):
        load_site_config(write(tmp_path, "selection:\n  study_description_include: ['(unclosed']\n"))


def test_cohort_mode_needs_a_csv(tmp_path: Path) -> None:
    with pytest.raises(SiteConfigError, match="cohort_csv"):
        load_site_config(write(tmp_path, "selection:\n  mode: cohort\n"))


def test_time_windows_accept_the_compact_form_and_cross_midnight(tmp_path: Path) -> None:
    config = load_site_config(write(tmp_path, "retrieval:\n  allowed_windows: ['20:00-06:00']\n"))
    (window,) = config.retrieval.allowed_windows
    assert window.contains(dt.time(23, 30))
    assert window.contains(dt.time(5, 59))
    assert not window.contains(dt.time(12, 0))


def test_not_yaml_is_reported_with_the_file_name(tmp_path: Path) -> None:
    with pytest.raises(SiteConfigError, match="not valid YAML"):
        load_site_config(write(tmp_path, "pacs: [unclosed\n"))


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SiteConfigError, match="no such configuration file"):
        load_site_config(tmp_path / "absent.yaml")


def test_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_KEY_ENV_VAR, raising=False)
    with pytest.raises(SiteConfigError, match=SECRET_KEY_ENV_VAR):
        secret_from_env(SECRET_KEY_ENV_VAR)
    monkeypatch.setenv(SECRET_KEY_ENV_VAR, "short")
    with pytest.raises(SiteConfigError, match="at least 16"):
        secret_from_env(SECRET_KEY_ENV_VAR)
    monkeypatch.setenv(SECRET_KEY_ENV_VAR, "a-site-secret-of-enough-length")
    assert secret_from_env(SECRET_KEY_ENV_VAR) == b"a-site-secret-of-enough-length"


def test_warehouse_url_prefers_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_site_config(write(tmp_path, "warehouse:\n  url: sqlite:///from-file.sqlite\n"))
    monkeypatch.delenv("DICOM_LAKE_WAREHOUSE_URL", raising=False)
    assert config.warehouse_url() == "sqlite:///from-file.sqlite"
    monkeypatch.setenv("DICOM_LAKE_WAREHOUSE_URL", "postgresql+psycopg2://u@h/db")
    assert config.warehouse_url() == "postgresql+psycopg2://u@h/db"


def test_partitions_start_at_the_site_files_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assets.partitions import partitions_start_date

    monkeypatch.delenv("DICOM_LAKE_PARTITIONS_START", raising=False)
    monkeypatch.setenv("DICOM_LAKE_CONFIG", str(write(tmp_path, "partitions_start_date: 2021-03-01\n")))
    assert partitions_start_date() == "2021-03-01"
    monkeypatch.setenv("DICOM_LAKE_PARTITIONS_START", "2019-01-01")
    assert partitions_start_date() == "2019-01-01"
    monkeypatch.delenv("DICOM_LAKE_PARTITIONS_START")
    monkeypatch.setenv("DICOM_LAKE_CONFIG", str(write(tmp_path, "pacs:\n  port: -1\n")))
    assert partitions_start_date() == "2015-01-01"


def test_storage_scp_engine_reaches_the_retrieval_options(tmp_path: Path) -> None:
    from resources.pacs.resource import retrieval_options

    config = load_site_config(write(tmp_path, "pacs:\n  storage_scp_engine: pynetdicom\n"))
    assert retrieval_options(config).storage_scp_engine == "pynetdicom"
    assert retrieval_options(load_site_config(write(tmp_path, "{}\n"))).storage_scp_engine == "native"
    with pytest.raises(SiteConfigError, match=r"pacs\.storage_scp_engine"):
        load_site_config(write(tmp_path, "pacs:\n  storage_scp_engine: fast\n"))


def test_receiving_processes_reach_the_retrieval_options(tmp_path: Path) -> None:
    from resources.pacs.resource import retrieval_options

    text = "retrieval:\n  concurrent_moves: 4\n  receiving_processes: 2\n"
    config = load_site_config(write(tmp_path, text))
    assert retrieval_options(config).receiving_processes == 2
    assert retrieval_options(load_site_config(write(tmp_path, "{}\n"))).receiving_processes is None
    with pytest.raises(SiteConfigError, match=r"retrieval\.receiving_processes"):
        load_site_config(write(tmp_path, "retrieval:\n  receiving_processes: -1\n"))
