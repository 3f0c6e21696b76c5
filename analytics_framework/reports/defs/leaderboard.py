"""The ``leaderboard`` report: its declaration (the SQL is ``reports/sql/leaderboard.sql``)."""

from __future__ import annotations

from analytics_framework.reports.spec import Report

REPORT: Report | None = None
"""Not built yet."""
