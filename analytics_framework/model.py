"""The canonical tables (DESIGN.md, "Canonical tables") as polars schemas, and shared constants.

All timestamps are ``Datetime("us", "UTC")``; durations are float64 seconds; ids are strings
prefixed with their source (``twcs:…``) so that sources never collide.
"""

from __future__ import annotations

import hashlib

import polars as pl

METRIC_VERSION = 1
"""Version of the metric definitions in DESIGN.md; written into every report and export."""

ROLES = ("customer", "agent", "bot", "system")
"""Message roles. Only ``agent`` (a human) counts as a reply."""

ROLE_ORDER = {"customer": 0, "bot": 1, "system": 2, "agent": 3}
"""Tie-break at equal ``sent_at``: a question sorts before a reply sent in the same instant."""

TS = pl.Datetime("us", "UTC")

MESSAGE_SCHEMA: dict[str, pl.DataType] = {
    "message_id": pl.String(),
    "conversation_id": pl.String(),
    "source": pl.String(),
    "org_id": pl.String(),
    "sent_at": TS,
    "role": pl.String(),
    "sender_id": pl.String(),
    "text": pl.String(),
    "attributes": pl.String(),
}

CONVERSATION_SCHEMA: dict[str, pl.DataType] = {
    "conversation_id": pl.String(),
    "source": pl.String(),
    "org_id": pl.String(),
    "customer_id": pl.String(),
    "agent_ids": pl.List(pl.String()),
    "agent_message_counts": pl.List(pl.Int64()),
    "agent_reply_counts": pl.List(pl.Int64()),
    "started_at": TS,
    "ended_at": TS,
    "message_count": pl.Int64(),
    "customer_messages": pl.Int64(),
    "agent_messages": pl.Int64(),
    "bot_messages": pl.Int64(),
    "first_response_s": pl.Float64(),
    "avg_response_s": pl.Float64(),
    "response_count": pl.Int64(),
    "response_times_s": pl.List(pl.Float64()),
    "resolution_s": pl.Float64(),
    "status": pl.String(),
    "csat_rating": pl.Int64(),
    "attributes": pl.String(),
    "assigned_agent_id": pl.String(),
    "stage": pl.String(),
    "first_bot_at": TS,
    "last_agent_at": TS,
    "customer_quarters": pl.List(pl.Int32()),
    "customer_quarter_messages": pl.List(pl.Int64()),
    "agent_quarters": pl.List(pl.Int32()),
    "agent_quarter_messages": pl.List(pl.Int64()),
}
"""``response_times_s`` holds every reply's response time so reports can give median / p90 over
replies (DESIGN.md: "a report's average is over replies"). ``assigned_agent_id`` is who the lead
is assigned to (Mochi's setter, NocoDB's column), which is not always who wrote; ``stage`` the
lead's current stage (Mochi).

``agent_message_counts`` / ``agent_reply_counts``: for each agent of ``agent_ids`` (same order),
the human messages they sent in the conversation and how many of them were replies that
answered a waiting customer (``replies`` rows); human messages without a sender id are in
neither (``agent_messages`` and ``response_count`` minus the sums). The agents report reads
them instead of grouping every message; it refuses rows written before they existed (re-collect
with ``--full-refresh``).

``first_bot_at`` / ``last_agent_at``: the conversation's first bot message and last human reply
(role ``agent``), null when it has none; the engagement report's handoff (a human reply at or
after the first bot message) reads them instead of scanning every message. Rows written before
they existed read null there, and the report falls back to the messages for those.

``customer_quarters`` / ``agent_quarters``: the UTC quarter-hours (epoch seconds // 900) in
which the customer, or a human, wrote, ascending; ``*_quarter_messages`` how many messages in
each (``transform.conversations.quarter_hours``). The activity report sums them instead of
reading every message; rows written before they existed make it read the messages."""

REPLY_SCHEMA: dict[str, pl.DataType] = {
    "conversation_id": pl.String(),
    "source": pl.String(),
    "org_id": pl.String(),
    "agent_id": pl.String(),
    "waiting_since": TS,
    "replied_at": TS,
    "response_s": pl.Float64(),
    "is_first": pl.Boolean(),
    "conversation_started_at": TS,
    "assigned_agent_id": pl.String(),
}
"""``replies``: one row per human reply that answered waiting customer messages (the response
times of ``conversations.response_times_s``, with who replied and when); ``is_first`` marks the
reply that gave the conversation its first response time. ``org_id``,
``conversation_started_at`` and ``assigned_agent_id`` are its conversation's (``org_id``,
``started_at``, ``assigned_agent_id``), so that reports put a reply in its period and filter it
without joining the conversations. Partitioned like its conversation."""

SCRIPT_SCHEMA: dict[str, pl.DataType] = {
    "message_id": pl.String(),
    "conversation_id": pl.String(),
    "org_id": pl.String(),
    "sender_id": pl.String(),
    "sent_at": TS,
    "position": pl.String(),
    "script_id": pl.String(),
    "script_name": pl.String(),
    "script_text": pl.String(),
    "reply_s": pl.Float64(),
    "stage_after": pl.Boolean(),
    "build_id": pl.String(),
    "similarity": pl.Float64(),
    "scorer": pl.String(),
    "named_by": pl.String(),
    "built_at": TS,
}
"""``scripts`` (DESIGN.md "scripts"): one row per setter (role ``agent``) message of the last
build (:mod:`analytics_framework.insights.scripts`), partitioned like its conversation: its
script (id, name, representative normalised text), its ``position`` (``opener``, ``follow-up``,
``later``), ``reply_s`` (seconds to the lead's next message; NULL: none), ``stage_after``
(the lead's stage changed after it; NULL without stage data), and the build's parameters."""

PERSONA_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "org_id": pl.String(),
    "persona_id": pl.Int64(),
    "persona_name": pl.String(),
    "persona_description": pl.String(),
    "persona_terms": pl.String(),
    "distance": pl.Float64(),
    "quote": pl.String(),
    "messages": pl.Int64(),
    "k": pl.Int64(),
    "silhouette": pl.Float64(),
    "method": pl.String(),
    "model": pl.String(),
    "device": pl.String(),
    "random_state": pl.Int64(),
    "named_by": pl.String(),
    "range_start": TS,
    "range_end": TS,
    "range_org": pl.String(),
    "build_id": pl.String(),
    "built_at": TS,
}
"""``personas`` (DESIGN.md "personas"): one row per customer of the last build
(:mod:`analytics_framework.insights.personas`), partitioned by their first conversation in the
build's range: their persona (1..k by size, name, description, distinctive terms), ``distance``
(Euclidean, from their unit vector to the persona's centre), ``quote`` (their longest message),
``messages`` (theirs in the range) and the build's parameters (``k``, ``silhouette``, ``method``
tfidf-svd or embeddings, ``model``, ``device`` cpu or cuda, ``random_state``, ``named_by``: the
provider and model that named the persona, or ``local``; ``range_start``/``range_end``: the UTC
instants of the build's range, NULL when open; ``range_org``)."""

TRANSLATION_SCHEMA: dict[str, pl.DataType] = {
    "conversation_id": pl.String(),
    "message_id": pl.String(),
    "language": pl.String(),
    "conversation_language": pl.String(),
    "text_en": pl.String(),
    "status": pl.String(),
    "error": pl.String(),
    "provider": pl.String(),
    "model": pl.String(),
    "detector": pl.String(),
    "translated_at": TS,
}
"""``translations`` (DESIGN.md "translations"): one row per message of the conversations
:mod:`analytics_framework.insights.translations` processed, partitioned like its conversation.
``language`` is the message's detected ISO 639-1 code (NULL: too short or undetectable),
``conversation_language`` the conversation's (the language of most of its customer's letters).
``status``: ``translated`` (``text_en`` from ``provider``/``model`` at ``translated_at``),
``english`` or ``undetected`` (nothing to translate; ``text_en`` NULL), ``pending`` (not English,
no LLM provider was used), ``failed`` (the provider failed; ``error`` says why; an earlier
translation, if any, is kept). ``detector`` names the language detector and its mode."""

STAGE_CHANGE_SCHEMA: dict[str, pl.DataType] = {
    "conversation_id": pl.String(),
    "source": pl.String(),
    "org_id": pl.String(),
    "stage": pl.String(),
    "previous_stage": pl.String(),
    "changed_at": TS,
    "changed_by": pl.String(),
}
"""``stage_changes`` (DESIGN.md): one row per stage change of a lead, partitioned like its
conversation (by the conversation's start day)."""


LABEL_SCHEMA: dict[str, pl.DataType] = {
    "conversation_id": pl.String(),
    "topic": pl.String(),
    "intent": pl.String(),
    "sentiment": pl.Float64(),
    "sentiment_label": pl.String(),
    "satisfaction": pl.Int64(),
    "resolved": pl.Boolean(),
    "objection": pl.String(),
    "objection_quote": pl.String(),
    "confidence": pl.Float64(),
    "provider": pl.String(),
    "model": pl.String(),
    "prompt_version": pl.String(),
    "input_hash": pl.String(),
    "input_tokens": pl.Int64(),
    "output_tokens": pl.Int64(),
    "labeled_at": pl.Datetime("us", "UTC"),
    "status": pl.String(),
    "error": pl.String(),
    "message_count": pl.Int64(),
    "config_hash": pl.String(),
}
"""``labels`` (DESIGN.md, plus ``status``/``error``/``message_count``/``config_hash``): one row
per conversation, written by the enrich stage (:mod:`analytics_framework.enrich.stage`).
``confidence`` (0-1) is how sure the labeler is of topic and intent; null in rows written
before prompt version v2. ``objection_quote`` is the customer message that raised ``objection``
(null without one; null in rows written before prompt version v3)."""


RESOLVED_STATUSES = ("resolved", "closed", "solved", "done")
"""Source ``status`` values that mark a conversation resolved (for ``resolution_s``)."""


def stable_message_id(
    prefix: str, conversation_id: str, sent_at_us: int | None, sender_id: str | None, text: str
) -> str:
    """Return a message id for a source that has none.

    A BLAKE2b digest (8 bytes, hex) of (conversation_id, sent_at in microseconds, sender_id,
    text), as DESIGN.md requires ("else a stable hash"), so that re-reading the same input always
    yields the same id, across runs, machines and library versions.

    Args:
        prefix: the source prefix, e.g. ``"facebook:"``.
        conversation_id: the conversation's canonical id.
        sent_at_us: ``sent_at`` as microseconds since the epoch (UTC), or None.
        sender_id: the sender, or None.
        text: the message text.
    """
    key = "\x1f".join((conversation_id, str(sent_at_us), sender_id or "", text or ""))
    return prefix + hashlib.blake2b(key.encode("utf-8"), digest_size=8).hexdigest()


def stable_message_id_expr(prefix: str) -> pl.Expr:
    """Polars expression applying :func:`stable_message_id` to the canonical columns."""
    return pl.struct(
        "conversation_id", pl.col("sent_at").dt.epoch("us").alias("us"), "sender_id", "text"
    ).map_elements(
        lambda r: stable_message_id(
            prefix, r["conversation_id"] or "", r["us"], r["sender_id"], r["text"]
        ),
        return_dtype=pl.String,
    )
