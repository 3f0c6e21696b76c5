"""The ``agents`` report: its declaration (the SQL is ``reports/sql/agents.sql``).

One row per period and agent, ranked by ``--sort`` (descending, ties by agent id), the first
``--limit`` of each period. Attribution follows DESIGN.md ("per agent"): an agent is the
``sender_id`` of human (role ``agent``) messages and *handled* the conversations they wrote in; a
conversation's FRT belongs to the agent of its first human reply, each reply's response time to
its sender; the quality columns (CSAT, predicted CSAT, resolution, FCR, sentiment, objection) are
over the conversations they handled, as ``overview`` defines them. ``--by assignment`` gives every
conversation — its replies, FRT and quality — to ``conversations.assigned_agent_id`` instead.
A null ``agent_id`` collects human messages without a sender id (or, by assignment, the
unassigned conversations), so the agents' replies add up to the overview's.

Reply rate: by assignment, DESIGN.md's — assigned conversations with at least one human reply /
assigned conversations x 100. By sender every handled conversation has a human message of the
agent, so it is the handled conversations in which the agent answered a waiting customer (a
``replies`` row of theirs) / handled x 100: an agent who only sends follow-ups scores 0.

With ``--business-hours`` the business-time FRT and response time columns
(:mod:`analytics_framework.reports.business_hours`) are added.
"""

from __future__ import annotations

from analytics_framework.reports import business_hours
from analytics_framework.reports.spec import Column, Option, Report


def _c(name: str, label: str, unit: str, section: str, description: str = "") -> Column:
    return Column(name, label, unit, section, description)


COLUMNS = (
    Column("period", "period", "date", description="first day of the period (ISO date)"),
    Column("rank", "rank", "count", description="1 = the highest --sort value; ties by agent id"),
    Column("agent_id", "agent", "text", description="the replying human (or the assignee)"),
    _c("conversations", "conversations", "count", "volume", "conversations handled"),
    _c("messages", "messages", "count", "volume", "human messages they sent"),
    _c("replies", "replies", "count", "volume", "their replies that answered a customer"),
    _c("reply_rate_pct", "reply rate %", "percent", "volume", "see the report's description"),
    _c("frt_mean_s", "FRT avg", "seconds", "speed", "FRT of conversations they answered first"),
    _c("frt_median_s", "FRT p50", "seconds", "speed"),
    _c("frt_p90_s", "FRT p90", "seconds", "speed"),
    _c("response_mean_s", "resp avg", "seconds", "speed", "response time of their replies"),
    _c("response_median_s", "resp p50", "seconds", "speed"),
    _c("response_p90_s", "resp p90", "seconds", "speed"),
    *business_hours.columns(),  # only with --business-hours
    _c("csat_pct", "CSAT %", "percent", "quality", "surveyed ratings 4-5 / all surveyed"),
    _c("predicted_csat_pct", "pred. CSAT %", "percent", "quality"),
    _c("resolution_pct", "resolved %", "percent", "quality"),
    _c("fcr_pct", "FCR %", "percent", "quality", "first-contact resolution"),
    _c("sentiment_mean", "sentiment", "ratio", "quality", "mean, -1..1"),
    _c("top_objection", "top objection", "text", "quality", "most frequent; ties by name"),
    Column("metric_version", "metric version", "count"),
)

SORTS = tuple(
    c.name for c in COLUMNS if c.section and c.unit in ("count", "seconds", "percent", "ratio")
)
"""What ``--sort`` ranks by: every numeric column (business-time ones need --business-hours)."""

SORT = Option("sort", "conversations", "the column agents are ranked by (descending)", SORTS)
LIMIT = Option("limit", 20, "agents shown per period (the top N)")

REPORT: Report | None = Report(
    name="agents",
    sql_file="agents.sql",
    description="per agent: conversations, replies, reply rate, FRT and response time (p50, "
    "p90), CSAT, predicted CSAT, resolution, FCR, sentiment, top objection",
    keys=("period", "rank", "agent_id"),
    lookahead_days=9,  # FCR looks 7 days past a conversation's start, plus zone slack
    by=("assignment",),
    options=(SORT, LIMIT, *business_hours.OPTIONS),
    example="analytics report agents --period monthly --sort replies --limit 10",
    columns=COLUMNS,
)
"""Declared here, listed in :data:`analytics_framework.reports.catalog.CATALOG`."""
