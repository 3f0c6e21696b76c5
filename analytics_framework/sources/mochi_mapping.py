"""Mochi's conversation objects → canonical rows: the one module that knows Mochi's field names.

A deployment whose objects differ (other field names, other sender types) is adapted here and
nowhere else. The object we support (``GET /api/conversations/`` results, or the items of an
export file)::

    {id, organization {id, name}, contact {id, name, username}, setter {id, name, email} | null,
     stage, stage_history [{stage, changed_at, changed_by}],
     messages [{id, sender_type: contact|setter|bot, text, sent_at}], created_at, updated_at}

==========================  ===================================================================
canonical                   from
==========================  ===================================================================
conversation_id             ``mochi:<id>``
org_id                      ``organization.id``
message_id                  ``mochi:<messages[].id>`` (a stable hash when a message has none)
sent_at / text              ``messages[].sent_at`` (ISO 8601) / ``messages[].text`` ("" if null)
role                        ``sender_type``: contact → customer, setter → agent, bot → bot
sender_id                   contact → ``contact.id``; setter → ``setter.id`` of the
                            conversation (Mochi does not say which setter sent a message, so
                            every setter message is credited to the assigned one); bot → null
customer_id                 ``contact.id`` (conversation_customer_id)
assigned_agent_id / stage   ``setter.id`` (null when no setter) / ``stage`` (the current one)
stage_changes               one row per ``stage_history`` entry: stage, changed_at, changed_by;
                            previous_stage = the stage of the entry before it by changed_at
                            (null for the first)
conversations.attributes    JSON: contact name/username, organization name, setter name/email,
                            created_at, updated_at and any other top-level field
messages.attributes         JSON of a message's other fields, or null
==========================  ===================================================================

``updated_at`` is the replication key (:data:`UPDATED_AT`). Checks, each quarantining only the
record at fault with its place (``page 3 item 17 (id 123) message 2``): a conversation that is
not an object, has no ``id``, or whose ``messages`` / ``stage_history`` is not a list; a message
without a parsable ``sent_at`` or with an unknown ``sender_type``; a stage-history entry without
``stage`` or a parsable ``changed_at``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from analytics_framework.model import MESSAGE_SCHEMA, STAGE_CHANGE_SCHEMA, stable_message_id_expr
from analytics_framework.sources.base import REJECTED_SCHEMA
from analytics_framework.sources.rows import first_reason, parse_timestamp

NAME = "mochi"
PREFIX = f"{NAME}:"
UPDATED_AT = "updated_at"
SENDER_ROLES = {"contact": "customer", "setter": "agent", "bot": "bot"}
"""Mochi's ``sender_type`` → canonical role."""

MAPPED = {"id", "organization", "contact", "setter", "stage", "stage_history", "messages"}
MESSAGE_MAPPED = {"id", "sender_type", "text", "sent_at"}
FACTS = ("conversation_customer_id", "assigned_agent_id", "stage", "conversation_attributes")
"""Conversation facts carried on each message row (CONVERSATION_LEVEL_COLUMNS)."""
_MSG_RAW = ("message_id", "conversation_id", "org_id", "sent_at", "sender_type", "sender_id")
_STAGE_RAW = ("conversation_id", "org_id", "stage", "changed_at", "changed_by")


@dataclass
class Rows:
    """Flattened, still untyped rows of some conversations (strings, as Mochi sent them)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)

    def reject(self, where: str, reason: str, raw: Any) -> None:
        """Quarantine the record at ``where``."""
        self.rejected.append({"record": where, "reason": reason, "raw": _json(raw)})


def flatten(conv: Any, where: str, rows: Rows) -> bool:
    """Add one conversation object's messages and stage history to ``rows``.

    Args:
        conv: one result of the API (or item of an export file).
        where: its place, for the quarantine (``page 3 item 17``).
        rows: where its rows go.

    Returns:
        False when the whole conversation was quarantined.
    """
    if not isinstance(conv, dict):
        rows.reject(where, "conversation is not a JSON object", conv)
        return False
    cid = _text(conv.get("id"))
    if cid is None:
        rows.reject(where, "conversation has no id", conv)
        return False
    where = f"{where} (id {cid})"
    messages, history = conv.get("messages") or [], conv.get("stage_history") or []
    for name, value in (("messages", messages), ("stage_history", history)):
        if not isinstance(value, list):
            rows.reject(where, f"{name} is not a list", conv)
            return False
    org, contact, setter = (_obj(conv.get(k)) for k in ("organization", "contact", "setter"))
    attributes = {
        "contact_name": contact.get("name"),
        "contact_username": contact.get("username"),
        "organization_name": org.get("name"),
        "setter_name": setter.get("name"),
        "setter_email": setter.get("email"),
        **{k: v for k, v in conv.items() if k not in MAPPED},
    }
    org_id, contact_id, setter_id = (_text(o.get("id")) for o in (org, contact, setter))
    facts = {
        "conversation_id": cid,
        "org_id": org_id,
        "conversation_customer_id": contact_id,
        "assigned_agent_id": setter_id,
        "stage": _text(conv.get("stage")),
        "conversation_attributes": _json(attributes),
    }
    senders = {"contact": contact_id, "setter": setter_id}
    for j, msg in enumerate(messages):
        here = f"{where} message {j}"
        if not isinstance(msg, dict):
            rows.reject(here, "message is not a JSON object", msg)
            continue
        kind = (_text(msg.get("sender_type")) or "").strip().lower()
        other = {k: v for k, v in msg.items() if k not in MESSAGE_MAPPED}
        rows.messages.append(
            {
                "_record": here,
                "_raw": _json(msg),
                **facts,
                "message_id": _text(msg.get("id")),
                "sent_at": _text(msg.get("sent_at")),
                "sender_type": kind,
                "sender_id": senders.get(kind),
                "text": "" if msg.get("text") is None else str(msg["text"]),
                "attributes": _json(other) if other else None,
            }
        )
    for j, entry in enumerate(history):
        here = f"{where} stage_history {j}"
        if not isinstance(entry, dict):
            rows.reject(here, "stage_history entry is not a JSON object", entry)
            continue
        by = entry.get("changed_by")
        rows.stages.append(
            {
                "_record": here,
                "_raw": _json(entry),
                "_order": j,
                "conversation_id": cid,
                "org_id": org_id,
                "stage": _text(entry.get("stage")),
                "changed_at": _text(entry.get("changed_at")),
                "changed_by": _text(by.get("id") if isinstance(by, dict) else by),
            }
        )
    return True


def updated_at(conv: Any) -> datetime | None:
    """Return a conversation object's ``updated_at`` as an aware datetime (naive: UTC), or None."""
    value = conv.get(UPDATED_AT) if isinstance(conv, dict) else None
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def frames(rows: Rows) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Type and check ``rows``: (messages, stage_changes, rejected) frames.

    Messages carry :data:`MESSAGE_SCHEMA` plus the :data:`FACTS` columns; stage changes
    :data:`STAGE_CHANGE_SCHEMA`. Records failing a check go to the rejected frame.
    """
    text_cols = ["_record", "_raw", *_MSG_RAW, "text", "attributes", *FACTS]
    raw = pl.DataFrame(
        [{c: r.get(c) for c in text_cols} for r in rows.messages],
        schema=dict.fromkeys(text_cols, pl.String),
        orient="row",
    ).with_columns(_sent_at=parse_timestamp(pl.col("sent_at")))
    raw = raw.with_columns(
        _reject=first_reason(
            (pl.col("_sent_at").is_null(), "sent_at is missing or not a time"),
            (
                ~pl.col("sender_type").is_in(list(SENDER_ROLES)),
                f"sender_type is not one of {', '.join(SENDER_ROLES)}",
            ),
        )
    )
    good = raw.filter(pl.col("_reject").is_null())
    messages = good.select(
        message_id=pl.lit(PREFIX) + pl.col("message_id"),
        conversation_id=pl.lit(PREFIX) + pl.col("conversation_id"),
        source=pl.lit(NAME),
        org_id="org_id",
        sent_at="_sent_at",
        role=pl.col("sender_type").replace_strict(SENDER_ROLES, return_dtype=pl.String),
        sender_id="sender_id",
        text="text",
        attributes="attributes",
        **{c: pl.col(c) for c in FACTS},
    )
    if messages["message_id"].null_count():
        messages = messages.with_columns(
            message_id=pl.coalesce("message_id", stable_message_id_expr(PREFIX))
        )
    stage_cols = ["_record", "_raw", *_STAGE_RAW]
    stages = pl.DataFrame(
        [{c: r.get(c) for c in stage_cols} for r in rows.stages],
        schema=dict.fromkeys(stage_cols, pl.String),
        orient="row",
    ).with_columns(
        _order=pl.Series([r["_order"] for r in rows.stages], dtype=pl.Int64),
        _changed_at=parse_timestamp(pl.col("changed_at")),
    )
    stages = stages.with_columns(
        _reject=first_reason(
            (pl.col("stage").is_null(), "stage_history entry has no stage"),
            (pl.col("_changed_at").is_null(), "changed_at is missing or not a time"),
        )
    )
    changes = (
        stages.filter(pl.col("_reject").is_null())
        .sort("conversation_id", "_changed_at", "_order")
        .select(
            conversation_id=pl.lit(PREFIX) + pl.col("conversation_id"),
            source=pl.lit(NAME),
            org_id="org_id",
            stage="stage",
            previous_stage=pl.col("stage").shift(1).over("conversation_id"),
            changed_at="_changed_at",
            changed_by="changed_by",
        )
        .cast(STAGE_CHANGE_SCHEMA)  # type: ignore[arg-type]
    )
    bad = pl.concat(
        [
            pl.DataFrame(rows.rejected, schema=REJECTED_SCHEMA),
            *(
                f.filter(pl.col("_reject").is_not_null()).select(
                    record="_record", reason="_reject", raw="_raw"
                )
                for f in (raw, stages)
            ),
        ]
    )
    return messages.cast({**MESSAGE_SCHEMA}), changes, bad  # type: ignore[arg-type]


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
