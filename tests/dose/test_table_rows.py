"""Each dose row type carries exactly its warehouse table's columns (less the key and the lineage)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from resources.dose import dose_rows
from resources.dose.local_drl import LocalDrlRow
from resources.dose.projection_audit import ProjectionDrlAuditRow
from resources.dose.table_rows import row_columns, table_rows
from resources.warehouse import dose_tables

ROW_TYPES = {
    dose_tables.CtDoseEvent: dose_rows.IrradiationEventRow,
    dose_tables.CtEventSeriesLink: dose_rows.EventSeriesLinkRow,
    dose_tables.DoseStudyContext: dose_rows.StudyContextRow,
    dose_tables.StudyDose: dose_rows.StudyDoseRow,
    dose_tables.EffectiveDose: dose_rows.EventEffectiveDoseRow,
    dose_tables.StudyEffectiveDose: dose_rows.StudyEffectiveDoseRow,
    dose_tables.DrlAuditRow: dose_rows.DrlAuditGroupRow,
    dose_tables.DrlExceedingExam: dose_rows.DrlExceedingExamRow,
    dose_tables.DrlUnmappedName: dose_rows.DrlUnmappedNameRow,
    dose_tables.PatientCumulativeDose: dose_rows.PatientCumulativeDoseRow,
    dose_tables.LocalDrlLevel: LocalDrlRow,
    dose_tables.ProjectionDrlAuditRow: ProjectionDrlAuditRow,
}


def test_every_dose_table_has_a_row_type() -> None:
    assert set(ROW_TYPES) == set(dose_tables.ALL_TABLES)


@pytest.mark.parametrize("model", dose_tables.ALL_TABLES, ids=lambda m: m.__tablename__)
def test_row_fields_are_the_table_columns_with_the_table_defaults(model: type) -> None:
    row_type = ROW_TYPES[model]
    fields = {f.name: f for f in dataclasses.fields(row_type)}
    assert sorted(fields) == sorted(row_columns(model))
    for name, field in fields.items():
        table_default = model.model_fields[name].default
        if field.default is not dataclasses.MISSING:
            assert field.default == table_default, name


def test_rows_are_written_with_dates_as_dates() -> None:
    row = dose_rows.StudyContextRow("1.2.3", study_date=dt.datetime(2026, 1, 5, 10, 30))
    (written,) = table_rows(dose_tables.DoseStudyContext, [row])
    assert written["study_date"] == dt.date(2026, 1, 5)
    assert written["has_rdsr"] is False
