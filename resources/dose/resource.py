"""The Dagster face of the dose engine: reads the research store and warehouse, writes dose tables."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
from sqlmodel import SQLModel

from resources.dose.audit_inputs import report_studies
from resources.dose.dose_rows import (
    EventEffectiveDoseRow,
    IrradiationEventRow,
    PatientCumulativeDoseRow,
    StudyContextRow,
    StudyDoseRow,
    StudyEffectiveDoseRow,
)
from resources.dose.drl import DrlMapping, DrlSet, load_drl_csv, load_drl_set
from resources.dose.effective_dose import FactorSet, load_factor_set
from resources.dose.errors import FactorSetError
from resources.dose.event_ssde import events_with_ssde
from resources.dose.exam_context import ExamContext, default_exam_context
from resources.dose.local_drl import LocalDrlRow, local_drl_csv, local_drls
from resources.dose.partition_events import PartitionAnalysis, analyse_files
from resources.dose.projection_audit import ProjectionAudit, projection_audit, projection_studies
from resources.dose.report_rows import DrlAuditTables, cumulative_rows, drl_audit_tables
from resources.dose.study_rows import effective_dose_rows, study_dose_rows
from resources.dose.table_rows import read_rows, table_rows
from resources.research_store import ResearchStore
from resources.site_config import SiteConfig
from resources.site_resource import SiteConfigResource
from resources.warehouse import dose_tables as tables
from resources.warehouse.lineage import Lineage
from resources.warehouse.store import Warehouse

logger = logging.getLogger(__name__)

REPORT_PARTITION_KEY = "all"
PROJECTION_DRL_SET = "uk_projection_2024"  # shipped as a template until its DAP values are filled in


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
        analysis.events = events_with_ssde(analysis.events, analysis.links, files)
        self.warehouse().replace_partition(
            Lineage(partition_key, run_id),
            {
                tables.CtDoseEvent: table_rows(tables.CtDoseEvent, analysis.events),
                tables.CtEventSeriesLink: table_rows(tables.CtEventSeriesLink, analysis.links),
                tables.DoseStudyContext: table_rows(tables.DoseStudyContext, analysis.contexts),
            },
        )
        return analysis

    def build_study_dose(self, partition_key: str, run_id: str) -> list[StudyDoseRow]:
        """Recompute the partition's per-study totals from its events; replace its study rows."""
        warehouse = self.warehouse()
        rows = study_dose_rows(
            read_rows(warehouse, tables.CtDoseEvent, IrradiationEventRow, partition_key),
            read_rows(warehouse, tables.DoseStudyContext, StudyContextRow, partition_key),
        )
        warehouse.replace_partition(
            Lineage(partition_key, run_id), {tables.StudyDose: table_rows(tables.StudyDose, rows)}
        )
        return rows

    def build_effective_dose(
        self, partition_key: str, run_id: str
    ) -> tuple[list[EventEffectiveDoseRow], list[StudyEffectiveDoseRow]]:
        """Effective dose per event and per study of the partition with the site's factor set."""
        warehouse = self.warehouse()
        event_rows, study_rows = effective_dose_rows(
            read_rows(warehouse, tables.CtDoseEvent, IrradiationEventRow, partition_key),
            read_rows(warehouse, tables.StudyDose, StudyDoseRow, partition_key),
            self.factor_set(),
        )
        warehouse.replace_partition(
            Lineage(partition_key, run_id),
            {
                tables.EffectiveDose: table_rows(tables.EffectiveDose, event_rows),
                tables.StudyEffectiveDose: table_rows(tables.StudyEffectiveDose, study_rows),
            },
        )
        return event_rows, study_rows

    # -- whole-warehouse reports -------------------------------------------------------------------
    def build_drl_audit(self, run_id: str, period: str | None = None) -> DrlAuditTables:
        """The DRL audit over every study of the warehouse, by canonical device and source period;
        replaces the three audit tables."""
        warehouse = self.warehouse()
        result = drl_audit_tables(
            report_studies(warehouse), self.drl_set(), period or self.config().dose.drl_period
        )
        warehouse.replace_partition(
            Lineage(REPORT_PARTITION_KEY, run_id),
            {
                tables.DrlAuditRow: table_rows(tables.DrlAuditRow, result.rows),
                tables.DrlExceedingExam: table_rows(tables.DrlExceedingExam, result.exceeding),
                tables.DrlUnmappedName: table_rows(tables.DrlUnmappedName, result.unmapped),
            },
        )
        return result

    def build_local_drl(self, run_id: str, min_studies_per_room: int) -> tuple[list[LocalDrlRow], Path]:
        """ICRP 135 local DRLs per category and source year; replaces their table and writes the latest
        year as an adoptable DRL-set CSV into the exports folder (returned)."""
        warehouse = self.warehouse()
        rows = local_drls(report_studies(warehouse), "year", min_studies_per_room)
        warehouse.replace_partition(
            Lineage(REPORT_PARTITION_KEY, run_id),
            {tables.LocalDrlLevel: table_rows(tables.LocalDrlLevel, rows)},
        )
        target = self.config().paths.exports / "local_drl_icrp135.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        source = f"ICRP 135: third quartile of per-room medians, this site's warehouse (run {run_id})"
        target.write_text(local_drl_csv(rows, self.drl_set(), source), encoding="utf-8")
        return rows, target

    def projection_drl_set(self) -> tuple[DrlSet | None, str]:
        """The DRL set with DAP levels the projection audit uses, or None and why there is none."""
        settings = self.config().dose
        if settings.local_drl_csv is not None:
            local = self.drl_set()
            if any(level.dap_gycm2 is not None for level in local.levels.values()):
                return local, local.name
        try:
            return load_drl_set(PROJECTION_DRL_SET), PROJECTION_DRL_SET
        except FactorSetError as exc:
            return None, str(exc)

    def build_projection_audit(self, run_id: str) -> tuple[ProjectionAudit, str]:
        """Median DAP per projection exam, canonical device and source period; replaces its table."""
        warehouse = self.warehouse()
        drl_set, which = self.projection_drl_set()
        result = projection_audit(
            projection_studies(warehouse, self.mapping()), drl_set, self.config().dose.drl_period
        )
        warehouse.replace_partition(
            Lineage(REPORT_PARTITION_KEY, run_id),
            {tables.ProjectionDrlAuditRow: table_rows(tables.ProjectionDrlAuditRow, result.rows)},
        )
        return result, which

    def build_cumulative(self, run_id: str) -> list[PatientCumulativeDoseRow]:
        """Cumulative effective dose per patient over the site's windows; replaces its report table."""
        warehouse = self.warehouse()
        settings = self.config().dose
        factor_set = settings.factor_set
        studies = [
            s
            for s in read_rows(warehouse, tables.StudyEffectiveDose, StudyEffectiveDoseRow)
            if s.factor_set == factor_set
        ]
        rows = cumulative_rows(
            studies, settings.cumulative_windows_years, settings.cumulative_alert_msv, factor_set
        )
        warehouse.replace_partition(
            Lineage(REPORT_PARTITION_KEY, run_id),
            {tables.PatientCumulativeDose: table_rows(tables.PatientCumulativeDose, rows)},
        )
        return rows
