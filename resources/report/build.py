"""Build the report model for a period of source study dates from the warehouse (read-only).

The period is a range of partition keys (source study dates, unshifted), the same keys the assets
run on; the rows keep their shifted dates. A warehouse that does not exist is not created: a report
never writes to the warehouse.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from resources.dose.drl import load_drl_set
from resources.errors import DicomLakeError
from resources.report.analysis_sections import AnalysesRunner, analysis_sections
from resources.report.dose_sections import DoseContext, drl_section, effective_dose_section
from resources.report.errors import EmptyPeriodError, ReportError, WarehouseMissingError
from resources.report.model import Report, ReportHeader, Section
from resources.report.sql import partition_params
from resources.report.ssde_section import ssde_section
from resources.warehouse.lineage import CODE_VERSION
from resources.warehouse.store import make_engine

PACKAGE = "dicom-lake"


@dataclass(frozen=True)
class ReportRequest:
    """What to report on and the site's choices named in the header."""

    site_name: str
    start: dt.date
    end: dt.date
    warehouse_url: str
    drl_set: str
    factor_set: str
    schema: str | None = None


def software_version() -> str:
    """The installed package's version (the code version when run from a source tree)."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return CODE_VERSION


def _shown(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def open_warehouse(url: str, *, schema: str | None = None) -> sa.Engine:
    """An engine on an existing warehouse; a SQLite file that is not there is reported, not created.

    Raises
    ------
    WarehouseMissingError
        If the SQLite file does not exist.
    """
    parsed = sa.engine.make_url(url)
    on_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if on_file and not Path(str(parsed.database)).is_file():
        raise WarehouseMissingError(
            f"warehouse {parsed.database}: does not exist (no partition has been curated yet)"
        )
    return make_engine(url, schema=schema)


def _distinct(connection: sa.Connection, query: str, params: dict[str, str]) -> tuple[str, ...]:
    values = [
        " ".join(str(v) for v in row if v not in (None, ""))
        for row in connection.execute(sa.text(query), params)
    ]
    return tuple(sorted({v for v in values if v}))


def _drl_sets(connection: sa.Connection, tables: set[str], configured: str) -> tuple[str, ...]:
    names = (
        _distinct(connection, "SELECT DISTINCT drl_set FROM drl_audit_row", {})
        if "drl_audit_row" in tables
        else ()
    )
    described = []
    for name in names or (configured,):
        edition = _drl_edition(name)
        described.append(f"{name} ({edition})" if edition else name)
    if names and configured not in names:
        described.append(f"site file now names {configured}: rerun drl_audit")
    return tuple(described)


def _drl_edition(name: str) -> str:
    """The edition of a shipped DRL set; empty for a local set or one this version does not ship."""
    try:
        return load_drl_set(name).edition
    except DicomLakeError:  # a local set, or a template: still named in the header, without edition
        return ""


def build_header(
    connection: sa.Connection, request: ReportRequest, tables: set[str], now: dt.datetime
) -> ReportHeader:
    params = partition_params(request.start, request.end)
    n_studies, n_partitions = connection.execute(
        sa.text(
            "SELECT COUNT(*), COUNT(DISTINCT partition_key) FROM study "
            "WHERE partition_key >= :start AND partition_key < :after"
        ),
        params,
    ).one()
    factor_sets: tuple[str, ...] = ()
    if "effective_dose" in tables:
        factor_sets = _distinct(
            connection,
            "SELECT DISTINCT factor_set, factor_set_edition FROM effective_dose "
            "WHERE partition_key >= :start AND partition_key < :after",
            params,
        )
    deid = _distinct(
        connection,
        "SELECT DISTINCT deid_profile_version FROM study "
        "WHERE partition_key >= :start AND partition_key < :after",
        params,
    )
    return ReportHeader(
        site_name=request.site_name,
        period_start=request.start,
        period_end=request.end,
        generated_at=now,
        software_version=software_version(),
        drl_sets=_drl_sets(connection, tables, request.drl_set),
        factor_sets=factor_sets or (f"{request.factor_set} (configured; no effective dose in the period)",),
        deid_profile_versions=deid,
        n_studies=int(n_studies),
        n_partitions=int(n_partitions),
    )


def _period_or_fail(connection: sa.Connection, request: ReportRequest, shown: str) -> None:
    count = connection.execute(
        sa.text("SELECT COUNT(*) FROM study WHERE partition_key >= :start AND partition_key < :after"),
        partition_params(request.start, request.end),
    ).scalar_one()
    if count:
        return
    low, high = connection.execute(
        sa.text(
            "SELECT MIN(SUBSTR(partition_key, 1, 10)), MAX(SUBSTR(partition_key, 1, 10)) FROM study "
            "WHERE partition_key <> 'all'"
        )
    ).one()
    held = f"it holds {low} to {high}" if low else "it holds no curated study at all"
    raise EmptyPeriodError(
        f"warehouse {shown}: no curated study with a source study date from {request.start} to "
        f"{request.end} ({held})"
    )


def build_report(
    request: ReportRequest, *, runner: AnalysesRunner | None = None, now: dt.datetime | None = None
) -> Report:
    """The report for ``request``'s period.

    Raises
    ------
    ReportError
        If the period ends before it starts, or the warehouse refuses a query (its first line kept).
    WarehouseMissingError
        If the warehouse does not exist or has no curated tables.
    EmptyPeriodError
        If no curated study falls in the period (the message gives the range the warehouse holds).
    """
    if request.end < request.start:
        raise ReportError(f"period {request.start} to {request.end}: ends before it starts")
    shown = _shown(request.warehouse_url)
    engine = open_warehouse(request.warehouse_url, schema=request.schema)
    generated = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    try:
        try:
            tables = set(sa.inspect(engine).get_table_names())
        except sa.exc.SQLAlchemyError as exc:
            raise WarehouseMissingError(f"warehouse {shown}: cannot be read: {_first_line(exc)}") from exc
        if "study" not in tables:
            raise WarehouseMissingError(
                f"warehouse {shown}: has no curated tables yet (no partition curated)"
            )
        context = DoseContext(request.start, request.end, request.drl_set, request.factor_set)
        try:
            with engine.connect() as connection:
                _period_or_fail(connection, request, shown)
                header = build_header(connection, request, tables, generated)
                sections: list[Section] = [
                    drl_section(connection, context, tables),
                    effective_dose_section(connection, context, tables),
                    ssde_section(connection, context, tables),
                ]
            sections += analysis_sections(
                engine, start=request.start, end=request.end, schema=request.schema, runner=runner
            )
        except sa.exc.SQLAlchemyError as exc:
            raise ReportError(f"warehouse {shown}: a report query failed: {_first_line(exc)}") from exc
    finally:
        engine.dispose()
    return Report(header=header, sections=tuple(sections))


def _first_line(exc: sa.exc.SQLAlchemyError) -> str:
    # The driver's message would carry the statement: only what the server said, first line.
    said = str(getattr(exc, "orig", None) or exc).strip()
    return said.splitlines()[0][:200] if said else type(exc).__name__
