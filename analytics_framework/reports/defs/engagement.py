"""The ``engagement`` report: its declaration (the SQL is ``reports/sql/engagement.sql``).

Per period (and org), by conversation start: how much the bot carries (containment, its share of
messages, handoffs to a human), how many conversations are leads and how many of those convert,
and how long and how busy sessions are. The definitions are in the SQL file's header and the
README; DESIGN.md's bot containment and handoff are followed to the letter.
"""

from __future__ import annotations

from analytics_framework.reports.spec import Column, Option, Report

LEAD_INTENTS = ("purchase", "sales")
"""``labels.intent`` values that make a conversation a lead (the SQL spells them out too)."""

WON_STAGES = ("won", "closed won")
"""Stages (any case) that make a lead converted (the SQL spells them out too)."""

COMPARE = Option(
    "compare",
    None,
    "previous: add each metric's previous-period value and its change",
    choices=(None, "previous"),
)
"""``--compare previous``, as overview's (catalog.COMPARE; not imported: catalog imports us)."""

REPORT: Report | None = Report(
    name="engagement",
    sql_file="engagement.sql",
    description="bot containment, bot message share, handoff rate, leads and lead conversion, "
    "session duration, messages per conversation",
    keys=("period", "org_id"),
    lookahead_days=1,  # {days_ahead} is then {days}'s window: it prunes messages, stage_changes
    options=(COMPARE,),
    example="analytics report engagement --period weekly --by org",
    columns=(
        Column("period", "period", "date", description="first day of the period (ISO date)"),
        Column("org_id", "org", "text", description="organisation, brand, page or app"),
        Column("conversations", "conversations", "count", "bot"),
        Column("bot_conversations", "with bot", "count", "bot", "a bot message at least"),
        Column("contained", "contained", "count", "bot", "bot, resolved, no human reply"),
        Column(
            "bot_containment_pct",
            "containment %",
            "percent",
            "bot",
            "contained / conversations with a bot message",
        ),
        Column("handoffs", "handoffs", "count", "bot", "a human reply after a bot message"),
        Column("handoff_pct", "handoff %", "percent", "bot", "handoffs / conversations with a bot"),
        Column(
            "bot_message_share_pct", "bot msg %", "percent", "bot", "bot messages / all messages"
        ),
        Column("leads", "leads", "count", "leads", "stage, sales intent or objection"),
        Column("converted_leads", "converted", "count", "leads", "won stage, else resolved"),
        Column("lead_conversion_pct", "conversion %", "percent", "leads", "converted / leads"),
        Column("session_median_s", "session p50", "seconds", "sessions", "last - first message"),
        Column("session_p90_s", "session p90", "seconds", "sessions"),
        Column(
            "messages_per_conversation",
            "msgs / conv",
            "ratio",
            "sessions",
            "mean messages per conversation",
        ),
        Column("metric_version", "metric version", "count"),
    ),
)
"""Per period: bot containment and handoffs, leads and conversion, session length."""
