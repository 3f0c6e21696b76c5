"""The ``intents`` report: see :data:`REPORT` (declared here, SQL in ``reports/sql/intents.sql``)."""

from __future__ import annotations

from analytics_framework.reports.spec import Report

REPORT: Report | None = None
"""Not built yet."""
