"""Report registry: every report, by name. ``analytics report NAME`` reads its choices here.

Each report is declared in :mod:`analytics_framework.reports.catalog` (its SQL file, columns with
units, options, look-ahead) and run by :func:`~analytics_framework.reports.engine.run_report`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from analytics_framework.errors import UnknownNameError
from analytics_framework.reports.catalog import CATALOG
from analytics_framework.reports.spec import Column, Option, Report

if TYPE_CHECKING:
    from analytics_framework.reports.engine import run_report
    from analytics_framework.reports.result import ReportResult

REPORTS: dict[str, Report] = {r.name: r for r in CATALOG}


def __getattr__(name: str) -> Any:
    """Load the engine (DuckDB, polars) on first use of ``run_report`` or ``ReportResult``.

    The catalogue alone is what ``analytics --help`` needs; keeping the engine out of this
    module's import keeps the command line's start-up light (issue 14).
    """
    if name == "ReportResult":
        from analytics_framework.reports.result import ReportResult

        return ReportResult
    if name == "run_report":
        from analytics_framework.reports.engine import run_report

        return run_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sql_of(names: list[str]) -> str:
    """Return every SQL text that running the reports ``names`` may execute.

    Their :func:`report_sql`: what :func:`~analytics_framework.storage.query.connect`
    (``keep_for``) reads the column names from.
    """
    return "\n".join(report_sql(get_report(name)) for name in names)


def report_sql(report: Report) -> str:
    """Return every SQL text that running ``report`` may execute.

    Its SQL file (and fallback), its rollup check and the business-hours views.
    """
    from analytics_framework.reports import business_hours

    texts = [*business_hours.VIEWS, report.sql(), report.rollup_check]
    if report.fallback_sql_file:
        texts.append(report.sql(report.fallback_sql_file))
    return "\n".join(texts)


def get_report(name: str) -> Report:
    """Return the report registered as ``name``.

    Raises:
        UnknownNameError: no such report; the message lists the known ones.
    """
    try:
        return REPORTS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown report {name!r}", f"use one of: {', '.join(REPORTS)}"
        ) from None


__all__ = [
    "REPORTS",
    "Column",
    "Option",
    "Report",
    "ReportResult",
    "get_report",
    "run_report",
    "sql_of",
]
