"""The ``intents`` report: its declaration (the SQL is ``reports/sql/intents.sql``)."""

from __future__ import annotations

from analytics_framework.reports.spec import Report

REPORT: Report | None = None
"""Not built yet."""
