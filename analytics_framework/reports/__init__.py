"""Report registry: every report, by name. ``analytics report NAME`` reads its choices here."""

from __future__ import annotations

from analytics_framework.errors import UnknownNameError
from analytics_framework.reports.engine import Report, ReportResult, run_report

REPORTS: dict[str, Report] = {
    "overview": Report(
        name="overview",
        sql_file="overview.sql",
        description="volume, unanswered, FRT, response time, CSAT, predicted CSAT, "
        "resolution, FCR, sentiment",
    ),
    "topics": Report(
        name="topics",
        sql_file="topics.sql",
        description="top topics, intents and objections with counts and shares",
    ),
}


def get_report(name: str) -> Report:
    """Return the report registered as ``name``.

    Raises:
        UnknownNameError: no such report; the message lists the known ones.
    """
    try:
        return REPORTS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown report {name!r}", f"use one of: {', '.join(sorted(REPORTS))}"
        ) from None


__all__ = ["REPORTS", "Report", "ReportResult", "get_report", "run_report"]
