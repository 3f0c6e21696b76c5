"""The ``objections`` report: its declaration (the SQL is ``reports/sql/objections.sql``).

Why leads say no: per period (and org, or setter) and objection class (``labels.objection``, the
taxonomy's seven default classes or the configured ones), how many labeled conversations raised
it, its share of the objections and its rate among all labeled conversations, the customer's
own words (``labels.objection_quote`` of the latest one), and what happened next: resolved, the
won rate and the most common current stage (Mochi). Needs labels: without them the report says
to run ``analytics enrich``. ``analytics objections`` runs it.
"""

from __future__ import annotations

from analytics_framework.reports.spec import Column, Report

REPORT: Report | None = Report(
    name="objections",
    sql_file="objections.sql",
    description="per sales-objection class: conversations, share, rate, resolved and won "
    "rate, top stage, the customer's words",
    keys=("period", "org_id", "setter", "objection"),
    requires=("labels",),
    by=("org", "setter"),
    example="analytics report objections --period monthly --by setter",
    columns=(
        Column("period", "period", "date", description="first day of the period (ISO date)"),
        Column("org_id", "org", "text", description="organisation, brand, page or app"),
        Column(
            "setter",
            "setter",
            "text",
            description="assigned agent, else the human who sent most human messages",
        ),
        Column("objection", "objection", "text", description="labels.objection"),
        Column("labeled", "labeled", "count", "volume", "labeled conversations of the group"),
        Column("conversations", "conversations", "count", "volume", "labeled with this objection"),
        Column(
            "share_pct", "share %", "percent", "volume", "of the group's conversations with one"
        ),
        Column("rate_pct", "rate %", "percent", "volume", "of the group's labeled conversations"),
        Column(
            "resolved_pct",
            "resolved %",
            "percent",
            "next",
            "resolved (source status, else label) / resolution known",
        ),
        Column("with_stage", "with stage", "count", "next", "those with a current stage"),
        Column("won_pct", "won %", "percent", "next", "current stage won / closed won"),
        Column("top_stage", "top stage", "text", "next", "most frequent current stage"),
        Column("quote", "quote", "text", "words", "labels.objection_quote of the latest one"),
        Column("metric_version", "metric version", "count"),
    ),
)
"""Per objection class: volume, the customer's words and what happened next."""
