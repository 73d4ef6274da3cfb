"""The Dagster face of the dose engine: reads the research store and warehouse, writes dose tables."""

from __future__ import annotations

import base64
import datetime as dt
import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from sqlmodel import SQLModel

from resources.dose.drl import DrlMapping, DrlSet, load_drl_csv, load_drl_set
from resources.dose.effective_dose import FactorSet, load_factor_set
from resources.dose.exam_context import ExamContext, default_exam_context
from resources.dose.partition_analysis import (
    DrlAuditTables,
    PartitionAnalysis,
    analyse_files,
    clean_rows,
    cumulative_rows,
    drl_audit_tables,
    effective_dose_rows,
    study_dose_rows,
)
from resources.research_store import ResearchStore
from resources.site_config import SiteConfig
from resources.site_resource import SiteConfigResource
from resources.warehouse import Lineage, Warehouse
from resources.warehouse import dose_tables as tables

logger = logging.getLogger(__name__)

REPORT_PARTITION_KEY = "all"


def complete_rows(model: type[SQLModel], rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Give every row every column (defaults for missing ones) so bulk inserts see one shape."""
    fields = model.model_fields
    names = [
        n
        for n in fields
        if n not in ("id", "partition_key", "run_id", "code_version", "deid_profile_version", "processed_at")
    ]
    defaults = {
        n: (fields[n].default if fields[n].default is not None and not callable(fields[n].default) else None)
        for n in names
    }
    kinds = {n: _temporal_kind(fields[n].annotation) for n in names}
    return [{n: _coerce(row.get(n, defaults[n]), kinds[n]) for n in names} for row in rows]


def _temporal_kind(annotation: Any) -> str | None:
    text = str(annotation)
    if "datetime.datetime" in text:
        return "datetime"
    if "datetime.date" in text:
        return "date"
    return None


def _coerce(value: Any, kind: str | None) -> Any:
    """Dates read back from SQLite come as text and from pandas as Timestamps: make them dates again."""
    if kind is None or value is None or type(value) in (dt.date, dt.datetime):
        if kind == "date" and isinstance(value, dt.datetime):
            return value.date()
        return value
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    elif isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if kind == "date" and isinstance(value, dt.datetime):
        return value.date()
    return value


def _read(
    warehouse: Warehouse, model: type[SQLModel], partition_key: str | None = None
) -> list[dict[str, Any]]:
    table = str(model.__tablename__)
    if partition_key is None:
        frame = warehouse.read_frame(f"SELECT * FROM {table}")
    else:
        frame = warehouse.read_frame(
            f"SELECT * FROM {table} WHERE partition_key = :pk", {"pk": partition_key}
        )
    return clean_rows({str(k): v for k, v in record.items()} for record in frame.to_dict("records"))


def dlp_plot_markdown(points: Sequence[tuple[str, float, float | None]]) -> str:
    """A PNG (base64 in markdown) of study DLP per DRL category, with the DRL marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    categories = sorted({p[0] for p in points})
    if not categories:
        return "_no studies mapped to a DRL category_"
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(categories) + 1.5))
    for row, category in enumerate(categories):
        values = [p[1] for p in points if p[0] == category]
        ax.scatter(values, [row] * len(values), s=10, alpha=0.5, color="tab:blue")
        level = next((p[2] for p in points if p[0] == category), None)
        if level is not None:
            ax.plot([level, level], [row - 0.4, row + 0.4], color="tab:red", linewidth=2)
    ax.set_yticks(range(len(categories)), categories)
    ax.set_xlabel("DLP per study (mGy cm); red bar = DRL")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"![DLP per category against DRL](data:image/png;base64,{encoded})"


class DoseResource(dg.ConfigurableResource):
    """Dose engine settings come from the site file's ``dose`` section."""

    site: SiteConfigResource

    # -- configuration ---------------------------------------------------------------------------
    def config(self) -> SiteConfig:
        return self.site.load()

    def warehouse(self) -> Warehouse:
        warehouse = Warehouse(self.config().warehouse_url())
        dose_tables = [SQLModel.metadata.tables[m.__tablename__] for m in tables.ALL_TABLES]
        SQLModel.metadata.create_all(warehouse.engine, tables=dose_tables)
        return warehouse

    def factor_set(self) -> FactorSet:
        return load_factor_set(self.config().dose.factor_set)

    def drl_set(self) -> DrlSet:
        settings = self.config().dose
        if settings.local_drl_csv is not None:
            return load_drl_csv(self._site_path(Path(settings.local_drl_csv)), "local")
        return load_drl_set(settings.drl_set)

    def _site_path(self, path: Path) -> Path:
        return path if path.is_absolute() else self.config().base_dir / path

    def mapping(self) -> DrlMapping:
        custom = self.config().dose.drl_mapping_csv
        return DrlMapping.load(self._site_path(Path(custom))) if custom is not None else DrlMapping.load()

    def exam_context(self) -> ExamContext:
        return default_exam_context()

    # -- partitioned stages ------------------------------------------------------------------------
    def build_events(self, partition_key: str, run_id: str) -> PartitionAnalysis:
        """Read the partition's de-identified files; replace its event, link and study-context rows."""
        config = self.config()
        files = ResearchStore(config.paths.research).files(partition_key)
        analysis = analyse_files(files, self.exam_context(), self.mapping())
        self.warehouse().replace_partition(
            Lineage(partition_key, run_id),
            {
                tables.CtDoseEvent: complete_rows(tables.CtDoseEvent, analysis.events),
                tables.CtEventSeriesLink: complete_rows(tables.CtEventSeriesLink, analysis.links),
                tables.DoseStudyContext: complete_rows(tables.DoseStudyContext, analysis.contexts),
            },
        )
        return analysis

    def build_study_dose(self, partition_key: str, run_id: str) -> list[dict[str, Any]]:
        warehouse = self.warehouse()
        rows = study_dose_rows(
            _read(warehouse, tables.CtDoseEvent, partition_key),
            _read(warehouse, tables.DoseStudyContext, partition_key),
        )
        warehouse.replace_partition(
            Lineage(partition_key, run_id), {tables.StudyDose: complete_rows(tables.StudyDose, rows)}
        )
        return rows

    def build_effective_dose(
        self, partition_key: str, run_id: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        warehouse = self.warehouse()
        event_rows, study_rows = effective_dose_rows(
            _read(warehouse, tables.CtDoseEvent, partition_key),
            _read(warehouse, tables.StudyDose, partition_key),
            self.factor_set(),
        )
        warehouse.replace_partition(
            Lineage(partition_key, run_id),
            {
                tables.EffectiveDose: complete_rows(tables.EffectiveDose, event_rows),
                tables.StudyEffectiveDose: complete_rows(tables.StudyEffectiveDose, study_rows),
            },
        )
        return event_rows, study_rows

    # -- whole-warehouse reports -------------------------------------------------------------------
    def build_drl_audit(self, run_id: str, period: str | None = None) -> DrlAuditTables:
        warehouse = self.warehouse()
        studies = _read(warehouse, tables.StudyDose)
        contexts = {c["study_instance_uid"]: c for c in _read(warehouse, tables.DoseStudyContext)}
        for study in studies:
            study["unmapped_name"] = contexts.get(study["study_instance_uid"], {}).get("unmapped_name")
        result = drl_audit_tables(studies, self.drl_set(), period or self.config().dose.drl_period)
        warehouse.replace_partition(
            Lineage(REPORT_PARTITION_KEY, run_id),
            {
                tables.DrlAuditRow: complete_rows(tables.DrlAuditRow, result.rows),
                tables.DrlExceedingExam: complete_rows(tables.DrlExceedingExam, result.exceeding),
                tables.DrlUnmappedName: complete_rows(tables.DrlUnmappedName, result.unmapped),
            },
        )
        return result

    def build_cumulative(self, run_id: str) -> list[dict[str, Any]]:
        warehouse = self.warehouse()
        settings = self.config().dose
        studies = _read(warehouse, tables.StudyEffectiveDose)
        factor_set = settings.factor_set
        studies = [s for s in studies if s.get("factor_set") == factor_set]
        rows = cumulative_rows(
            studies, settings.cumulative_windows_years, settings.cumulative_alert_msv, factor_set
        )
        warehouse.replace_partition(
            Lineage(REPORT_PARTITION_KEY, run_id),
            {tables.PatientCumulativeDose: complete_rows(tables.PatientCumulativeDose, rows)},
        )
        return rows
