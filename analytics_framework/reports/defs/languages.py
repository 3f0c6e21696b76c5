"""The ``languages`` report: its declaration (the SQL is ``reports/sql/languages.sql``).

What languages customers write in, from the lake's ``translations`` table (``analytics
translate``: :mod:`analytics_framework.insights.translations`): per period (and org) and
conversation language, how many conversations and messages, their share, and how many were
translated into English by an LLM provider or are still pending (detected offline only).
"""

from __future__ import annotations

from analytics_framework.reports.spec import Column, Report

REPORT: Report | None = Report(
    name="languages",
    sql_file="languages.sql",
    description="conversations per customer language: share, messages, translated into "
    "English, pending (needs analytics translate)",
    keys=("period", "org_id", "language"),
    requires=("translations",),
    by=("org",),
    example="analytics report languages --period monthly --by org",
    columns=(
        Column("period", "period", "date", description="first day of the period (ISO date)"),
        Column("org_id", "org", "text", description="organisation, brand, page or app"),
        Column("language", "language", "text", description="ISO 639-1; empty: undetected"),
        Column("conversations", "conversations", "count", "volume", "in that language"),
        Column("share_pct", "share %", "percent", "volume", "of the group's processed ones"),
        Column("messages", "messages", "count", "volume", "their messages"),
        Column("translated", "translated", "count", "translation", "every message translated"),
        Column("translated_pct", "translated %", "percent", "translation", "of conversations"),
        Column("pending", "pending", "count", "translation", "not English, not translated"),
        Column("metric_version", "metric version", "count"),
    ),
)
"""Per conversation language: volume and translation."""
