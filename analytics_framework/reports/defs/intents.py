"""The ``intents`` report: its declaration (the SQL is ``reports/sql/intents.sql``).

Per period (and org) and labeled intent: how many conversations, how many ended resolved
(``success_pct``; resolved = the source status says so, else the labeler's verdict, as in
``overview``) or not (``failure_pct``), how sure the labeler was (mean ``labels.confidence``),
the median response time over the human replies in those conversations, and the intent's three
most frequent topics. Needs labels: without them the report says to run ``analytics enrich``.
"""

from __future__ import annotations

from analytics_framework.reports.spec import Column, Report

REPORT: Report | None = Report(
    name="intents",
    sql_file="intents.sql",
    description="per labeled intent: conversations, success and failure rate, mean label "
    "confidence, median response time, top topics",
    keys=("period", "org_id", "intent"),
    requires=("labels",),
    example="analytics report intents --period monthly --by org",
    columns=(
        Column("period", "period", "date", description="first day of the period (ISO date)"),
        Column("org_id", "org", "text", description="organisation, brand, page or app"),
        Column("intent", "intent", "text", description="labels.intent"),
        Column("conversations", "conversations", "count", "volume", "labeled with this intent"),
        Column(
            "success_pct",
            "success %",
            "percent",
            "outcome",
            "resolved (source status, else label) / resolution known",
        ),
        Column("failure_pct", "failure %", "percent", "outcome", "not resolved / resolution known"),
        Column(
            "confidence_mean",
            "confidence",
            "ratio",
            "outcome",
            "mean labels.confidence, 0..1 (labels that carry one)",
        ),
        Column("replies", "replies", "count", "speed", "human replies that answered a customer"),
        Column(
            "response_median_s", "resp p50", "seconds", "speed", "median response time of replies"
        ),
        Column(
            "top_topics", "top topics", "text", "topics", "3 most frequent topics, ties by name"
        ),
        Column("metric_version", "metric version", "count"),
    ),
)
"""Per intent: volume, outcome, label confidence, speed and topics."""
