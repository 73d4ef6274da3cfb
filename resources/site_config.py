"""The site configuration: one YAML file (``dicom-lake.yaml``) validated with pydantic.

Every engine reads its own section. Secrets never live in this file: they come from environment
variables (see :class:`Secrets`). A bad file raises :class:`SiteConfigError` with one message that
names the offending field, e.g. ``dicom-lake.yaml: pacs.port: Input should be less than 65536``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from resources.errors import ConfigurationError
from resources.partition_keys import parse as parse_partition_key
from resources.site_peers import (
    ListenerSettings,
    PacsSettings,
    RetrievalSettings,
    Section,
    SourceSettings,
)
from resources.site_peers import TimeWindow as TimeWindow  # re-exported: callers name it here

CONFIG_ENV_VAR = "DICOM_LAKE_CONFIG"
SECRET_KEY_ENV_VAR = "DICOM_LAKE_SECRET_KEY"
VAULT_KEY_ENV_VAR = "DICOM_LAKE_VAULT_KEY"
RECIPIENT_KEY_ENV_VAR = "DICOM_LAKE_RECIPIENT_KEY"
WAREHOUSE_URL_ENV_VAR = "DICOM_LAKE_WAREHOUSE_URL"


class SiteConfigError(ConfigurationError):
    """The site configuration file is missing, unreadable or invalid."""


class FoldersSettings(Section):
    """Where each data zone lives. Relative paths are resolved against the config file's folder."""

    root: Path = Path("var")
    spool: Path | None = None  # identifiable zone, restricted permissions
    research: Path | None = None  # de-identified DICOM
    quarantine: Path | None = None
    vault: Path | None = None
    exports: Path | None = None
    spool_retention_days: int = Field(default=7, ge=0)

    def resolved(self, base: Path) -> ResolvedFolders:
        root = self.root if self.root.is_absolute() else (base / self.root)
        root = root.resolve()

        def pick(value: Path | None, default: str) -> Path:
            if value is None:
                return root / default
            return value if value.is_absolute() else (base / value).resolve()

        return ResolvedFolders(
            root=root,
            spool=pick(self.spool, "spool"),
            research=pick(self.research, "research"),
            quarantine=pick(self.quarantine, "quarantine"),
            vault=pick(self.vault, "vault"),
            exports=pick(self.exports, "exports"),
        )


class ResolvedFolders(BaseModel):
    root: Path
    spool: Path
    research: Path
    quarantine: Path
    vault: Path
    exports: Path


class SelectionSettings(Section):
    """Which studies to pull. Patterns are case-insensitive regular expressions."""

    modalities: list[str] = Field(default_factory=lambda: ["CT", "MG", "SR", "DX", "CR"])
    study_description_include: list[str] = Field(default_factory=list)
    study_description_exclude: list[str] = Field(default_factory=list)
    station_include: list[str] = Field(default_factory=list)
    station_exclude: list[str] = Field(default_factory=list)
    mode: Literal["date", "cohort"] = "date"
    cohort_csv: Path | None = None
    cohort_key: Literal["accession_number", "patient_id"] = "accession_number"

    @field_validator(
        "study_description_include", "study_description_exclude", "station_include", "station_exclude"
    )
    @classmethod
    def _valid_regex(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return patterns

    @model_validator(mode="after")
    def _cohort_needs_csv(self) -> SelectionSettings:
        if self.mode == "cohort" and self.cohort_csv is None:
            raise ValueError("mode 'cohort' needs cohort_csv")
        return self


class DeidentificationSettings(Section):
    """PS3.15 Annex E options (each recorded in De-identification Method Code Sequence)."""

    retain_modified_dates: bool = True
    retain_patient_characteristics: bool = True
    # Ethnic Group, which PS3.15 keeps under Retain Patient Characteristics: a site choice, off by
    # default and best left off for exports outside the hospital (needs retain_patient_characteristics).
    retain_ethnic_group: bool = False
    retain_device_identity: bool = True
    retain_institution_identity: bool = False
    clean_descriptors: bool = True
    clean_structured_content: bool = True
    retain_safe_private: bool = True
    max_date_shift_days: int = Field(default=365, ge=1)
    opt_out_file: Path | None = None
    allow_burned_in_pixels: bool = False
    vault_enabled: bool = False
    double_pseudonymisation: bool = False
    spacy_model: str | None = None  # e.g. "en_core_web_lg" when installed; off by default


class WarehouseSettings(Section):
    # None = SQLite file in the folders' root. The environment variable overrides this.
    url: str | None = None
    # Quality flag thresholds of the curation stage (values beyond them are flagged, never dropped).
    ctdivol_ceiling_mgy: float = Field(default=200.0, gt=0)
    max_age_years: float = Field(default=120.0, gt=0)
    compression_force_max_n: float = Field(default=300.0, gt=0)
    future_date_tolerance_days: int = Field(default=0, ge=0)


class DoseSettings(Section):
    factor_set: str = "aapm96_icrp60"
    drl_set: str = "uk_2022"
    local_drl_csv: Path | None = None
    drl_mapping_csv: Path | None = None  # None = the shipped resources/dose/drl_mapping.csv
    # Aggregates group by the source calendar period (the partition date coarsened), never a shifted date.
    drl_period: Literal["week", "month", "quarter", "year"] = "month"
    cumulative_windows_years: list[int] = Field(default_factory=lambda: [1, 5])
    cumulative_alert_msv: float = Field(default=100.0, gt=0)
    # Fluoroscopy and interventional: each patient's DAP and dose at RP over a rolling window, with alert
    # thresholds (defaults as OpenREM's: 12 weeks, 20,000 cGy.cm2, 2 Gy).
    fluoro_cumulative_window_weeks: int = Field(default=12, ge=1, le=520)
    fluoro_alert_dap_cgycm2: float = Field(default=20000.0, gt=0)
    fluoro_alert_dose_rp_gy: float = Field(default=2.0, gt=0)


class MammographySettings(Section):
    # The site's QA file (tube output and HVL per room, kV and target/filter) for the Dance-model MGD;
    # None: no MGD is computed and only the modality's figure is reported.
    qa_file: Path | None = None
    mgd_tolerance_percent: float = Field(default=25.0, gt=0)  # computed vs modality MGD, flagged beyond
    force_min_n: float = Field(default=50.0, ge=0)  # the audit's compression force range (a site choice)
    force_max_n: float = Field(default=200.0, gt=0)
    thickness_band_mm: int = Field(default=10, ge=2, le=50)
    drl_set: str = "uk_2022"  # a set in resources/dose/mammography/drl_by_thickness.csv
    audit_period: Literal["month", "quarter", "year"] = "quarter"

    @model_validator(mode="after")
    def _force_range(self) -> MammographySettings:
        if self.force_min_n >= self.force_max_n:
            raise ValueError("force_min_n must be below force_max_n")
        return self


class ScheduleSettings(Section):
    nightly_cron: str = "0 1 * * *"
    lag_days: int = Field(default=1, ge=0)
    timezone: str = "UTC"


class SiteConfig(Section):
    site_name: str = "dicom-lake site"
    partitions_start_date: dt.date = dt.date(2015, 1, 1)
    folders: FoldersSettings = Field(default_factory=FoldersSettings)
    pacs: PacsSettings = Field(default_factory=PacsSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    selection: SelectionSettings = Field(default_factory=SelectionSettings)
    deidentification: DeidentificationSettings = Field(default_factory=DeidentificationSettings)
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    dose: DoseSettings = Field(default_factory=DoseSettings)
    mammography: MammographySettings = Field(default_factory=MammographySettings)
    listener: ListenerSettings = Field(default_factory=ListenerSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    # Several archives, each with its PACS, limits and listener: partitions become date x source
    # (resources/partition_keys.py). Empty: the top-level pacs, retrieval and listener sections are
    # the one source, and partitions are study dates.
    sources: list[SourceSettings] = Field(default_factory=list)

    # Set by load_site_config: the folder relative paths are resolved against.
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)

    @property
    def paths(self) -> ResolvedFolders:
        return self.folders.resolved(self.base_dir)

    def warehouse_url(self) -> str:
        from_env = os.environ.get(WAREHOUSE_URL_ENV_VAR)
        if from_env:
            return from_env
        if self.warehouse.url:
            return self.warehouse.url
        return f"sqlite:///{self.paths.root / 'warehouse.sqlite'}"

    def resolve_path(self, value: Path) -> Path:
        return value if value.is_absolute() else (self.base_dir / value).resolve()

    @model_validator(mode="after")
    def _one_place_per_source(self) -> SiteConfig:
        if not self.sources:
            return self
        misplaced = sorted({"pacs", "listener"} & self.model_fields_set)
        if misplaced:
            raise ValueError(
                f"with sources listed, give each source's pacs and listener under sources, not at the top "
                f"level ({', '.join(misplaced)})"
            )
        names = [source.name for source in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must differ: {names}")
        # Two sources' C-MOVEs land on the storage SCP port each registered with its archive, and
        # two retrievals cannot listen on one port at once; two listeners cannot either.
        ports = [s.pacs.storage_scp_port for s in self.sources if s.pacs.retrieve_method == "move"]
        ports += [s.listener.port for s in self.sources if s.listener is not None]
        taken = sorted({port for port in ports if port and ports.count(port) > 1})
        if taken:
            raise ValueError(f"each source needs its own storage SCP and listener ports; used twice: {taken}")
        return self

    @property
    def partition_sources(self) -> list[str]:
        """The ``source`` dimension of the partitions: the source names with two or more, else none."""
        return [source.name for source in self.sources] if len(self.sources) > 1 else []

    def source_for(self, partition_key: str | None = None) -> ResolvedSource:
        """The source whose archive a partition comes from (with one source: that one).

        Raises
        ------
        SiteConfigError
            If the key names a source the site file does not list, or names none with several.
        """
        named = parse_partition_key(partition_key).source if partition_key else None
        return self.source_named(named, context=f"partition {partition_key}")

    def source_named(self, name: str | None, *, context: str = "source") -> ResolvedSource:
        """A source by name (None: the only one), its retrieval section resolved."""
        if not self.sources:
            if name is not None:
                raise SiteConfigError(
                    f"{context}: the site file lists no sources, so none is called {name!r}"
                )
            return ResolvedSource(None, self.pacs, self.retrieval, self.listener)
        if name is None:
            if len(self.sources) > 1:
                raise SiteConfigError(f"{context}: the site file lists several sources; name one")
            only = self.sources[0]
            return ResolvedSource(None, only.pacs, only.retrieval or self.retrieval, only.listener)
        for source in self.sources:
            if source.name == name:
                partition_source = name if len(self.sources) > 1 else None
                return ResolvedSource(
                    partition_source, source.pacs, source.retrieval or self.retrieval, source.listener
                )
        raise SiteConfigError(
            f"{context}: no source {name!r} in the site file ({', '.join(self.partition_sources)})"
        )


@dataclass(frozen=True)
class ResolvedSource:
    """A source's settings as a retrieval or listener uses them.

    ``partition_source`` is the name its partitions carry (``2026-11-09|east``), None when the site has
    one source and partitions are plain dates.
    """

    partition_source: str | None
    pacs: PacsSettings
    retrieval: RetrievalSettings
    listener: ListenerSettings | None


def _first_error(source: str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(part) for part in err["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{source}: {field}: {err['msg']}{more}"


def parse_site_config(data: dict[str, Any] | None, *, source: str, base_dir: Path) -> SiteConfig:
    """Validate a mapping as a site configuration.

    Raises
    ------
    SiteConfigError
        With one message naming the first invalid field.
    """
    data = dict(data or {})
    try:
        config = SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise SiteConfigError(_first_error(source, exc)) from exc
    config.base_dir = base_dir
    return config


def load_site_config(path: str | Path | None = None) -> SiteConfig:
    """Load the site file: the argument, else ``$DICOM_LAKE_CONFIG``, else ``./dicom-lake.yaml``.

    With no file at all the defaults apply (the embedded demo layout under ``./var``).

    Raises
    ------
    SiteConfigError
        If the file is missing (when named explicitly), is not YAML, or fails validation.
    """
    explicit = path is not None or bool(os.environ.get(CONFIG_ENV_VAR))
    candidate = Path(path or os.environ.get(CONFIG_ENV_VAR) or "dicom-lake.yaml")
    if not candidate.exists():
        if explicit:
            raise SiteConfigError(f"{candidate}: no such configuration file")
        return parse_site_config({}, source="(defaults)", base_dir=Path.cwd())
    try:
        data = yaml.safe_load(candidate.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SiteConfigError(f"{candidate}: not valid YAML: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise SiteConfigError(f"{candidate}: the top level must be a mapping of sections")
    return parse_site_config(data, source=str(candidate), base_dir=candidate.resolve().parent)


def secret_from_env(name: str, *, required: bool = True) -> bytes | None:
    """Read a secret key from the environment (never from the site file).

    Raises
    ------
    SiteConfigError
        If ``required`` and the variable is unset or shorter than 16 characters.
    """
    value = os.environ.get(name)
    if not value:
        if required:
            raise SiteConfigError(f"environment variable {name} is not set (a site secret is required)")
        return None
    if len(value) < 16:
        raise SiteConfigError(f"environment variable {name} must be at least 16 characters long")
    return value.encode("utf-8")
