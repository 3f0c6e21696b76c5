"""The report catalogue: one declaration per report (its SQL file, columns, options).

Adding a report is one SQL file in ``reports/sql/`` and one :class:`~.spec.Report` here, listed
in :data:`CATALOG`; the CLI's ``report NAME`` choices, the renderers and the docs read it.
"""

from __future__ import annotations

from analytics_framework.reports import business_hours
from analytics_framework.reports.spec import Column, Option, Report

COMPARE = Option(
    "compare",
    None,
    "previous: add each metric's previous-period value and its change",
    choices=(None, "previous"),
)

PERIOD = Column("period", "period", "date", description="first day of the period (ISO date)")
ORG = Column("org_id", "org", "text", description="organisation, brand, page or app")
VERSION = Column("metric_version", "metric version", "count")


def _c(name: str, label: str, unit: str, section: str, description: str = "") -> Column:
    return Column(name, label, unit, section, description)


OVERVIEW = Report(
    name="overview",
    sql_file="overview.sql",
    description="volume, unanswered, reply rate, FRT, response and resolution time, CSAT, "
    "predicted CSAT, resolution, FCR, sentiment",
    keys=("period", "org_id"),
    lookahead_days=9,  # FCR looks 7 days past a conversation's start, plus zone slack
    options=(COMPARE, *business_hours.OPTIONS),
    example="analytics report overview --period weekly --by org --format csv --output weekly.csv",
    columns=(
        PERIOD,
        ORG,
        _c("conversations", "conversations", "count", "volume"),
        _c("messages", "messages", "count", "volume"),
        _c("customers", "customers", "count", "volume", "distinct customers"),
        _c("unanswered", "unanswered", "count", "volume", "customer wrote, no human reply"),
        _c("answered", "answered", "count", "volume"),
        _c("reply_rate_pct", "reply rate %", "percent", "volume", "answered / conversations"),
        _c("frt_mean_s", "FRT avg", "seconds", "speed", "first response time, mean"),
        _c("frt_median_s", "FRT p50", "seconds", "speed"),
        _c("frt_p90_s", "FRT p90", "seconds", "speed"),
        _c("replies", "replies", "count", "speed", "human replies that answered a customer"),
        _c("response_mean_s", "resp avg", "seconds", "speed", "response time over replies"),
        _c("response_median_s", "resp p50", "seconds", "speed"),
        _c("response_p90_s", "resp p90", "seconds", "speed"),
        *business_hours.columns(),  # only with --business-hours
        _c("resolution_median_s", "resolution p50", "seconds", "speed", "resolved conversations"),
        _c("resolution_p90_s", "resolution p90", "seconds", "speed"),
        _c("csat_pct", "CSAT %", "percent", "quality", "surveyed ratings 4-5 / all surveyed"),
        _c("labeled", "labeled", "count", "quality"),
        _c("predicted_csat_pct", "pred. CSAT %", "percent", "quality"),
        _c("resolution_pct", "resolved %", "percent", "quality"),
        _c("fcr_pct", "FCR %", "percent", "quality", "first-contact resolution"),
        _c("sentiment_mean", "sentiment", "ratio", "sentiment", "mean, -1..1"),
        _c("positive_pct", "pos %", "percent", "sentiment"),
        _c("neutral_pct", "neu %", "percent", "sentiment"),
        _c("negative_pct", "neg %", "percent", "sentiment"),
        VERSION,
    ),
)

TOPICS = Report(
    name="topics",
    sql_file="topics.sql",
    description="top topics, intents and objections with counts and shares",
    keys=("period", "org_id", "dimension", "rank", "value"),
    example="analytics report topics --period monthly",
    requires=("labels",),
    columns=(
        PERIOD,
        ORG,
        Column("dimension", "dimension", "text", description="topic, intent or objection"),
        Column("rank", "rank", "count"),
        Column("value", "value", "text"),
        _c("conversations", "conversations", "count", "top values"),
        _c("share_pct", "share %", "percent", "top values", "of the period's labeled"),
        VERSION,
    ),
)


def _catalog() -> tuple[Report, ...]:
    from analytics_framework.reports.defs import (
        activity,
        agents,
        engagement,
        funnel,
        intents,
        languages,
        leaderboard,
        objections,
        personas,
        retention,
        scripts,
    )

    more = (
        agents,
        activity,
        retention,
        funnel,
        leaderboard,
        intents,
        engagement,
        objections,
        scripts,
        personas,
        languages,
    )
    return (OVERVIEW, TOPICS, *(m.REPORT for m in more if m.REPORT is not None))


CATALOG: tuple[Report, ...] = _catalog()
"""Every report, in the order ``--help`` lists them (``reports/defs/`` holds one module each)."""
