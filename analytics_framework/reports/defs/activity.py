"""The ``activity`` report: its declaration (the SQL is ``reports/sql/activity.sql``).

When customers and agents write, by weekday x hour of day in ``--timezone``, and how many
customers write each day. One rowset, two sections told apart by the ``section`` key column, so
JSON and CSV stay tidy (every row has the same columns; one not applicable to a section is null):

- ``heatmap``: 168 rows, weekday Mon..Sun x hour 0..23, zeros included; ``period`` is the range's
  first day. The terminal draws them as a shaded grid (:mod:`analytics_cli.heatmap`).
- ``daily``: one row per day of the range, zeros included, with the day's active customers and
  their 7-day rolling mean.

Messages are taken by their own ``sent_at`` in the range, not by their conversation's start.
``--period`` does not apply and ``--by`` is refused.
"""

from __future__ import annotations

from analytics_framework.reports.spec import Column, Report

SECTIONS = ("heatmap", "daily")
"""The values of the ``section`` key column, in the order rows come."""

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
"""The values of the ``weekday`` key column (ISO order, weeks start on Monday)."""

REPORT: Report | None = Report(
    name="activity",
    sql_file="activity.sql",
    fallback_sql_file="activity_messages.sql",
    rollup_check="SELECT count(*) FILTER (WHERE customer_quarters IS NULL "
    "AND customer_messages + agent_messages > 0) = 0 FROM conversations",
    description="customer and agent messages by weekday x hour (a heatmap) and daily active "
    "customers with a 7-day rolling mean",
    keys=("section", "period", "weekday", "hour"),
    by=(),
    example="analytics report activity --start-date 2017-10-01 --end-date 2017-11-01 "
    "--timezone America/New_York",
    columns=(
        Column("section", "section", "text", description="heatmap (weekday x hour) or daily"),
        Column(
            "period",
            "period",
            "date",
            description="heatmap: the range's first day; daily: the day (ISO date)",
        ),
        Column("weekday", "weekday", "text", description="Mon..Sun in --timezone"),
        Column("hour", "hour", "count", description="hour of day 0-23 in --timezone (heatmap)"),
        Column(
            "customer_messages",
            "customer msgs",
            "count",
            "messages",
            "messages with role customer sent in the cell (or on the day)",
        ),
        Column(
            "agent_messages",
            "agent msgs",
            "count",
            "messages",
            "human replies (role agent; bots never count) sent in the cell (or on the day)",
        ),
        Column(
            "weekdays",
            "days",
            "count",
            "messages",
            "heatmap: how many of this weekday the range holds",
        ),
        Column(
            "customer_per_day",
            "customer/day",
            "ratio",
            "messages",
            "heatmap: customer messages in the cell / weekdays (mean per such day)",
        ),
        Column(
            "agent_per_day",
            "agent/day",
            "ratio",
            "messages",
            "heatmap: agent messages in the cell / weekdays (mean per such day)",
        ),
        Column(
            "active_customers",
            "active customers",
            "count",
            "customers",
            "daily: distinct customers who sent a message that day",
        ),
        Column(
            "rolling_7d",
            "7-day avg",
            "ratio",
            "customers",
            "daily: mean active customers over the day and the 6 before it (null until 7)",
        ),
        Column("metric_version", "metric version", "count"),
    ),
)
"""Declared here, listed in :data:`analytics_framework.reports.catalog.CATALOG`."""
