"""Which scripts setters send: their outgoing messages grouped into scripts with rapidfuzz.

Setters (role ``agent``) open and follow up DMs from templates, edited by hand: a lead's name,
a link, a price, a typo. A **script** is a group of such messages that say the same thing: the
texts are normalised, clustered and named by :mod:`analytics_framework.insights.clustering`.

**Per message** (:func:`build`): its *position* — ``opener`` (the conversation's first human
message), ``follow-up`` (the previous customer-or-human message was a human's too: the lead had
not answered) or ``later`` (the lead wrote since); ``reply_s``, the seconds to the lead's next
message (NULL: never answered); ``stage_after``, whether the lead's stage changed after it (NULL
when the conversation has no stage data). The ``scripts`` report (``reports/sql/scripts.sql``)
turns these into each script's uses, setters, reply rate within 24 h, median time to reply and
conversion.

A build replaces the whole ``scripts`` table (one row per setter message, partitioned like its
conversation, with its script and the parameters that made it: ``build_id``, ``similarity``,
``scorer``, ``named_by``, ``built_at``); the report refuses a table holding two builds (an
interrupted run).

**Names**: offline, a script's three most distinctive words; with an LLM provider
(:func:`llm_namer`), a few words from the model for the most used scripts, batched and cached
like labels.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from analytics_framework.enrich.base import ApiLabeler
from analytics_framework.enrich.tasks import EXAMPLES_PER_CLUSTER, name_clusters
from analytics_framework.errors import LakeError
from analytics_framework.insights.clustering import (
    DEFAULT_SIMILARITY,
    NON_WORD,
    cluster,
    normalise,
    script_names,
)
from analytics_framework.model import SCRIPT_SCHEMA
from analytics_framework.storage.lake import Lake, Partition
from analytics_framework.storage.query import connect, day_filter, started_in

NAME_FIELDS = ("name", "first_name", "full_name", "sender_name", "username", "lead_name")
"""Keys of a customer message's ``attributes`` that hold the lead's name."""


Namer = Callable[[dict[str, Counter[str]]], dict[str, str]]
"""Script id → its normalised texts with counts ⇒ script id → name (those it could name)."""

NAME_MAX_SCRIPTS = 200
"""The LLM names at most this many scripts per build, the most used first."""
NAME_MIN_USES = 2
"""A script sent fewer times than this keeps its distinctive-words name (free text, one-offs)."""


def llm_namer(labeler: ApiLabeler, **task: Any) -> Namer:
    """Return a :data:`Namer` asking ``labeler`` (batched, cached, retried: ``name_clusters``).

    It names the :data:`NAME_MAX_SCRIPTS` most used scripts sent at least
    :data:`NAME_MIN_USES` times, from their :data:`~analytics_framework.enrich.tasks.
    EXAMPLES_PER_CLUSTER` most frequent texts; a script the provider fails on keeps its
    offline name. ``task`` goes to :func:`~analytics_framework.enrich.tasks.name_clusters`
    (``cache``, ``workers``, ``stats``).
    """

    def name(members: dict[str, Counter[str]]) -> dict[str, str]:
        used = sorted(
            (sid for sid, m in members.items() if m.total() >= NAME_MIN_USES),
            key=lambda sid: (-members[sid].total(), sid),
        )[:NAME_MAX_SCRIPTS]
        clusters = {
            sid: {"examples": [t for t, _ in members[sid].most_common(EXAMPLES_PER_CLUSTER)]}
            for sid in used
        }
        named, _failures = name_clusters(labeler, clusters, "script", **task)
        return {sid: v["name"] for sid, v in named.items()}

    return name


@dataclass(frozen=True)
class ScriptBuild:
    """One build: the rows of the ``scripts`` table and what it found.

    Attributes:
        rows: :data:`~analytics_framework.model.SCRIPT_SCHEMA` rows plus ``year``/``month``/
            ``day`` (the conversation's partition), one per setter message.
        scripts: how many scripts.
        messages: setter messages clustered.
        seconds: the clustering's wall time.
    """

    rows: pl.DataFrame
    scripts: int
    messages: int
    seconds: float


def _names(customer: pl.DataFrame) -> dict[str, set[str]]:
    """Conversation id → the lead's name words, from customer messages' sender and attributes."""
    out: dict[str, set[str]] = defaultdict(set)
    for cid, sender, attributes in customer.select(
        "conversation_id", "sender_id", "attributes"
    ).iter_rows():
        found = []
        if sender and re.fullmatch(r"[A-Za-z][A-Za-z .'-]*", sender):
            found.append(sender)
        if attributes:
            try:
                doc = json.loads(attributes)
            except ValueError:
                doc = None
            if isinstance(doc, dict):
                found += [v for k, v in doc.items() if k in NAME_FIELDS and isinstance(v, str)]
        for name in found:
            out[cid].update(w for w in NON_WORD.sub(" ", name).split() if len(w) > 1)
    return out


def read_messages(
    lake: Lake,
    start: date | None,
    end: date | None,
    org: str | None,
    timezone: str,
) -> pl.DataFrame:
    """Return every message of the conversations started in the range (of ``org``).

    Columns ``conversation_id, message_id, sent_at, role, sender_id, text, attributes, org_id,
    year, month, day``, ordered as the metrics order them (time, customer before a reply at
    equal times, id).
    """
    where = day_filter("conversations", "first", "last")
    params = started_in(start, end, org, timezone)
    sql = f"""
        SELECT m.conversation_id, m.message_id, m.sent_at, m.role, m.sender_id, m.text,
               m.attributes, c.org_id, c.year, c.month, c.day
        FROM (SELECT * FROM messages AS conversations WHERE {where}) AS m
        JOIN (
            SELECT conversation_id, org_id, year, month, day FROM conversations
            WHERE ($start IS NULL OR started_at >= $start)
              AND ($end IS NULL OR started_at < $end)
              AND ($org IS NULL OR org_id = $org)
              AND {where}
        ) AS c USING (conversation_id)
        ORDER BY m.conversation_id, m.sent_at,
                 CASE m.role WHEN 'customer' THEN 0 WHEN 'agent' THEN 1 ELSE 2 END, m.message_id
    """
    con = connect(lake)
    try:
        if not lake.exists("messages"):
            raise LakeError(
                f"the lake at {lake.uri} has no messages", "run analytics collect first"
            )
        return con.execute(sql, params).pl()
    finally:
        con.close()


def _stage_times(lake: Lake, messages: pl.DataFrame) -> dict[str, list[datetime]]:
    """Conversation id → the times its stage changed (empty without stage data).

    Only the partitions of ``messages``' conversations are read (stage changes are partitioned
    like their conversation).
    """
    if not lake.exists("stage_changes") or messages.height == 0:
        return {}
    days = messages.select("year", "month", "day").unique()
    con = connect(lake)
    try:
        con.register("build_days", days.to_arrow())
        changes = con.execute(
            "SELECT conversation_id, changed_at FROM stage_changes "
            "JOIN build_days USING (year, month, day)"
        ).pl()
    finally:
        con.close()
    out: dict[str, list[datetime]] = defaultdict(list)
    for cid, at in changes.iter_rows():
        if at is not None:
            out[cid].append(at)
    return out


def build(
    lake: Lake,
    *,
    start: date | None = None,
    end: date | None = None,
    org: str | None = None,
    timezone: str = "UTC",
    similarity: float = DEFAULT_SIMILARITY,
    scorer: str = "token_set_ratio",
    namer: Namer | None = None,
    named_by: str = "local",
    use_translations: bool = False,
) -> ScriptBuild:
    """Cluster the setters' messages of the conversations started in the range into scripts.

    Args:
        lake: the lake (``conversations`` and ``messages`` read, ``stage_changes`` if any).
        start: first local day of the conversations' start (None: open).
        end: the local day after the last one, excluded (None: open).
        org: only this organisation's conversations (None: all).
        timezone: the IANA zone of ``start`` / ``end``.
        similarity: least rapidfuzz score (0-100) to join a script.
        scorer: the rapidfuzz scorer's name (:data:`~analytics_framework.insights.
            clustering.SCORERS`).
        namer: names scripts better than their distinctive words (:func:`llm_namer`); the
            scripts it leaves out keep those words.
        named_by: what ``namer`` is (``gemini:<model>``), stored on the rows of the scripts it
            named; the others' rows say ``local``.
        use_translations: cluster the English text of translated messages (the lake's
            ``translations`` table) instead of the original.

    Raises:
        ConfigurationError: an unknown scorer or similarity.
        LakeError: no conversations, or no setter (role ``agent``) message in the range.
    """
    lake.require("conversations")
    t0 = time.perf_counter()
    messages = read_messages(lake, start, end, org, timezone)
    if use_translations:
        from analytics_framework.insights.translations import english_text

        messages = english_text(lake, messages)
    setters = messages.filter(pl.col("role") == "agent")
    if setters.height == 0:
        raise LakeError(
            f"no agent messages in the lake at {lake.uri} for the range given",
            "scripts are setters' (role agent) messages: widen --start-date/--end-date or --org, "
            "or collect a source with human replies",
        )
    names = _names(messages.filter(pl.col("role") == "customer"))
    norm = [
        normalise(text or "", names.get(cid, set()))
        for cid, text in setters.select("conversation_id", "text").iter_rows()
    ]
    counts = Counter(t for t in norm if t)
    distinct = sorted(counts)
    leader = cluster(distinct, [counts[t] for t in distinct], similarity, scorer)
    script_of = {t: distinct[leader[i]] for i, t in enumerate(distinct)}
    ids = {
        lead: "s" + hashlib.sha1(lead.encode("utf-8")).hexdigest()[:10]
        for lead in set(script_of.values())
    }
    members: dict[str, Counter[str]] = defaultdict(Counter)
    for t, n in counts.items():
        members[ids[script_of[t]]][t] = n
    named = script_names(members)
    by_llm = namer(members) if namer is not None else {}
    named.update(by_llm)
    texts = {sid: m.most_common(1)[0][0] for sid, m in members.items()}
    seconds = time.perf_counter() - t0

    positions, replies = _positions(messages)
    stages = _stage_times(lake, messages)
    sid = [ids[script_of[t]] if t else None for t in norm]
    rows = setters.with_columns(
        script_id=pl.Series(sid, dtype=pl.String),
        position=pl.Series([positions[m] for m in setters["message_id"]], dtype=pl.String),
        reply_s=pl.Series([replies.get(m) for m in setters["message_id"]], dtype=pl.Float64),
    )
    stage_after = []
    for cid, sent_at in rows.select("conversation_id", "sent_at").iter_rows():
        times = stages.get(cid)
        stage_after.append(None if not times else any(t > sent_at for t in times))
    build_id = uuid.uuid4().hex[:12]
    rows = rows.with_columns(
        script_name=pl.col("script_id").replace_strict(named, default=None, return_dtype=pl.String),
        script_text=pl.col("script_id").replace_strict(texts, default=None, return_dtype=pl.String),
        stage_after=pl.Series(stage_after, dtype=pl.Boolean),
        build_id=pl.lit(build_id),
        similarity=pl.lit(float(similarity)),
        scorer=pl.lit(scorer),
        named_by=pl.col("script_id").replace_strict(
            dict.fromkeys(by_llm, named_by), default=pl.lit("local"), return_dtype=pl.String
        ),
        built_at=pl.lit(datetime.now(UTC)),
    )
    rows = rows.select(
        *(pl.col(c).cast(t) for c, t in SCRIPT_SCHEMA.items()), "year", "month", "day"
    )
    return ScriptBuild(rows=rows, scripts=len(members), messages=setters.height, seconds=seconds)


def _positions(messages: pl.DataFrame) -> tuple[dict[str, str], dict[str, float]]:
    """Each human message's position, and the seconds to the lead's next message after it."""
    positions: dict[str, str] = {}
    replies: dict[str, float] = {}
    waiting: list[tuple[str, datetime]] = []  # human messages since the lead last wrote
    current = None
    seen_human = False
    previous = None  # role of the previous customer or human message
    for cid, mid, at, role in messages.select(
        "conversation_id", "message_id", "sent_at", "role"
    ).iter_rows():
        if cid != current:
            current, seen_human, previous, waiting = cid, False, None, []
        if role == "agent":
            if not seen_human:
                positions[mid] = "opener"
            elif previous == "agent":
                positions[mid] = "follow-up"
            else:
                positions[mid] = "later"
            seen_human = True
            previous = "agent"
            waiting.append((mid, at))
        elif role == "customer":
            for wid, wat in waiting:
                replies[wid] = (at - wat).total_seconds()
            waiting = []
            previous = "customer"
    return positions, replies


def store(lake: Lake, result: ScriptBuild) -> list[Partition]:
    """Replace the lake's ``scripts`` table with ``result`` (:meth:`Lake.replace_table`).

    Returns:
        The partitions written.
    """
    return lake.replace_table("scripts", result.rows)
