"""The ``leaderboard`` report: its declaration (the SQL is ``reports/sql/leaderboard.sql``).

The top ``--limit`` organisations (``org_id``) of each period, ranked by ``--sort``
(conversations, customers or messages), each with its share of the period's total and its change
against the period before. One row per period x rank.
"""

from __future__ import annotations

from analytics_framework.reports.spec import Column, Option, Report

SORTS = ("conversations", "customers", "messages")
"""What ``--sort`` ranks by."""

SORT = Option("sort", "conversations", "the metric organisations are ranked by", choices=SORTS)
LIMIT = Option("limit", 5, "organisations shown per period (the top N)")

REPORT: Report | None = Report(
    name="leaderboard",
    sql_file="leaderboard.sql",
    description="top organisations per period by conversations, customers or messages, with "
    "share and change against the previous period",
    keys=("period", "rank", "org_id"),
    by=(),
    options=(SORT, LIMIT),
    example="analytics report leaderboard --period monthly --sort customers --limit 10",
    columns=(
        Column("period", "period", "date", description="first day of the period (ISO date)"),
        Column("rank", "rank", "count", description="1 = the most; ties ranked by org_id"),
        Column("org_id", "org", "text", description="organisation, brand, page or app"),
        Column("conversations", "conversations", "count", "volume", "conversations started"),
        Column("customers", "customers", "count", "volume", "distinct customers"),
        Column("messages", "messages", "count", "volume", "messages of those conversations"),
        Column("metric", "ranked by", "text", "ranking", "the --sort metric"),
        Column(
            "share_pct",
            "share %",
            "percent",
            "ranking",
            "the org's metric / the period's total (all conversations, org or not) x 100",
        ),
        Column(
            "previous",
            "previous",
            "count",
            "ranking",
            "the org's metric in the previous period; null for the first period or a new org",
        ),
        Column(
            "change_pct",
            "change %",
            "percent",
            "ranking",
            "(metric - previous) / previous x 100",
        ),
        Column("metric_version", "metric version", "count"),
    ),
)
"""Declared here, listed in :data:`analytics_framework.reports.catalog.CATALOG`."""
