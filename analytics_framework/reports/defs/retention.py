"""The ``retention`` report: its declaration (the SQL is ``reports/sql/retention.sql``).

Customers grouped by the day they were first seen (their first conversation's start in
``--timezone``, over the whole lake), with day-1, day-7 and day-30 retention as DESIGN.md defines
it (eligible: D + N not after the lake's last day; returned: another conversation starting on or
after D + N; rates pooled over customers), and usage: conversations per customer and power users
(at least ``--power-threshold`` conversations). One rowset, three sections told apart by the
``section`` key column, so JSON and CSV stay tidy (a column a section has no use for is null):

- ``cohorts``: one row per ``--period`` (customers first seen in it, and its usage);
- ``total``: the whole range, pooled; ``period`` is the range's first day;
- ``weekly``: weekly cohorts x ``weeks_since`` first seen (0..:data:`WEEKS`), zeros included, as
  far as the data reaches.
"""

from __future__ import annotations

from analytics_framework.reports.spec import Column, Option, Report

SECTIONS = ("cohorts", "total", "weekly")
"""The values of the ``section`` key column, in the order rows come."""

DAYS = (1, 7, 30)
"""The N of the day-N retention columns (``d1_…``, ``d7_…``, ``d30_…``)."""

WEEKS = 12
"""The weekly section shows weeks 0..WEEKS since first seen (a quarter); the SQL holds it too."""

POWER_THRESHOLD = Option(
    "power_threshold",
    10,
    "conversations in the period (or range) that make a customer a power user",
)


def _day_columns(n: int) -> tuple[Column, ...]:
    section = f"day {n}"
    return (
        Column(
            f"d{n}_eligible",
            f"d{n} eligible",
            "count",
            section,
            f"new customers whose first day + {n} is not after the last day of the data",
        ),
        Column(
            f"d{n}_returned",
            f"d{n} returned",
            "count",
            section,
            f"eligible customers with another conversation on or after first day + {n}",
        ),
        Column(
            f"d{n}_retention_pct",
            f"d{n} retention %",
            "percent",
            section,
            f"day-{n} retention: returned / eligible x 100, pooled over the row's customers",
        ),
    )


REPORT: Report | None = Report(
    name="retention",
    sql_file="retention.sql",
    description="cohorts by first-seen day: day-1/7/30 retention (pooled), conversations per "
    "customer, power users, weekly cohorts x weeks since first seen",
    keys=("section", "period", "weeks_since"),
    by=(),
    options=(POWER_THRESHOLD,),
    example="analytics report retention --period weekly --power-threshold 5 --format csv",
    columns=(
        Column("section", "section", "text", description="cohorts, total or weekly"),
        Column(
            "period",
            "period",
            "date",
            description="first day of the cohort's period (weekly: its Monday); total: the "
            "range's first day",
        ),
        Column(
            "weeks_since",
            "weeks since",
            "count",
            description="weekly: weeks since the cohort's first-seen week (0 = that week)",
        ),
        Column(
            "new_customers",
            "new customers",
            "count",
            "cohort",
            "customers first seen in the row's period (the cohort's size)",
        ),
        *(c for n in DAYS for c in _day_columns(n)),
        Column(
            "conversations",
            "conversations",
            "count",
            "usage",
            "conversations with a customer started in the period (total: the range)",
        ),
        Column("customers", "customers", "count", "usage", "distinct customers who started them"),
        Column(
            "conversations_per_customer",
            "conv/customer",
            "ratio",
            "usage",
            "conversations / customers",
        ),
        Column(
            "power_users",
            "power users",
            "count",
            "usage",
            "customers with at least --power-threshold conversations in the period",
        ),
        Column(
            "power_users_pct",
            "power users %",
            "percent",
            "usage",
            "power users / customers x 100",
        ),
        Column(
            "active_customers",
            "active",
            "count",
            "weekly",
            "weekly: cohort customers with a conversation starting that week",
        ),
        Column(
            "active_pct",
            "active %",
            "percent",
            "weekly",
            "weekly: active customers / the cohort's size x 100",
        ),
        Column("metric_version", "metric version", "count"),
    ),
)
"""Declared here, listed in :data:`analytics_framework.reports.catalog.CATALOG`."""
