"""Individual conversations: list them (filtered, paged, exported) and show one with its transcript.

:func:`list_conversations` returns one page of the conversations that match a
:class:`ConversationFilter`, newest first, with the total that match; :func:`show_conversation`
returns one conversation's messages, metrics, current labels and stage history. Both read the
lake through :func:`analytics_framework.storage.query.connect`; every user value reaches DuckDB
as a parameter, never as SQL text. Rendering is the CLI's business (``analytics conversations``).

Definitions (DESIGN.md, metric definitions v1, the same as the reports'):

- **labels**: the conversation's current label (``labels`` rows with status ``labeled``, of the
  conversation's own partition); without one, the label columns are empty.
- **satisfied**: the surveyed ``csat_rating`` when there is one (4–5 satisfied, 1–3 not), else
  the labeler's predicted ``satisfaction`` (same split); the survey always wins. A conversation
  with neither is neither satisfied nor unsatisfied.
- **unanswered**: the customer wrote and no human (role ``agent``) replied after
  (``customer_messages > 0`` and no first response time), as the overview report counts it.
- **resolved**: the source status says so (:data:`~analytics_framework.model.RESOLVED_STATUSES`),
  else the labeler's verdict; **resolution_s** is last − first message of a resolved one.
- **started_at** is ISO 8601 in the zone asked for (``timezone``, default UTC), with its offset.

Rows are ordered ``started_at`` descending, then ``conversation_id`` ascending: a total order, so
pages (``limit``/``offset``) cover every matching conversation exactly once. Floats are rounded
once, by unit: durations (seconds) to 3 decimals, sentiment to 4.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from analytics_framework.catalog import CONVERSATIONS_PAGE
from analytics_framework.dates import check_range, day_range_utc
from analytics_framework.errors import ConfigurationError, LakeError, UnknownNameError
from analytics_framework.model import METRIC_VERSION, RESOLVED_STATUSES, ROLE_ORDER
from analytics_framework.reports.result import round_value
from analytics_framework.reports.spec import Column
from analytics_framework.storage.lake import Lake
from analytics_framework.storage.query import connect, day_filter, day_params

COLUMNS: tuple[Column, ...] = (
    Column("conversation_id", "conversation", "text"),
    Column("org_id", "org", "text"),
    Column("started_at", "started", "text", description="ISO 8601 in --timezone"),
    Column("customer_id", "customer", "text"),
    Column("agents", "agents", "text", description="humans who replied (agent_ids)"),
    Column("messages", "msgs", "count"),
    Column("first_response_s", "FRT", "seconds"),
    Column("avg_response_s", "avg response", "seconds"),
    Column("resolution_s", "resolution", "seconds"),
    Column("status", "status", "text", description="from the source"),
    Column("csat_rating", "CSAT", "count", description="surveyed, 1-5"),
    Column("topic", "topic", "text"),
    Column("intent", "intent", "text"),
    Column("sentiment", "sentiment", "ratio", description="-1..1"),
    Column("satisfaction", "pred. sat.", "count", description="predicted, 1-5"),
    Column("resolved", "resolved", "text", description="source status, else the labeler"),
)
"""The list's columns, in order, with the labels and units the outputs render them by."""

DEFAULT_LIMIT = CONVERSATIONS_PAGE
"""Conversations per page when no limit is given."""

_STATUSES = ", ".join(f"'{s}'" for s in RESOLVED_STATUSES)  # constants, not user values
_ROLE_RANK = " ".join(f"WHEN '{r}' THEN {n}" for r, n in ROLE_ORDER.items())

_MATCHING = f"""
WITH l AS (
    SELECT conversation_id, year, month, day, topic, intent, sentiment, satisfaction, resolved
    FROM labels WHERE status = 'labeled' AND {{label_days}}
),
c AS (
    SELECT conversation_id, org_id, started_at, ended_at, customer_id, agent_ids,
           message_count, customer_messages, first_response_s, avg_response_s,
           conversations.status, csat_rating, l.topic, l.intent, l.sentiment, l.satisfaction,
           coalesce(CASE WHEN lower(conversations.status) IN ({_STATUSES}) THEN TRUE END,
                    l.resolved) AS resolved
    FROM conversations LEFT JOIN l USING (conversation_id, year, month, day)
    WHERE {{days}}
      AND ($id IS NULL OR conversation_id = $id)
      AND ($start IS NULL OR started_at >= $start)
      AND ($end IS NULL OR started_at < $end)
      AND ($org IS NULL OR org_id = $org)
      AND ($agent IS NULL OR list_contains(agent_ids, $agent))
      AND ($topic IS NULL OR lower(l.topic) = lower($topic))
      AND ($intent IS NULL OR lower(l.intent) = lower($intent))
      AND ($satisfied IS NULL OR (coalesce(csat_rating, l.satisfaction) >= 4) = $satisfied)
      AND (NOT $unanswered OR (customer_messages > 0 AND first_response_s IS NULL))
)
"""

_PAGE = """
SELECT conversation_id, org_id, started_at, customer_id, agent_ids AS agents,
       message_count AS messages, first_response_s, avg_response_s,
       CASE WHEN resolved THEN date_diff('microsecond', started_at, ended_at) / 1e6 END
           AS resolution_s,
       status, csat_rating, topic, intent, sentiment, satisfaction, resolved
FROM c
ORDER BY started_at DESC, conversation_id
LIMIT $limit OFFSET $offset
"""


@dataclass(frozen=True)
class ConversationFilter:
    """Which conversations to list; None (or False) means "any".

    Attributes:
        org: only this org (brand, page, app).
        agent: only conversations this human replied in (one of ``agent_ids``).
        topic / intent: only this current label (case-insensitive).
        satisfied: True for satisfied, False for unsatisfied (survey, else prediction).
        unanswered: only conversations where the customer wrote and no human replied.
        start / end: conversation start days, half-open ``[start, end)`` in the zone asked for.
    """

    org: str | None = None
    agent: str | None = None
    topic: str | None = None
    intent: str | None = None
    satisfied: bool | None = None
    unanswered: bool = False
    start: date | None = None
    end: date | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the filters as JSON-ready data (``start_date``/``end_date`` as ISO text)."""
        names = {"start": "start_date", "end": "end_date"}
        return {
            names.get(k, k): v.isoformat() if isinstance(v, date) else v
            for k, v in asdict(self).items()
        }

    def params(self, timezone: str) -> dict[str, Any]:
        """Return the parameters of :func:`matching_sql` for these filters.

        ``start``/``end`` become UTC instants of midnight in ``timezone``; the partition days
        read get one day of slack each side, since partitions may be cut in another zone.
        """
        t_start, t_end = day_range_utc(self.start, self.end, timezone)
        return {
            "id": None,
            "start": t_start,
            "end": t_end,
            "org": self.org,
            "agent": self.agent,
            "topic": self.topic,
            "intent": self.intent,
            "satisfied": self.satisfied,
            "unanswered": self.unanswered,
            **day_params("first", self.start - timedelta(days=1) if self.start else None),
            **day_params("last", self.end + timedelta(days=1) if self.end else None),
        }


@dataclass
class ConversationPage:
    """One page of matching conversations.

    Attributes:
        rows: one dict per conversation with the :data:`COLUMNS` keys; durations in seconds,
            ``started_at`` ISO 8601 in ``timezone``, ``agents`` a list.
        total: how many conversations match the filters (all pages together).
        offset / limit: where the page starts, and its size (None: no limit).
    """

    rows: list[dict[str, Any]]
    total: int
    offset: int
    limit: int | None
    timezone: str
    filters: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """The column names, in order."""
        return [c.name for c in COLUMNS]

    def to_json(self) -> str:
        """Return the page as a JSON document: the rows, the total, the paging and filters."""
        doc = {
            "metric_version": METRIC_VERSION,
            "timezone": self.timezone,
            "filters": self.filters,
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
            "count": len(self.rows),
            "conversations": self.rows,
        }
        return json.dumps(doc, indent=2, default=str) + "\n"

    def to_csv(self) -> str:
        """Return the rows as CSV: agents joined by ``;``, booleans ``true``/``false``."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
        return buf.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ";".join(value)
    return value


def list_conversations(
    lake: Lake,
    filters: ConversationFilter | None = None,
    *,
    limit: int | None = DEFAULT_LIMIT,
    offset: int = 0,
    timezone: str = "UTC",
) -> ConversationPage:
    """Return one page of the conversations matching ``filters``, newest first.

    Args:
        lake: the lake to read.
        filters: which conversations; None for all.
        limit: most rows returned (at least 1), or None for every match.
        offset: matching rows skipped before the page (0 or more).
        timezone: IANA zone of ``start``/``end`` days and of the ``started_at`` shown.

    Returns:
        The :class:`ConversationPage`, with ``total`` counting every match.

    Raises:
        ConfigurationError: a bad limit, offset or day range.
        LakeError: the lake has no conversations, or cannot be read.
    """
    filters = filters or ConversationFilter()
    if limit is not None and limit < 1:
        raise ConfigurationError(f"--limit {limit} is not a page size", "use --limit 1 or more")
    if offset < 0:
        raise ConfigurationError(f"--offset {offset} is negative", "use --offset 0 or more")
    check_range(filters.start, filters.end)
    params = filters.params(timezone)
    matching = matching_sql()
    with _open(lake) as con:
        total = _query(con, lake, matching + "SELECT count(*) AS n FROM c", params)[0]["n"]
        if total == 0:
            _refuse_unknown(con, lake, filters)
        rows = _query(con, lake, matching + _PAGE, {**params, "limit": limit, "offset": offset})
    return ConversationPage(
        rows=[_present(row, timezone) for row in rows],
        total=total,
        offset=offset,
        limit=limit,
        timezone=timezone,
        filters=filters.as_dict(),
    )


@dataclass
class ConversationDetail:
    """One conversation, for ``analytics conversations show``.

    Attributes:
        summary: its row as :func:`list_conversations` gives it (the :data:`COLUMNS` keys).
        metrics: everything else the ``conversations`` table holds about it: ``source``,
            ``ended_at`` (ISO, in ``timezone``), ``duration_s`` (last − first message, seconds),
            message counts by role, ``response_count``, ``assigned_agent_id``, ``stage``.
        labels: its current label (topic, intent, sentiment, sentiment_label, satisfaction,
            resolved, objection, confidence, provider, model, labeled_at), or None;
            a field the lake's labels lack (written by an older version) is None.
        messages: every message in order (``sent_at``, role at equal times, ``message_id``):
            ``message_id``, ``sent_at`` (ISO, in ``timezone``), ``role``, ``sender_id``, ``text``.
        stage_changes: its stage history, oldest first (Mochi leads; otherwise empty).
    """

    conversation_id: str
    timezone: str
    summary: dict[str, Any]
    metrics: dict[str, Any]
    labels: dict[str, Any] | None
    messages: list[dict[str, Any]]
    stage_changes: list[dict[str, Any]]

    def to_json(self) -> str:
        """Return the conversation as one JSON document."""
        doc = {"metric_version": METRIC_VERSION, **asdict(self)}
        return json.dumps(doc, indent=2, default=str) + "\n"


METRIC_FIELDS = (
    "source",
    "ended_at",
    "customer_messages",
    "agent_messages",
    "bot_messages",
    "response_count",
    "assigned_agent_id",
    "stage",
)
LABEL_FIELDS = (
    "topic",
    "intent",
    "sentiment",
    "sentiment_label",
    "satisfaction",
    "resolved",
    "objection",
    "confidence",
    "provider",
    "model",
    "labeled_at",
)


def show_conversation(lake: Lake, given: str, *, timezone: str = "UTC") -> ConversationDetail:
    """Return the conversation ``given`` (an id, with or without its source prefix).

    ``348`` finds ``twcs:348`` when no other source has a conversation ``348``; an exact id
    always wins.

    Raises:
        UnknownNameError: no conversation has that id.
        ConfigurationError: the id without prefix matches conversations of several sources.
        LakeError: the lake has no conversations, or cannot be read.
    """
    with _open(lake) as con:
        cid, year, month, day = resolve_id(con, lake, given)
        part = date(year, month, day)
        where = {"id": cid, **day_params("first", part), **day_params("last", part)}
        params = {**ConversationFilter().params(timezone), **where, "limit": 1, "offset": 0}
        summary = _query(con, lake, matching_sql() + _PAGE, params)[0]
        days = day_filter("", "first", "last")
        conv = _query(
            con, lake, f"SELECT * FROM conversations WHERE conversation_id = $id AND {days}", where
        )[0]
        labels = _query(
            con,
            lake,
            f"SELECT * FROM labels WHERE conversation_id = $id AND status = 'labeled' AND {days}",
            where,
        )
        messages = _query(
            con,
            lake,
            "SELECT message_id, sent_at, role, sender_id, text FROM messages "
            f"WHERE conversation_id = $id AND {days} "
            f"ORDER BY sent_at, CASE role {_ROLE_RANK} ELSE 9 END, message_id",
            where,
        )
        stages = _query(
            con,
            lake,
            "SELECT stage, previous_stage, changed_at, changed_by FROM stage_changes "
            f"WHERE conversation_id = $id AND {days} ORDER BY changed_at, stage",
            where,
        )
    metrics = {k: conv.get(k) for k in METRIC_FIELDS}
    ended, started = conv.get("ended_at"), conv.get("started_at")
    metrics["duration_s"] = (ended - started).total_seconds() if ended and started else None
    label = {k: labels[0].get(k) for k in LABEL_FIELDS} if labels else None
    return ConversationDetail(
        conversation_id=cid,
        timezone=timezone,
        summary=_present(summary, timezone),
        metrics=_present(metrics, timezone),
        labels=_present(label, timezone) if label else None,
        messages=[_present(m, timezone) for m in messages],
        stage_changes=[_present(s, timezone) for s in stages],
    )


def resolve_id(con: duckdb.DuckDBPyConnection, lake: Lake, given: str) -> tuple[str, int, int, int]:
    """Find the conversation ``given`` names: ``(conversation_id, year, month, day)``.

    Raises:
        UnknownNameError: none matches.
        ConfigurationError: several match (the id without prefix is in several sources).
    """
    found = _query(
        con,
        lake,
        "SELECT DISTINCT conversation_id, year, month, day FROM conversations "
        "WHERE conversation_id = $id "
        "OR substr(conversation_id, strpos(conversation_id, ':') + 1) = $id "
        "ORDER BY conversation_id",
        {"id": given.strip()},
    )
    exact = [r for r in found if r["conversation_id"] == given.strip()]
    found = exact or found
    if not found:
        raise UnknownNameError(
            f"no conversation {given!r} in the lake at {lake.uri}",
            "find ids with: analytics conversations list",
        )
    if len(found) > 1:
        ids = [r["conversation_id"] for r in found]
        shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
        raise ConfigurationError(
            f"conversation id {given!r} is ambiguous: it matches {shown}",
            f"give the whole id, e.g. analytics conversations show {ids[0]}",
        )
    row = found[0]
    return row["conversation_id"], row["year"], row["month"], row["day"]


UNKNOWN_CHECKS = {
    "org": (
        "SELECT 1 FROM conversations WHERE org_id = $v LIMIT 1",
        "analytics report leaderboard",
    ),
    "agent": (
        "SELECT 1 FROM conversations WHERE list_contains(agent_ids, $v) LIMIT 1",
        "analytics report agents",
    ),
    "topic": (
        "SELECT 1 FROM labels WHERE lower(topic) = lower($v) LIMIT 1",
        "analytics report topics",
    ),
    "intent": (
        "SELECT 1 FROM labels WHERE lower(intent) = lower($v) LIMIT 1",
        "analytics report intents",
    ),
}
"""For each value filter: the query proving the value exists anywhere, and where to see them."""


def _refuse_unknown(
    con: duckdb.DuckDBPyConnection, lake: Lake, filters: ConversationFilter
) -> None:
    """Raise when nothing matched because a filter names a value the lake has nowhere.

    Raises:
        ConfigurationError: e.g. ``--agent nobody`` when no conversation has that agent.
    """
    for name, (sql, where) in UNKNOWN_CHECKS.items():
        value = getattr(filters, name)
        if value is not None and name in ("topic", "intent") and not lake.exists("labels"):
            raise LakeError(
                f"the lake at {lake.uri} has no labels, so no conversation has {name} {value!r}",
                "label it first: analytics enrich",
            )
        if value is not None and not _query(con, lake, sql, {"v": value}):
            raise ConfigurationError(
                f"no {name} {value!r} in the lake at {lake.uri}",
                f"see which there are with '{where}', or drop --{name}",
            )


def matching_sql() -> str:
    """Return the SQL (a ``WITH`` defining ``c``) of the conversations matching the filters.

    Its parameters come from :meth:`ConversationFilter.params`; ``$id`` (or None) narrows it
    to one conversation. Append a ``SELECT … FROM c``.
    """
    return _MATCHING.format(
        days=day_filter("conversations", "first", "last"),
        label_days=day_filter("labels", "first", "last"),
    )


@contextmanager
def _open(lake: Lake) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield the lake's DuckDB connection, then close it; the lake must hold conversations."""
    lake.require("conversations")
    con = connect(lake)
    try:
        yield con
    finally:
        con.close()


def _query(
    con: duckdb.DuckDBPyConnection, lake: Lake, sql: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Run ``sql`` with the parameters it names; rows as dicts (timestamps tz-aware, UTC)."""
    try:
        used = {k: v for k, v in params.items() if f"${k}" in sql}
        return con.execute(sql, used).pl().to_dicts()
    except duckdb.Error as exc:
        raise LakeError(
            f"reading conversations from {lake.uri} failed: {str(exc).splitlines()[0]}",
            "check that the lake was written by this version of analytics (re-run collect)",
        ) from None


def _present(row: dict[str, Any], timezone: str) -> dict[str, Any]:
    """Timestamps as ISO 8601 in ``timezone``; floats rounded once by their column's unit."""
    zone = ZoneInfo(timezone)
    units = {c.name: c.decimals for c in COLUMNS}
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            value = value.astimezone(zone).isoformat()
        out[key] = round_value(key, value, units.get(key))
    return out
