"""The ``scripts`` report: its declaration (the SQL is ``reports/sql/scripts.sql``).

Which scripts setters send and how leads answer them, from the lake's ``scripts`` table (the
last ``analytics scripts`` build: :mod:`analytics_framework.insights.scripts`): per script, its
name and text, where it is sent (opener, follow-up, later), how many times and by how many
setters, the share the lead answered within 24 hours, the median time to that answer, and the
conversion to a later stage where stage data exists. ``analytics scripts`` builds the table and
prints this report; ``analytics report scripts`` reads the last build.
"""

from __future__ import annotations

from analytics_framework.reports.spec import Column, Option, Report

SORTS = ("uses", "reply_rate_pct")
"""What ``--sort`` ranks by."""

REPORT: Report | None = Report(
    name="scripts",
    sql_file="scripts.sql",
    description="setters' scripts (fuzzy clusters of their messages): uses, setters, reply "
    "rate within 24 h, median time to reply, conversion (needs analytics scripts)",
    keys=("period", "rank", "script_id"),
    requires=("scripts",),
    by=(),
    options=(
        Option("sort", "uses", "what scripts are ranked by", choices=SORTS),
        Option("limit", 20, "scripts shown (the top N)"),
    ),
    example="analytics report scripts --sort reply_rate_pct --limit 10",
    columns=(
        Column("period", "from", "date", description="first day of the range"),
        Column("rank", "rank", "count", description="by --sort"),
        Column("script_id", "script", "text", description="stable id of the script"),
        Column("name", "name", "text", "script", "its most distinctive words"),
        Column("text", "text", "text", "script", "its most frequent normalised text"),
        Column("position", "position", "text", "script", "opener, follow-up or later (most)"),
        Column("uses", "uses", "count", "use", "messages of the script"),
        Column("setters", "setters", "count", "use", "distinct senders"),
        Column("conversations", "conversations", "count", "use", "conversations with one"),
        Column("reply_rate_pct", "reply 24h %", "percent", "response", "lead answered within 24 h"),
        Column("reply_median_s", "reply p50", "seconds", "response", "median time to the answer"),
        Column("with_stage", "with stage", "count", "conversion", "messages with stage data"),
        Column("conversion_pct", "conversion %", "percent", "conversion", "stage changed after it"),
        Column("metric_version", "metric version", "count"),
    ),
)
"""Per script: use, the lead's response and conversion."""
