"""The Slack digest as data, and its Block Kit payloads: pure functions, no I/O.

A :class:`Digest` is one period (and org) summed up from the reports: the key metrics of
``overview --compare previous`` with their change, the top topics and objections (``topics``),
the unanswered conversations (the overview's count, and the oldest one waiting), the agents with
the slowest first response time (``agents --sort frt_median_s --limit 3``), and the metric
version and lake. :func:`payloads` turns it into the messages to post, each inside Slack's limits
(:class:`SlackLimits`, https://api.slack.com/reference/block-kit/blocks): at most 50 blocks, 3,000
characters per text, 10 fields per section (2,000 characters each), 150 per header. Longer lists
become more sections, and more blocks than one message holds become several messages, the later
ones opening with a "continued" context line.

Also here, as pure functions: the periods a digest covers (:func:`digest_periods`), the routing
file of ``--by org`` (:func:`parse_routes`), and the record of digests already posted, a JSON
document changed only by :func:`record_posted` (written by
:class:`analytics_framework.exports.slack_post.DigestStore`).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from analytics_framework.errors import ConfigurationError
from analytics_framework.exports.formatting import MISSING, duration
from analytics_framework.model import METRIC_VERSION
from analytics_framework.state import StateFormatError


@dataclass(frozen=True)
class SlackLimits:
    """Slack's Block Kit limits the payloads keep to (characters, blocks, fields)."""

    blocks: int = 50
    text: int = 3000
    fields: int = 10
    field_text: int = 2000
    header: int = 150
    context_elements: int = 10
    fallback: int = 3000
    message_chars: int = 12_000
    """Text per message (all blocks together): Slack documents no total, but refuses very long
    messages (``msg_too_long``) and folds long ones; beyond this a digest is split."""


LIMITS = SlackLimits()

KEY_METRICS: tuple[tuple[str, str], ...] = (
    ("conversations", "Conversations"),
    ("unanswered", "Unanswered"),
    ("reply_rate_pct", "Reply rate"),
    ("frt_median_s", "FRT median"),
    ("response_median_s", "Response median"),
    ("resolution_median_s", "Resolution median"),
    ("csat_pct", "CSAT"),
    ("predicted_csat_pct", "Predicted CSAT"),
    ("resolution_pct", "Resolved"),
    ("fcr_pct", "FCR"),
)
"""The overview columns shown as key metrics, with their Slack labels (DESIGN.md, v1)."""

TOP_DIMENSIONS = (("topic", "Top topics"), ("objection", "Top objections"))


@dataclass(frozen=True)
class Metric:
    """One key metric: this period's value, the previous period's, and the change.

    Attributes:
        unit: ``count``, ``seconds``, ``percent`` or ``ratio`` (the report column's unit).
        change: relative change in percent for counts and durations, points for rates;
            None without a previous value (or from 0).
    """

    name: str
    label: str
    unit: str
    value: Any
    previous: Any
    change: float | None
    relative: bool


@dataclass(frozen=True)
class Ranked:
    """One value of a top list: a topic or objection, its conversations and share (%)."""

    value: str
    conversations: int
    share_pct: float | None


@dataclass(frozen=True)
class SlowAgent:
    """An agent with a slow first response: FRT median (seconds) over their conversations."""

    agent_id: str | None
    frt_median_s: float
    conversations: int


@dataclass
class Digest:
    """One digest: a period (``[start, end)`` in ``timezone``) of one org, or of all.

    Attributes:
        metrics: the key metrics (empty when no conversation started in the period).
        top: dimension (``topic``, ``objection``) → its top values; a missing key: no labels.
        oldest_waiting: the oldest unanswered conversation: (id, started_at ISO 8601), or None.
    """

    period: str
    start: date
    end: date
    timezone: str
    org: str | None
    lake: str
    metrics: list[Metric] = field(default_factory=list)
    top: dict[str, list[Ranked]] = field(default_factory=dict)
    unanswered: int = 0
    oldest_waiting: tuple[str, str] | None = None
    slow_agents: list[SlowAgent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    metric_version: int = METRIC_VERSION

    @property
    def key(self) -> str:
        """The digest's identity in the posted record (:func:`digest_key`)."""
        return digest_key(self.period, self.start, self.timezone, self.org)

    def title(self) -> str:
        """``Daily digest · AppleSupport · 2017-10-31`` (a range for weeks and months)."""
        days = self.start.isoformat()
        if self.end - self.start > timedelta(days=1):
            days += f" – {(self.end - timedelta(days=1)).isoformat()}"
        return f"{self.period.capitalize()} digest · {self.org or 'all orgs'} · {days}"


# ---- reading the reports' rows ------------------------------------------------------------


def metrics_from_row(row: dict[str, Any], units: dict[str, str]) -> list[Metric]:
    """Return the key metrics of one ``overview --compare previous`` row.

    Args:
        row: the row, with ``<name>_prev`` and ``<name>_change_pct`` (counts, durations) or
            ``<name>_change`` (rates, points) beside each metric.
        units: column name → unit, from the result's column metadata.
    """
    out = []
    for name, label in KEY_METRICS:
        if name not in row:
            continue
        relative = f"{name}_change_pct" in row
        change = row.get(f"{name}_change_pct" if relative else f"{name}_change")
        out.append(
            Metric(
                name,
                label,
                units.get(name, "count"),
                row[name],
                row.get(f"{name}_prev"),
                change,
                relative,
            )
        )
    return out


def top_from_rows(
    rows: list[dict[str, Any]], period: date, org: str | None, limit: int = 5
) -> dict[str, list[Ranked]]:
    """Return the top ``limit`` values of each dimension of ``topics`` rows for one period."""
    out: dict[str, list[Ranked]] = {dim: [] for dim, _ in TOP_DIMENSIONS}
    for row in rows:
        dim = row.get("dimension")
        if row.get("period") != period.isoformat() or dim not in out or row.get("value") is None:
            continue
        if org is not None and "org_id" in row and row["org_id"] != org:
            continue
        if len(out[dim]) < limit:
            out[dim].append(Ranked(str(row["value"]), row["conversations"], row.get("share_pct")))
    return out


def slow_agents_from_rows(rows: list[dict[str, Any]], period: date) -> list[SlowAgent]:
    """Return the agents of ``agents --sort frt_median_s`` rows for one period, slowest first."""
    return [
        SlowAgent(r.get("agent_id"), r["frt_median_s"], r.get("conversations") or 0)
        for r in sorted(rows, key=lambda r: r.get("rank") or 0)
        if r.get("period") == period.isoformat() and r.get("frt_median_s") is not None
    ]


# ---- formatting ---------------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` for Slack mrkdwn (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def value_text(value: Any, unit: str) -> str:
    """Render a metric value by its unit (:func:`~.formatting.duration` for seconds)."""
    if value is None:
        return MISSING
    if unit == "seconds":
        return duration(value)
    if unit == "percent":
        return f"{float(value):.1f}%"
    if unit == "ratio":
        return f"{float(value):+.2f}"
    return f"{int(value):,}"


def change_text(metric: Metric) -> str:
    """``▲ 12.5% vs 1,020`` (relative) or ``▼ 3.1 pts vs 84.0%`` (rates), ``= vs 0``, or ``""``.

    Empty without a value; ``no previous period`` when only this period has one; ``▲ from 0``
    for a relative change from 0 (which has no percentage).
    """
    if metric.value is None:
        return ""
    if metric.previous is None:
        return "no previous period"
    was = f"vs {value_text(metric.previous, metric.unit)}"
    if metric.value == metric.previous or (metric.change is not None and abs(metric.change) < 0.05):
        return f"= {was}"
    if metric.change is None:
        return "▲ from 0"
    arrow = "▲" if metric.change > 0 else "▼"
    amount = f"{abs(metric.change):.1f}%" if metric.relative else f"{abs(metric.change):.1f} pts"
    return f"{arrow} {amount} {was}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chunks(lines: list[str], limit: int) -> list[str]:
    """Join ``lines`` into texts of at most ``limit`` characters (a longer line is cut)."""
    out: list[str] = []
    current = ""
    for line in (_cut(x, limit) for x in lines):
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _list_sections(title: str, lines: list[str], limits: SlackLimits) -> list[dict[str, Any]]:
    return [_section(t) for t in _chunks([f"*{title}*", *lines], limits.text)]


# ---- blocks and messages ------------------------------------------------------------------


def digest_blocks(digest: Digest, limits: SlackLimits = LIMITS) -> list[dict[str, Any]]:
    """Return every block of ``digest``, in order, each inside ``limits`` (not yet split)."""
    header = {"type": "plain_text", "text": _cut(digest.title(), limits.header)}
    blocks: list[dict[str, Any]] = [{"type": "header", "text": header}]
    if not digest.metrics:
        blocks.append(_section("No conversations started in this period."))
    fields = [
        {
            "type": "mrkdwn",
            "text": _cut(
                f"*{m.label}*\n{value_text(m.value, m.unit)}   {change_text(m)}".rstrip(),
                limits.field_text,
            ),
        }
        for m in digest.metrics
    ]
    for i in range(0, len(fields), limits.fields):
        blocks.append({"type": "section", "fields": fields[i : i + limits.fields]})
    for dim, title in TOP_DIMENSIONS:
        if dim not in digest.top:
            continue
        items = digest.top[dim] or []
        lines = [
            f"{n}. {escape(r.value)} — {r.conversations:,}"
            + (f" ({r.share_pct:.1f}%)" if r.share_pct is not None else "")
            for n, r in enumerate(items, 1)
        ] or ["none in this period"]
        blocks += _list_sections(title, lines, limits)
    waiting = f"*Unanswered:* {digest.unanswered:,} conversation(s) with no human reply"
    if digest.oldest_waiting is not None:
        conv, since = digest.oldest_waiting
        waiting += f"\nOldest waiting: `{escape(conv)}` since {since}"
    blocks.append(_section(_cut(waiting, limits.text)))
    if digest.slow_agents:
        lines = [
            f"{n}. `{escape(a.agent_id or 'no sender id')}` — {duration(a.frt_median_s)} "
            f"over {a.conversations:,} conversation(s)"
            for n, a in enumerate(digest.slow_agents, 1)
        ]
        blocks += _list_sections("Slowest first response (FRT median)", lines, limits)
    context = [
        f"metric definitions v{digest.metric_version}",
        f"lake {digest.lake}",
        f"zone {digest.timezone}",
        *digest.notes,
    ]
    for i in range(0, len(context), limits.context_elements):
        elements = [
            {"type": "mrkdwn", "text": _cut(escape(c), limits.text)}
            for c in context[i : i + limits.context_elements]
        ]
        blocks.append({"type": "context", "elements": elements})
    return blocks


def fallback_text(digest: Digest, limits: SlackLimits = LIMITS) -> str:
    """Return the notification text: the title, conversations and unanswered."""
    value = {m.name: m for m in digest.metrics}
    words = [digest.title()]
    if "conversations" in value:
        conv = value["conversations"]
        words.append(f"{value_text(conv.value, 'count')} conversations ({change_text(conv)})")
    words.append(f"{digest.unanswered:,} unanswered")
    return _cut(f"{words[0]}: {', '.join(words[1:])}", limits.fallback)


def payloads(digest: Digest, limits: SlackLimits = LIMITS) -> list[dict[str, Any]]:
    """Return the messages (``{"text", "blocks"}``) that post ``digest``, each within ``limits``.

    The blocks are split into messages of at most ``limits.blocks`` blocks and about
    ``limits.message_chars`` characters of JSON; each message after the first opens with a
    context line ``<title> (continued 2/3)``.
    """
    blocks = digest_blocks(digest, limits)
    parts: list[list[dict[str, Any]]] = [[]]
    chars = 0
    for block in blocks:
        size = len(json.dumps(block, ensure_ascii=False))
        full = len(parts[-1]) >= limits.blocks - 1  # room for the continuation line
        if parts[-1] and (full or chars + size > limits.message_chars):
            parts.append([])
            chars = 0
        parts[-1].append(block)
        chars += size
    text = fallback_text(digest, limits)
    out = []
    for n, part in enumerate(parts, 1):
        if n > 1:
            note = f"{escape(digest.title())} (continued {n}/{len(parts)})"
            part = [{"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}, *part]
        label = (
            text
            if n == 1
            else _cut(f"{digest.title()} (continued {n}/{len(parts)})", limits.fallback)
        )
        out.append({"text": label, "blocks": part})
    return out


def limit_problems(payload: dict[str, Any], limits: SlackLimits = LIMITS) -> list[str]:
    """Return how ``payload`` breaks Slack's limits (empty when it keeps to them)."""
    problems = []
    blocks = payload.get("blocks", [])
    if len(blocks) > limits.blocks:
        problems.append(f"{len(blocks)} blocks > {limits.blocks}")
    if len(payload.get("text", "")) > limits.fallback:
        problems.append("text too long")
    for i, block in enumerate(blocks):
        text = (block.get("text") or {}).get("text", "")
        cap = limits.header if block["type"] == "header" else limits.text
        if len(text) > cap:
            problems.append(f"block {i}: text of {len(text)} > {cap}")
        fields = block.get("fields", [])
        if len(fields) > limits.fields:
            problems.append(f"block {i}: {len(fields)} fields > {limits.fields}")
        problems += [
            f"block {i}: a field of {len(f['text'])} > {limits.field_text}"
            for f in fields
            if len(f["text"]) > limits.field_text
        ]
        elements = block.get("elements", [])
        if len(elements) > limits.context_elements:
            problems.append(f"block {i}: {len(elements)} context elements")
    return problems


# ---- periods ------------------------------------------------------------------------------


def period_start(day: date, period: str) -> date:
    """Return the first day of the ``daily``/``weekly`` (Monday)/``monthly`` period of ``day``."""
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return day


def next_period(start: date, period: str) -> date:
    """Return the first day of the period after the one starting on ``start``."""
    if period == "weekly":
        return start + timedelta(days=7)
    if period == "monthly":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start + timedelta(days=1)


def previous_period(start: date, period: str) -> date:
    """Return the first day of the period before the one starting on ``start``."""
    return period_start(start - timedelta(days=1), period)


def digest_periods(
    period: str, start: date | None, end: date | None, today: date
) -> list[tuple[date, date]]:
    """Return the half-open periods ``[(start, end), …]`` to digest, oldest first.

    Without dates, the last complete period before ``today`` (yesterday, last week, last month);
    with ``start`` only, the period holding it; with both, every period from the one holding
    ``start`` up to ``end`` (excluded), so a missed run can be caught up.

    Raises:
        ConfigurationError: an unknown period, or ``end`` without ``start``, or an empty range.
    """
    if period not in ("daily", "weekly", "monthly"):
        raise ConfigurationError(
            f"unknown period {period!r}", "use --period daily, weekly or monthly"
        )
    if start is None:
        if end is not None:
            raise ConfigurationError("--end-date needs --start-date", "pass both, or neither")
        first = previous_period(period_start(today, period), period)
        return [(first, next_period(first, period))]
    first = period_start(start, period)
    last = end or next_period(first, period)
    out = []
    while first < last:
        out.append((first, next_period(first, period)))
        first = out[-1][1]
    if not out:
        raise ConfigurationError(f"no {period} period in --start-date {start} to --end-date {end}")
    return out


# ---- routes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Routes:
    """Where ``--by org`` digests go: org → channel, and the default channel (or None)."""

    orgs: dict[str, str]
    default: str | None
    source: str = "the routes file"

    def channel(self, org: str | None) -> str | None:
        """Return the channel of ``org``: its route, else the default, else None."""
        return self.orgs.get(org or "", self.default)


def parse_routes(text: str, source: str) -> Routes:
    """Parse a routes TOML: ``default = "#support"`` then ``[orgs]`` ``AppleSupport = "#apple"``.

    A ``default`` key inside ``[orgs]`` is read as the default too.

    Raises:
        ConfigurationError: not TOML, or a channel that is not a string (naming ``source``).
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"the routes file {source} is not TOML ({exc})",
            'write default = "#support" then [orgs] and lines such as AppleSupport = "#apple"',
        ) from None
    orgs = doc.get("orgs", {})
    default = doc.get("default", orgs.get("default") if isinstance(orgs, dict) else None)
    bad = [k for k, v in (orgs.items() if isinstance(orgs, dict) else []) if not isinstance(v, str)]
    if not isinstance(orgs, dict) or bad or not isinstance(default, str | None):
        raise ConfigurationError(
            f"the routes file {source} maps {', '.join(bad) or 'something'} to a non-channel",
            'write each route as Org = "#channel" under [orgs]',
        )
    return Routes({k: v for k, v in orgs.items() if k != "default"}, default, source)


# ---- the record of posted digests ---------------------------------------------------------

DIGESTS_SCHEMA = 1
POSTED_LIMIT = 5_000
"""Most recent posted digests kept in the record; older ones are dropped."""


def digest_key(period: str, start: date, timezone: str, org: str | None) -> str:
    """``daily/2017-10-31/UTC/AppleSupport`` (``*`` for all orgs): one digest's identity."""
    return f"{period}/{start.isoformat()}/{timezone}/{org if org is not None else '*'}"


def new_digest_state(lake: str) -> dict[str, Any]:
    """Return an empty record of posted digests for ``lake``."""
    return {"schema_version": DIGESTS_SCHEMA, "kind": "slack-digests", "lake": lake, "posted": {}}


def validate_digest_state(doc: Any) -> dict[str, Any]:
    """Check a loaded record's shape and return it.

    Raises:
        StateFormatError: not an object, another schema version, or no ``posted`` object.
    """
    if not isinstance(doc, dict) or doc.get("kind") != "slack-digests":
        raise StateFormatError("not a record of Slack digests")
    if doc.get("schema_version") != DIGESTS_SCHEMA:
        raise StateFormatError(f"schema_version {doc.get('schema_version')!r} is not 1")
    if not isinstance(doc.get("posted"), dict):
        raise StateFormatError("'posted' is missing or not an object")
    return doc


def posted_entry(state: dict[str, Any], key: str) -> dict[str, Any] | None:
    """Return how the digest ``key`` was posted (channel, ts, posted_at), or None."""
    return state["posted"].get(key)


def record_posted(
    state: dict[str, Any], key: str, entry: dict[str, Any], limit: int = POSTED_LIMIT
) -> dict[str, Any]:
    """Return ``state`` recording digest ``key`` as posted (``entry``: channel, ts, posted_at).

    The input is never changed; past ``limit`` entries the oldest (by ``posted_at``) go.
    """
    posted = {**state["posted"], key: entry}
    if len(posted) > limit:
        keep = sorted(posted, key=lambda k: str(posted[k].get("posted_at", "")))[-limit:]
        posted = {k: posted[k] for k in keep}
    return {**state, "posted": posted}
