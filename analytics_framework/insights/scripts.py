"""Which scripts setters send: their outgoing messages grouped into scripts with rapidfuzz.

Setters (role ``agent``) open and follow up DMs from templates, edited by hand: a lead's name,
a link, a price, a typo. A **script** is a group of such messages that say the same thing.

**Normalisation** (:func:`normalise`): lower case; URLs → ``<url>``; e-mail addresses →
``<email>``; @handles → ``<user>``; numbers (``$49``, ``3.5``, ``10,000``) → ``<num>``; the
lead's names → ``<name>`` (the words of the customer's ``sender_id`` and of the name fields
of their messages' ``attributes`` — ``name``, ``first_name``, ``full_name``, ``sender_name``,
``username``, ``lead_name`` — and a capitalised word right after a greeting: ``Hey Maria``);
punctuation other than ``<>`` dropped; runs of whitespace → one space (the name words are
matched after that, word by word).

**Clustering** (:func:`cluster`): the distinct normalised texts, most frequent first (so a script's
clean template comes before its typos), are assigned to *leaders*: a text joins the most similar
leader when ``scorer`` (rapidfuzz's ``fuzz.token_set_ratio`` by default: word order and repeated
words do not matter, and a message that only adds words to a template still matches it) scores at
least ``similarity`` (default :data:`DEFAULT_SIMILARITY`), and otherwise becomes a leader itself.
Blocking keeps it fast: a text is compared only with the leaders that hold two of its five
rarest words (among those some leader holds) and whose word count is within about a factor of
1.5, with :func:`rapidfuzz.process.cdist` over chunks of :data:`CHUNK` texts against the
leaders under their rarest word (all cores); a chunk's unmatched texts are then settled one by
one. 100k templated messages cluster in under a second; 100k messages of free text, nearly each
its own script, in about a minute (BENCHMARKS.md).

**Per message** (:func:`build`): its *position* — ``opener`` (the conversation's first human
message), ``follow-up`` (the previous customer-or-human message was a human's too: the lead had
not answered) or ``later`` (the lead wrote since); ``reply_s``, the seconds to the lead's next
message (NULL: never answered); ``stage_after``, whether the lead's stage changed after it (NULL
when the conversation has no stage data). The ``scripts`` report (``reports/sql/scripts.sql``)
turns these into each script's uses, setters, reply rate within 24 h, median time to reply and
conversion.

**Names**: offline, a script is named by its three most distinctive words (highest count in the
script × log(scripts / scripts using the word), placeholders and common words left out, ties by
word), joined by ``·``.

A build replaces the whole ``scripts`` table (one row per setter message, partitioned like its
conversation, with its script and the parameters that made it: ``build_id``, ``similarity``,
``scorer``, ``built_at``); the report refuses a table holding two builds (an interrupted run).
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

from analytics_framework.dates import day_range_utc
from analytics_framework.errors import ConfigurationError, LakeError
from analytics_framework.model import SCRIPT_SCHEMA
from analytics_framework.storage.lake import Lake, Partition
from analytics_framework.storage.query import connect, day_filter, day_params

DEFAULT_SIMILARITY = 80.0
"""The score (0-100) at which two normalised messages are the same script: high enough that two
templates sharing a greeting stay apart, low enough for a typo or two and a changed word.
Measured on the tests' fixture (8 templates, 3000 messages with names, prices, links and up to
two typos, three seeds), adjusted Rand index against the true templates with token_set_ratio:
1.0 at 60, 70 and 80; 0.975 at 90 (typos split off); token_sort_ratio 0.99 at 80."""

SCORERS = {
    "token_set_ratio": fuzz.token_set_ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
    "ratio": fuzz.ratio,
}
"""The rapidfuzz scorers ``--scorer`` accepts. ``token_set_ratio`` scores a message whose words
are a subset of another's 100; the length blocking (word counts within about 1.5x) keeps a
one-line "thanks" from joining a long script."""

CHUNK = 2048
"""Texts scored against leaders in one round of :func:`rapidfuzz.process.cdist` calls."""

KEYS = 5
"""How many of a text's rarest words block it: it meets the leaders holding two of them."""

BATCH_LEADERS = 64
"""A rarest word held by more leaders than this (free text, where nearly every message is its
own script) is not scored in one :func:`rapidfuzz.process.cdist` call: its texts go one by one
against the few leaders sharing two of their keys, which costs far less there."""

NAME_FIELDS = ("name", "first_name", "full_name", "sender_name", "username", "lead_name")
"""Keys of a customer message's ``attributes`` that hold the lead's name."""

GREETING = re.compile(
    r"\b(?i:hi|hey|hello|hiya|dear|yo|morning|thanks|thank you)[ ,]+([A-Z][\w'-]+)"
)
URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
MENTION = re.compile(r"(?<![\w@])@\w+")
NUMBER = re.compile(r"(?<![A-Za-z])[$€£]?\d[\d,.]*(?:[kKmM%](?![A-Za-z]))?")
NOT_NAMES = frozenset(
    "I I'm I've I'll I'd So Again All Everyone Guys Team There Just We You Our The This It "
    "Thanks Thank Sir Madam Friend Folks".split()
)
"""Capitalised words after a greeting that are not a name ("Hi I'm Sam", "Thanks So much")."""
NON_WORD = re.compile(r"[^\w<>\s]+|_")
STOPWORDS = frozenset(
    "a an and are as at be but by can do for from have i if in is it its just me my of on or "
    "our so that the this to up we what when will with you your yours i'm it's you're let".split()
)


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


def normalise(text: str, names: set[str] | frozenset[str] = frozenset()) -> str:
    """Return ``text`` as scripts compare it (see the module docstring).

    Args:
        text: a setter's message.
        names: the lead's name words (any case): words equal to one become ``<name>``.
    """
    text = GREETING.sub(
        lambda m: (
            m.group(0)
            if m.group(1) in NOT_NAMES
            else m.group(0)[: m.start(1) - m.start(0)] + "<name>"
        ),
        text,
    )
    if "://" in text or "www." in text or "WWW." in text:  # skip the scans that cannot match
        text = URL.sub(" <url> ", text)
    if "@" in text:
        text = MENTION.sub(" <user> ", EMAIL.sub(" <email> ", text))
    text = NON_WORD.sub(" ", NUMBER.sub(" <num> ", text).lower())
    if not names:
        return " ".join(text.split())
    lowered = {n.lower() for n in names}
    return " ".join("<name>" if w in lowered else w for w in text.split())


def _bucket(text: str) -> int:
    """Return the blocking bucket of ``text``: log base 1.5 of its word count."""
    return int(math.log(max(1, text.count(" ") + 1), 1.5))


def cluster(
    texts: list[str],
    counts: list[int] | None = None,
    similarity: float = DEFAULT_SIMILARITY,
    scorer: str = "token_set_ratio",
) -> list[int]:
    """Group distinct normalised texts into scripts; return each text's leader index.

    A text is compared only with the leaders that hold two of its :data:`KEYS` rarest words
    (one, if it has a single one) among those some leader holds (so a typo, a word no leader
    has, is no key) and whose word count is close (:func:`_bucket`): two messages of one
    script share most words, so this blocking loses next to nothing that could score
    ``similarity``, and free text (support replies, nearly every message its own script) costs
    a few hundred candidates per text instead of every leader. Texts are taken in chunks:
    first each chunk's texts are scored against the leaders under their rarest word at once
    (:func:`rapidfuzz.process.cdist`, all cores; skipped for a word more than
    :data:`BATCH_LEADERS` leaders hold), then the rest one by one against all their candidates,
    new leaders included.

    Args:
        texts: distinct normalised texts.
        counts: how often each was sent (the most frequent are leaders first); None: all 1.
        similarity: the least score (0-100) to join a leader.
        scorer: a key of :data:`SCORERS`.

    Returns:
        For each text (same order), the index in ``texts`` of its script's leader (a leader
        maps to itself).

    Raises:
        ConfigurationError: an unknown scorer or a similarity outside 0..100.
    """
    if scorer not in SCORERS:
        raise ConfigurationError(
            f"unknown --scorer {scorer!r}", f"use one of: {', '.join(SCORERS)}"
        )
    if not 0 <= similarity <= 100:
        raise ConfigurationError(
            f"--similarity {similarity} is outside 0..100", "give a score such as 80"
        )
    score = SCORERS[scorer]
    weights = counts or [1] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: (-weights[i], texts[i]))
    words = [{w for w in t.split() if not w.startswith("<")} for t in texts]
    buckets = [_bucket(t) for t in texts]
    leader_of = [-1] * len(texts)
    index: dict[str, list[int]] = defaultdict(list)  # word -> leaders holding it

    def keys(i: int) -> list[str]:
        # the rarest of its words that some leader holds (a typo's word is held by none)
        # (a text of placeholders only meets the leaders of placeholders only; a text with
        # words no leader holds meets none)
        held = sorted((w for w in words[i] if w in index), key=lambda w: (len(index[w]), w))
        return held[:KEYS] if words[i] else [""]

    def candidates(i: int) -> list[int]:
        # leaders holding two of its keys (one when it has a single key), close in length
        under = keys(i)
        hits = Counter(j for k in under for j in index.get(k, ()))
        need = min(2, len(under))
        return [j for j, n in hits.items() if n >= need and abs(buckets[j] - buckets[i]) <= 1]

    for at in range(0, len(order), CHUNK):
        chunk = order[at : at + CHUNK]
        by_key: dict[str, list[int]] = defaultdict(list)
        for i in chunk:
            first = keys(i)
            if first:
                by_key[first[0]].append(i)
        for key, members in by_key.items():
            near = index.get(key)
            if not near or len(near) > BATCH_LEADERS:
                continue  # a common word: the texts go one by one, on their own keys
            matrix = process.cdist(
                [texts[i] for i in members],
                [texts[j] for j in near],
                scorer=score,
                score_cutoff=similarity,
                workers=-1,
            )
            rows = np.array([buckets[i] for i in members])[:, None]
            cols = np.array([buckets[j] for j in near])[None, :]
            matrix[np.abs(rows - cols) > 1] = 0  # blocked: lengths too far apart
            best = matrix.argmax(axis=1)
            for row, i in enumerate(members):
                if matrix[row, best[row]] >= similarity:
                    leader_of[i] = near[best[row]]
        for i in chunk:  # the rest, against every candidate, leaders made since included
            if leader_of[i] >= 0:
                continue
            near = candidates(i)
            hit = (
                process.extractOne(
                    texts[i], [texts[j] for j in near], scorer=score, score_cutoff=similarity
                )
                if near
                else None
            )
            if hit is None:
                leader_of[i] = i
                for w in words[i] or {""}:
                    index[w].append(i)
            else:
                leader_of[i] = near[hit[2]]
    return leader_of


def script_names(members: dict[str, Counter[str]]) -> dict[str, str]:
    """Name each script by its three most distinctive words (see the module docstring).

    Args:
        members: script id → its normalised texts with how often each was sent.

    Returns:
        Script id → name, e.g. ``"discount · offer · today"``; a script with no word left
        (placeholders only) is named by its text.
    """
    words: dict[str, Counter[str]] = {}
    df: Counter[str] = Counter()
    for sid, texts in members.items():
        c: Counter[str] = Counter()
        for text, n in texts.items():
            for w in text.split():
                if w.startswith("<") or w in STOPWORDS or len(w) < 3 or w.isdigit():
                    continue
                c[w] += n
        words[sid] = c
        df.update(set(c))
    total = len(members)
    names = {}
    for sid, c in words.items():
        ranked = sorted(c, key=lambda w: (-c[w] * math.log(1 + total / df[w]), w))
        names[sid] = " · ".join(ranked[:3]) or members[sid].most_common(1)[0][0]
    return names


def _names(customer: pl.DataFrame) -> dict[str, set[str]]:
    """Conversation id → the lead's name words, from customer messages' sender and attributes."""
    out: dict[str, set[str]] = defaultdict(set)
    import json

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
    lo, hi = day_range_utc(start, end, timezone)
    where = day_filter("conversations", "first", "last")
    params: dict[str, Any] = {
        "start": lo,
        "end": hi,
        "org": org,
        **day_params("first", None if start is None else start - timedelta(days=1)),
        **day_params("last", None if end is None else end + timedelta(days=1)),
    }
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
) -> ScriptBuild:
    """Cluster the setters' messages of the conversations started in the range into scripts.

    Raises:
        ConfigurationError: an unknown scorer or similarity.
        LakeError: no conversations, or no setter (role ``agent``) message in the range.
    """
    import time

    lake.require("conversations")
    t0 = time.perf_counter()
    messages = read_messages(lake, start, end, org, timezone)
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
    """Replace the lake's ``scripts`` table with ``result``: its days written, the others removed.

    Returns:
        The partitions written.
    """
    written = []
    for (y, m, d), part in result.rows.group_by(["year", "month", "day"], maintain_order=True):
        p = Partition(int(y), int(m), int(d))  # type: ignore[arg-type]
        lake.write_partition("scripts", p, part.drop("year", "month", "day"))
        written.append(p)
    keep = set(written)
    for p in lake.partitions("scripts"):
        if p not in keep:
            lake.delete(lake.path("scripts", p.path))
    return written
