"""The site configuration: one YAML file (``dicom-lake.yaml``) validated with pydantic.

Every engine reads its own section. Secrets never live in this file: they come from environment
variables (see :class:`Secrets`). A bad file raises :class:`SiteConfigError` with one message that
names the offending field, e.g. ``dicom-lake.yaml: pacs.port: Input should be less than 65536``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from resources.errors import ConfigurationError

CONFIG_ENV_VAR = "DICOM_LAKE_CONFIG"
SECRET_KEY_ENV_VAR = "DICOM_LAKE_SECRET_KEY"
VAULT_KEY_ENV_VAR = "DICOM_LAKE_VAULT_KEY"
RECIPIENT_KEY_ENV_VAR = "DICOM_LAKE_RECIPIENT_KEY"
WAREHOUSE_URL_ENV_VAR = "DICOM_LAKE_WAREHOUSE_URL"

_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # PS3.5: 16 chars of default repertoire, no backslash


class SiteConfigError(ConfigurationError):
    """The site configuration file is missing, unreadable or invalid."""


class _Section(BaseModel):
    # Unknown keys are errors: a misspelt option must not be silently ignored.
    model_config = ConfigDict(extra="forbid")


def _check_ae_title(value: str) -> str:
    if not _AE_TITLE.match(value) or value.strip() == "":
        raise ValueError("an AE title is 1 to 16 printable characters, not blank, with no backslash")
    return value


class FoldersSettings(_Section):
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


class PacsSettings(_Section):
    """The PACS we query, and how we identify ourselves to it."""

    host: str = "127.0.0.1"
    port: int = Field(default=11112, ge=1, le=65535)
    called_ae_title: str = "PACS"
    calling_ae_title: str = "DICOM_LAKE"
    # Our storage SCP, started for each retrieval; the PACS admin registers (calling_ae_title, our host,
    # storage_scp_port) as a C-MOVE destination.
    storage_scp_port: int = Field(default=11113, ge=0, le=65535)
    storage_scp_bind: str = "0.0.0.0"
    # "native": a lean receiver that stores the bytes as sent (fast); "pynetdicom": the library's server.
    storage_scp_engine: Literal["native", "pynetdicom"] = "native"
    # Our C-FIND/C-MOVE requests: "native" (a lean requestor, no polling threads) or "pynetdicom".
    scu_engine: Literal["native", "pynetdicom"] = "native"
    move_destination_ae_title: str | None = None  # defaults to calling_ae_title
    retrieve_method: Literal["move", "get"] = "move"
    tcp_nodelay: bool = True
    acse_timeout_s: float = Field(default=30, gt=0)
    dimse_timeout_s: float = Field(default=120, gt=0)
    network_timeout_s: float = Field(default=120, gt=0)
    max_pdu: int = Field(default=0, ge=0)  # 0 = unlimited

    @field_validator("called_ae_title", "calling_ae_title", "move_destination_ae_title")
    @classmethod
    def _ae_titles(cls, value: str | None) -> str | None:
        return None if value is None else _check_ae_title(value)

    @property
    def destination_ae_title(self) -> str:
        return self.move_destination_ae_title or self.calling_ae_title


class TimeWindow(_Section):
    """A daily window in local time, e.g. 20:00-06:00 (may cross midnight)."""

    start: dt.time
    end: dt.time

    def contains(self, moment: dt.time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


class RetrievalSettings(_Section):
    policy: Literal["metadata", "full"] = "metadata"
    max_moves_per_minute: float = Field(default=0, ge=0)  # 0 = no rate limit
    allowed_windows: list[TimeWindow] = Field(default_factory=list)  # empty = any time
    max_retries: int = Field(default=3, ge=0, le=20)
    retry_backoff_s: float = Field(default=2.0, ge=0)
    concurrent_moves: int = Field(default=1, ge=1, le=16)
    # Worker processes receiving the C-MOVE sub-operations (0: the retrieval's own process);
    # unset: one per concurrent move when there are several.
    receiving_processes: int | None = Field(default=None, ge=0, le=16)

    @field_validator("allowed_windows", mode="before")
    @classmethod
    def _parse_windows(cls, value: Any) -> Any:
        # Accept the compact "20:00-06:00" form as well as {start:, end:}.
        if isinstance(value, list):
            out = []
            for item in value:
                if isinstance(item, str):
                    if "-" not in item:
                        raise ValueError(f"time window {item!r} must look like 20:00-06:00")
                    start, end = item.split("-", 1)
                    out.append({"start": start.strip(), "end": end.strip()})
                else:
                    out.append(item)
            return out
        return value


class SelectionSettings(_Section):
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


class DeidentificationSettings(_Section):
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


class WarehouseSettings(_Section):
    # None = SQLite file in the folders' root. The environment variable overrides this.
    url: str | None = None
    # Quality flag thresholds of the curation stage (values beyond them are flagged, never dropped).
    ctdivol_ceiling_mgy: float = Field(default=200.0, gt=0)
    max_age_years: float = Field(default=120.0, gt=0)
    compression_force_max_n: float = Field(default=300.0, gt=0)
    future_date_tolerance_days: int = Field(default=0, ge=0)


class DoseSettings(_Section):
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


class MammographySettings(_Section):
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


class ListenerSettings(_Section):
    ae_title: str = "DICOM_LAKE"

    @field_validator("ae_title")
    @classmethod
    def _ae_title(cls, value: str) -> str:
        return _check_ae_title(value)

    bind_address: str = "0.0.0.0"
    port: int = Field(default=11114, ge=0, le=65535)
    allowed_calling_ae_titles: list[str] = Field(default_factory=list)  # empty = refuse everyone
    allowed_hosts: list[str] = Field(default_factory=list)  # empty = any host
    max_associations: int = Field(default=10, ge=1, le=200)
    # Connections still in their TLS handshake or A-ASSOCIATE-RQ, which max_associations does not see;
    # past this a new connection is refused at once. None: twice max_associations.
    max_pending_connections: int | None = Field(default=None, ge=1, le=1000)
    # The largest A-ASSOCIATE-RQ read; one declaring more is rejected unread. A request proposing 128
    # presentation contexts with eight transfer syntaxes each is about 40 KiB.
    max_associate_request_bytes: int = Field(default=65536, ge=4096, le=1 << 20)
    tls_certificate: Path | None = None
    tls_private_key: Path | None = None
    tls_ca_certificate: Path | None = None
    quiet_period_s: float = Field(default=120, ge=0)
    health_port: int | None = Field(default=None, ge=0, le=65535)
    tcp_nodelay: bool = True
    # Association set-up and release (the TLS handshake included); a dataset under way; an idle association.
    acse_timeout_s: float = Field(default=30, gt=0)
    dimse_timeout_s: float = Field(default=120, gt=0)
    network_timeout_s: float = Field(default=120, gt=0)
    # "native": the listener's own lean C-STORE acceptor (fast path); "pynetdicom": pynetdicom's AE.
    engine: Literal["native", "pynetdicom"] = "native"
    # True: each received instance is journaled and the journal fdatasynced (one fdatasync shared by
    # the associations of a process) before the sender is answered, so it survives a power cut
    # (resources/listener/journal.py). False: still written atomically (temp file + rename) and
    # indexed before the answer, which survives the listener being killed, but not a power cut.
    fsync: bool = True


class ScheduleSettings(_Section):
    nightly_cron: str = "0 1 * * *"
    lag_days: int = Field(default=1, ge=0)
    timezone: str = "UTC"


class SiteConfig(_Section):
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
