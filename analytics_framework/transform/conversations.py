"""Per-conversation metrics (DESIGN.md, "Metric definitions (version 1)"), in polars.

Input: canonical ``messages`` rows of *complete* conversations (a batch never splits one).
Output: one ``conversations`` row per conversation, with :data:`~analytics_framework.model.
CONVERSATION_SCHEMA`.

How replies are found: messages are ordered by (sent_at, role order, message_id), the role
order putting a customer message before an agent reply sent in the same instant. Each message
gets ``segment`` = the number of human (``agent``) messages strictly before it. The customer
messages of segment *s* are those after the *s*-th human reply; the first of them is
``waiting_since``. The human message whose segment is *s* is the first reply after them, so it
answers them, with response time ``sent_at − waiting_since``. A human message whose segment has
no customer message (a second reply in a row, or an agent opening the conversation) answers
nobody. Bot and system messages are neither replies nor questions: they never reset the wait.

- ``first_response_s``: the first such response time, which is the first human reply after the
  conversation's first customer message minus that message. Null when there is none: the
  conversation is *unanswered* if it has customer messages.
- ``avg_response_s``: mean of ``response_times_s``; ``response_count``: their number.
- ``resolution_s``: ``ended_at − started_at`` when the source status marks it resolved
  (:data:`~analytics_framework.model.RESOLVED_STATUSES`), else null.
- ``agent_message_counts`` / ``agent_reply_counts``: per agent of ``agent_ids`` (same order), the
  human messages they sent and how many of those answered a waiting customer.
- ``first_bot_at`` / ``last_agent_at``: the first bot message's and the last human reply's
  ``sent_at``, null when there is none (the engagement report's handoff).
- ``customer_quarters`` / ``customer_quarter_messages`` (and ``agent_…`` for role ``agent``):
  the UTC quarter-hours (``epoch seconds // 900``) in which the role sent messages, ascending,
  and how many in each (the activity report's rollup, :func:`quarter_hours`).
"""

from __future__ import annotations

import polars as pl

from analytics_framework.model import (
    CONVERSATION_SCHEMA,
    MESSAGE_SCHEMA,
    REPLY_SCHEMA,
    RESOLVED_STATUSES,
    ROLE_ORDER,
)

CONVERSATION_LEVEL_COLUMNS = (
    "conversation_status",
    "csat_rating",
    "conversation_attributes",
    "conversation_customer_id",
    "assigned_agent_id",
    "stage",
)
"""Optional columns a source may add to message rows to carry conversation-level facts; the
last non-null value in a conversation wins. They are not part of the ``messages`` table.
``conversation_customer_id`` (the source's own customer of record) replaces the customer id
derived from the senders."""


def order_messages(messages: pl.DataFrame) -> pl.DataFrame:
    """Sort messages by conversation, then time, role order (questions first) and id."""
    return (
        messages.with_columns(
            _role_rank=pl.col("role").replace_strict(ROLE_ORDER, default=9, return_dtype=pl.Int8)
        )
        .sort("conversation_id", "sent_at", "_role_rank", "message_id")
        .drop("_role_rank")
    )


def reply_times(messages: pl.DataFrame) -> pl.DataFrame:
    """Return one row per human reply that answered waiting customer messages.

    Args:
        messages: canonical messages of complete conversations, any order.

    Returns:
        Columns ``conversation_id``, ``agent_id`` (who replied), ``replied_at``,
        ``waiting_since``, ``response_s`` (float seconds), sorted by conversation and reply time.
    """
    cols = ["conversation_id", "sent_at", "role", "message_id", "sender_id"]
    m = order_messages(messages.select([c for c in cols if c in messages.columns]))
    is_agent = (pl.col("role") == "agent").cast(pl.Int32)
    m = m.with_columns(segment=is_agent.cum_sum().over("conversation_id") - is_agent)
    waiting = (
        m.filter(pl.col("role") == "customer")
        .group_by("conversation_id", "segment")
        .agg(waiting_since=pl.col("sent_at").min())
    )
    return (
        m.filter(pl.col("role") == "agent")
        .join(waiting, on=["conversation_id", "segment"], how="inner")
        .select(
            "conversation_id",
            agent_id=pl.col("sender_id") if "sender_id" in m.columns else pl.lit(None, pl.String),
            replied_at=pl.col("sent_at"),
            waiting_since=pl.col("waiting_since"),
            response_s=(pl.col("sent_at") - pl.col("waiting_since")).dt.total_microseconds()
            / 1_000_000,
        )
        .sort("conversation_id", "replied_at")
    )


def build_conversations(messages: pl.DataFrame) -> pl.DataFrame:
    """Derive the ``conversations`` table from complete conversations' messages.

    Args:
        messages: canonical ``messages`` rows, optionally with the
            :data:`CONVERSATION_LEVEL_COLUMNS`; every conversation complete.

    Returns:
        One row per conversation with :data:`~analytics_framework.model.CONVERSATION_SCHEMA`,
        sorted by ``started_at`` then ``conversation_id``. Durations are seconds.
    """
    extra = {c: pl.col(c).drop_nulls().last() for c in CONVERSATION_LEVEL_COLUMNS if c in messages}
    role = pl.col("role")
    base = messages.group_by("conversation_id").agg(
        source=pl.col("source").first(),
        org_id=pl.col("org_id").drop_nulls().first(),
        customer_id=pl.col("sender_id").filter(role == "customer").drop_nulls().first(),
        agent_ids=pl.col("sender_id").filter(role == "agent").drop_nulls().unique().sort(),
        started_at=pl.col("sent_at").min(),
        ended_at=pl.col("sent_at").max(),
        message_count=pl.len().cast(pl.Int64),
        customer_messages=(role == "customer").sum().cast(pl.Int64),
        agent_messages=(role == "agent").sum().cast(pl.Int64),
        bot_messages=(role == "bot").sum().cast(pl.Int64),
        first_bot_at=pl.col("sent_at").filter(role == "bot").min(),
        last_agent_at=pl.col("sent_at").filter(role == "agent").max(),
        **extra,
    )
    answered = reply_times(messages)
    replies = answered.group_by("conversation_id", maintain_order=True).agg(
        response_times_s=pl.col("response_s")
    )
    per_agent = (
        messages.filter((role == "agent") & pl.col("sender_id").is_not_null())
        .group_by("conversation_id", "sender_id")
        .agg(sent=pl.len().cast(pl.Int64))
        .join(
            answered.filter(pl.col("agent_id").is_not_null())
            .group_by("conversation_id", "agent_id")
            .agg(replied=pl.len().cast(pl.Int64)),
            left_on=["conversation_id", "sender_id"],
            right_on=["conversation_id", "agent_id"],
            how="left",
        )
        .sort("conversation_id", "sender_id")
        .group_by("conversation_id", maintain_order=True)
        .agg(agent_message_counts="sent", agent_reply_counts=pl.col("replied").fill_null(0))
    )
    status = (
        pl.col("conversation_status") if "conversation_status" in extra else pl.lit(None)
    ).cast(pl.String)
    times = pl.col("response_times_s")
    out = base.join(replies, on="conversation_id", how="left").with_columns(
        response_times_s=times.fill_null(pl.lit([], dtype=pl.List(pl.Float64))),
        first_response_s=times.list.first(),
        avg_response_s=times.list.mean(),
        response_count=times.list.len().fill_null(0).cast(pl.Int64),
        status=status,
        resolution_s=pl.when(status.str.to_lowercase().is_in(list(RESOLVED_STATUSES))).then(
            (pl.col("ended_at") - pl.col("started_at")).dt.total_microseconds() / 1_000_000
        ),
        csat_rating=(pl.col("csat_rating") if "csat_rating" in extra else pl.lit(None)),
        attributes=(
            pl.col("conversation_attributes")
            if "conversation_attributes" in extra
            else pl.lit(None)
        ),
        customer_id=(
            pl.coalesce(pl.col("conversation_customer_id"), pl.col("customer_id"))
            if "conversation_customer_id" in extra
            else pl.col("customer_id")
        ),
        assigned_agent_id=pl.col("assigned_agent_id")
        if "assigned_agent_id" in extra
        else pl.lit(None),
        stage=pl.col("stage") if "stage" in extra else pl.lit(None),
    )
    none = pl.lit([], dtype=pl.List(pl.Int64))
    out = out.join(per_agent, on="conversation_id", how="left").with_columns(
        agent_message_counts=pl.col("agent_message_counts").fill_null(none),
        agent_reply_counts=pl.col("agent_reply_counts").fill_null(none),
    )
    out = out.join(quarter_hours(messages), on="conversation_id", how="left").with_columns(
        [pl.col(c).fill_null(pl.lit([], dtype=CONVERSATION_SCHEMA[c])) for c in QUARTER_COLUMNS]
    )
    return out.select([pl.col(c).cast(t) for c, t in CONVERSATION_SCHEMA.items()]).sort(
        "started_at", "conversation_id"
    )


QUARTER_S = 900
"""The rollup's bucket, 15 minutes: every time zone in use today is offset from UTC by a whole
number of quarter-hours and changes offset on one, so a UTC quarter-hour lies in one local hour
and one local day of any of them (the activity report falls back to the messages otherwise)."""

QUARTER_COLUMNS = (
    "customer_quarters",
    "customer_quarter_messages",
    "agent_quarters",
    "agent_quarter_messages",
)
"""The conversations columns :func:`quarter_hours` fills."""


def quarter_hours(messages: pl.DataFrame) -> pl.DataFrame:
    """Return, per conversation, when its customer and its humans wrote, by UTC quarter-hour.

    Args:
        messages: canonical ``messages`` rows.

    Returns:
        ``conversation_id`` and :data:`QUARTER_COLUMNS`: ``<role>_quarters`` the distinct
        ``epoch seconds // 900`` of that role's messages (Int32, ascending) and
        ``<role>_quarter_messages`` how many it sent in each (Int64, parallel). Conversations
        without such messages are absent. Bot and system messages are in neither.
    """
    per = (
        messages.filter(pl.col("role").is_in(["customer", "agent"]))
        .group_by(
            "conversation_id",
            "role",
            q=(pl.col("sent_at").dt.epoch("s") // QUARTER_S).cast(pl.Int32),
        )
        .agg(n=pl.len().cast(pl.Int64))
        .sort("conversation_id", "role", "q")
    )
    lists = []
    for role in ("customer", "agent"):
        lists.append(
            per.filter(pl.col("role") == role)
            .group_by("conversation_id", maintain_order=True)
            .agg(
                pl.col("q").alias(f"{role}_quarters"), pl.col("n").alias(f"{role}_quarter_messages")
            )
        )
    return lists[0].join(lists[1], on="conversation_id", how="full", coalesce=True)


def build_replies(messages: pl.DataFrame, conversations: pl.DataFrame) -> pl.DataFrame:
    """Derive the ``replies`` table: one row per human reply that answered waiting customers.

    A reply's response time belongs to the agent who sent it, and a conversation's first
    response time to the agent of its first such reply (DESIGN.md, "per agent"), so reports
    attribute speed per agent, and compute business-hours variants, from these rows.

    Args:
        messages: canonical messages (:data:`~analytics_framework.model.MESSAGE_SCHEMA`).
        conversations: their conversations (:func:`build_conversations`): each reply carries
            its conversation's ``org_id``, ``started_at`` (as ``conversation_started_at``) and
            ``assigned_agent_id``.

    Returns:
        :data:`~analytics_framework.model.REPLY_SCHEMA` rows, sorted by conversation and time.
    """
    r = reply_times(messages)
    facts = conversations.select(
        "conversation_id",
        "source",
        "org_id",
        "assigned_agent_id",
        pl.col("started_at").alias("conversation_started_at"),
    )
    r = r.with_columns(
        is_first=pl.col("replied_at").rank("ordinal").over("conversation_id") == 1
    ).join(facts, on="conversation_id", how="left")
    return r.select([pl.col(c).cast(t) for c, t in REPLY_SCHEMA.items()]).sort(
        "conversation_id", "replied_at"
    )


def canonical_messages(messages: pl.DataFrame) -> pl.DataFrame:
    """Return ``messages`` restricted to the canonical columns, typed and ordered."""
    return order_messages(messages.select([pl.col(c).cast(t) for c, t in MESSAGE_SCHEMA.items()]))


def with_partition(frame: pl.DataFrame, started_at: str, timezone: str) -> pl.DataFrame:
    """Add Hive partition columns ``year``/``month``/``day`` (Int32) from a UTC timestamp column.

    Args:
        frame: any frame with the timestamp column.
        started_at: name of the column holding the conversation's start (UTC).
        timezone: IANA zone in which the day is taken (DESIGN.md: event time, UTC by default).
    """
    local = pl.col(started_at).dt.convert_time_zone(timezone)
    return frame.with_columns(
        year=local.dt.year().cast(pl.Int32),
        month=local.dt.month().cast(pl.Int32),
        day=local.dt.day().cast(pl.Int32),
    )
