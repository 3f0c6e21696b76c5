"""Posting the Slack digest: the reports, the digests, the posted record (:func:`digest_job`).

The digests are built from the reports (:mod:`.slack` lays out their Block Kit payloads) and
posted through :mod:`.slack_client` (a bot token or an incoming webhook, retries, one-line
errors). A digest posted for a period, zone and org is recorded in ``state/<lake>/digests.json``
(:class:`DigestStore`; the record's logic is :func:`~.slack.record_posted`) as soon as all its
messages are posted, so a re-run skips it unless ``--force``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from analytics_framework.conversations import ConversationFilter, list_conversations
from analytics_framework.errors import (
    ConfigurationError,
    InputNotFoundError,
    LakeError,
)
from analytics_framework.exports.base import ExportContext
from analytics_framework.exports.slack import (
    Digest,
    Routes,
    digest_periods,
    metrics_from_row,
    new_digest_state,
    parse_routes,
    payloads,
    posted_entry,
    previous_period,
    record_posted,
    slow_agents_from_rows,
    top_from_rows,
    validate_digest_state,
)
from analytics_framework.exports.slack_client import SlackPoster, open_poster
from analytics_framework.reports import get_report, run_report
from analytics_framework.settings import Settings
from analytics_framework.state import StateFormatError
from analytics_framework.storage.lock import RunLock
from analytics_framework.storage.s3 import open_lake
from analytics_framework.storage.state_store import (
    CorruptStateError,
    StateLakeError,
    StateStore,
    lake_folder,
    lake_id,
)


def digests_path(settings: Settings) -> Path:
    """``state/<lake>/digests.json``: the record of posted digests, beside the pipelines'."""
    return lake_folder(settings.state_dir, settings.lake_uri) / "digests.json"


class DigestStore(StateStore):
    """The record of posted digests at a local path, written atomically (as a pipeline state).

    Args:
        path: the JSON file (:func:`digests_path`).
        lake: the identity of the lake the digests come from; a record naming another is
            refused.
    """

    def __init__(self, path: Path, lake: str) -> None:
        super().__init__(path, "digests", lake)

    def load(self) -> dict[str, Any]:
        """Return the record, or a new one when the file does not exist.

        Raises:
            CorruptStateError: unreadable, not JSON, or not a record of digests.
            StateLakeError: the record describes another lake.
        """
        lake = self.lake or ""
        if not self.path.exists():
            return new_digest_state(lake)
        fix = f"delete {self.path} to forget which digests were posted (a re-run posts again)"
        try:
            doc = validate_digest_state(json.loads(self.path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise CorruptStateError(f"cannot read {self.path}: {exc.strerror}", fix) from None
        except (ValueError, StateFormatError) as exc:
            raise CorruptStateError(f"{self.path} is not usable: {exc}", fix) from None
        if self.lake and doc.get("lake") not in (None, self.lake):
            raise StateLakeError(
                f"the digest record {self.path} describes the lake {doc['lake']}, not {lake}",
                f"pass --lake {doc['lake']}, or delete {self.path}",
            )
        return doc


# ---- the job: reports → digests → messages → Slack ----------------------------------------


@dataclass(frozen=True)
class DigestOptions:
    """What one ``analytics digest`` is asked to do.

    Attributes:
        period: ``daily``, ``weekly`` or ``monthly``.
        start / end: the days to digest (:func:`~.slack.digest_periods`); None: the last
            complete period.
        org: only this org. by: ``org`` for one digest per org, routed by ``routes``.
        routes: the routes TOML, else the setting ``ANALYTICS_SLACK_ROUTES``, else none.
        chart: upload a chart into each digest's thread (bot token only).
        dry_run: build the messages, post nothing, record nothing.
        force: post digests the record says were posted already.
        top: values shown per top list (topics, objections).
    """

    period: str = "daily"
    start: date | None = None
    end: date | None = None
    org: str | None = None
    by: str | None = None
    routes: Path | None = None
    chart: bool = False
    dry_run: bool = False
    force: bool = False
    top: int = 5


@dataclass
class DigestPost:
    """One digest and what became of it: ``posted``, ``already posted`` or ``dry run``."""

    digest: Digest
    channel: str | None
    messages: list[dict[str, Any]]
    status: str = "dry run"
    ts: list[str] = field(default_factory=list)
    chart: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the post as JSON-ready data (what ``--dry-run`` prints)."""
        return {
            "key": self.digest.key,
            "period": self.digest.period,
            "start_date": self.digest.start.isoformat(),
            "org": self.digest.org,
            "channel": self.channel,
            "status": self.status,
            "chart": self.chart,
            "messages": self.messages,
        }


@dataclass
class DigestOutcome:
    """What :func:`digest_job` did, digest by digest, and its notes (skipped parts)."""

    posts: list[DigestPost]
    notes: list[str]

    def to_json(self) -> str:
        """Every digest with its messages, as a JSON document (secrets are never in it)."""
        doc = {"digests": [p.as_dict() for p in self.posts], "notes": self.notes}
        return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"


def load_routes(path: str | Path | None) -> Routes | None:
    """Read the routes TOML at ``path`` (None: no routes).

    Raises:
        InputNotFoundError: the file does not exist or cannot be read.
        ConfigurationError: it is not a routes file (:func:`~.slack.parse_routes`).
    """
    if path is None or str(path) == "":
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputNotFoundError(
            f"cannot read the routes file {path}: {exc.strerror}",
            "pass --routes FILE (or ANALYTICS_SLACK_ROUTES) naming an existing TOML file",
        ) from None
    return parse_routes(text, str(path))


def channel_for(
    org: str | None, routes: Routes | None, settings: Settings, kind: str | None
) -> tuple[str | None, str]:
    """Return the channel a digest of ``org`` goes to, and where it came from (for errors).

    The org's route, else the routes' ``default``, else ``SLACK_CHANNEL``. A webhook posts to
    its own channel (None). ``kind`` None (a dry run without Slack settings) never fails.

    Raises:
        ConfigurationError: a bot token and no channel for ``org``.
    """
    if kind == "webhook":
        return None, "SLACK_WEBHOOK_URL"
    if routes is not None and org is not None and org in routes.orgs:
        return routes.orgs[org], f"the route of {org} in {routes.source}"
    if routes is not None and routes.default:
        return routes.default, f"the default route in {routes.source}"
    if settings.slack_channel:
        return settings.slack_channel, "SLACK_CHANNEL"
    if kind is None:
        return None, "SLACK_CHANNEL"
    if routes is not None:
        raise ConfigurationError(
            f"no Slack channel for org {org!r}: {routes.source} has no route for it and no default",
            f'add {org} = "#channel" under [orgs] in {routes.source}, or default = "#channel" '
            "(or set SLACK_CHANNEL)",
        )
    raise ConfigurationError(
        "SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not", "set SLACK_CHANNEL, e.g. #support"
    )


def build_digests(
    settings: Settings, options: DigestOptions, periods: list[tuple[date, date]]
) -> tuple[list[Digest], list[str]]:
    """Run the reports over the periods and return the digests (period by period, org by org).

    One ``overview --compare previous`` from the period before the first, one ``topics`` (its
    absence — no labels — is a note, not an error), one ``agents --sort frt_median_s --limit 3``
    per org, and one query per digest with unanswered conversations for the oldest of them.

    Raises:
        LakeError: the lake has no conversations, or cannot be read.
        ConfigurationError: an unknown ``--org`` or grouping.
    """
    lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    lake.require("conversations")
    tz, period = settings.timezone, options.period
    first, last = periods[0][0], periods[-1][1]
    by = "org" if options.by == "org" else None
    common: dict[str, Any] = {"period": period, "org": options.org, "by": by, "timezone": tz}
    overview = run_report(
        get_report("overview"),
        lake,
        start=previous_period(first, period),
        end=last,
        options={"compare": "previous"},
        **common,
    )
    units = {c: overview.column(c).unit for c in overview.columns}
    notes: list[str] = []
    try:
        topics: list[dict[str, Any]] | None = run_report(
            get_report("topics"), lake, start=first, end=last, **common
        ).rows
    except LakeError as exc:
        if "labels" not in exc.message:
            raise
        topics = None
        notes.append("topics skipped: no labels (run analytics enrich)")
    rows = {(r["period"], r.get("org_id") if by else options.org): r for r in overview.rows}
    if options.org is not None and not overview.rows:  # an unknown --org fails, naming it
        list_conversations(lake, ConversationFilter(org=options.org), limit=1)
    orgs: list[str | None] = [options.org]
    if by:
        days = {s.isoformat() for s, _ in periods}
        orgs = sorted({r["org_id"] for r in overview.rows if r["period"] in days and r["org_id"]})
    digests = []
    for org in orgs:
        agents = run_report(
            get_report("agents"),
            lake,
            period=period,
            start=first,
            end=last,
            org=org,
            timezone=tz,
            options={"sort": "frt_median_s", "limit": 3},
        ).rows
        for start, end in periods:
            row = rows.get((start.isoformat(), org))
            if by and row is None:
                continue  # the org had no conversation in that period
            digest = Digest(
                period,
                start,
                end,
                tz,
                org,
                lake_id(settings.lake_uri),
                metrics=metrics_from_row(row, units) if row else [],
                top=top_from_rows(topics, start, org, options.top) if topics is not None else {},
                unanswered=(row or {}).get("unanswered") or 0,
                slow_agents=slow_agents_from_rows(agents, start),
                notes=list(notes),
            )
            if digest.unanswered:
                digest.oldest_waiting = _oldest_waiting(lake, digest)
            digests.append(digest)
    digests.sort(key=lambda d: (d.start, d.org or ""))
    return digests, notes


def _oldest_waiting(lake: Any, digest: Digest) -> tuple[str, str] | None:
    """Return the oldest unanswered conversation: (id, ``2017-10-31 08:12 UTC``), or None."""
    page = list_conversations(
        lake,
        ConversationFilter(org=digest.org, unanswered=True, start=digest.start, end=digest.end),
        limit=1,
        offset=max(digest.unanswered - 1, 0),  # newest first: the last one is the oldest
        timezone=digest.timezone,
    )
    if not page.rows:
        return None
    row = page.rows[-1]
    return row[
        "conversation_id"
    ], f"{str(row['started_at'])[:16].replace('T', ' ')} {digest.timezone}"


def draw_chart(settings: Settings, digest: Digest) -> tuple[str, bytes] | None:
    """Return the digest's chart (file name, PNG bytes), or None when none is drawn.

    The overview over the trailing periods (14 days, 12 weeks or 12 months) up to the digest's,
    drawn by :func:`analytics_framework.exports.charts.draw` (its conversations chart).
    """
    from analytics_framework.exports import charts

    start = digest.start
    for _ in range(13 if digest.period == "daily" else 11):
        start = previous_period(start, digest.period)
    lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    result = run_report(
        get_report("overview"),
        lake,
        period=digest.period,
        start=start,
        end=digest.end,
        org=digest.org,
        timezone=digest.timezone,
    )
    ctx = ExportContext(
        results={"overview": result},
        lake_uri=digest.lake,
        generated_at=datetime.now(UTC),
        filters={
            "period": digest.period,
            "timezone": digest.timezone,
            "start_date": start.isoformat(),
            "end_date": digest.end.isoformat(),
            "org": digest.org,
            "by": None,
            "compare": None,
        },
    )
    files = charts.draw(ctx, "png")
    return next((f for f in files if f[0].startswith("01_")), files[0] if files else None)


def digest_job(
    settings: Settings,
    options: DigestOptions,
    *,
    poster: SlackPoster | None = None,
    store: DigestStore | None = None,
    today: date | None = None,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> DigestOutcome:
    """Build the digests of ``options`` and post each one not posted yet (or print them).

    Every check that can fail (Slack settings, routes, channels) runs before the first post;
    each digest is recorded in :class:`DigestStore` as soon as all its messages are posted, so
    a re-run after a failure posts only what is missing. Posting holds the record's lock.

    Args:
        settings: lake, zone, Slack settings.
        options: what to digest and how.
        poster: the poster to use (tests hand one in); None: :func:`open_poster`.
        store: the record of posted digests; None: :func:`digests_path`.
        today: the day "the last complete period" is counted from (in the settings' zone).
        on_retry: called before each retry wait with the error and the seconds.

    Raises:
        ConfigurationError: Slack not configured, a bad period, option, routes file or route.
        LakeError: the lake has no conversations.
        ServiceAuthError / ServiceError / TransientError: Slack refused or stayed unreachable.
        LockHeldError: another digest run is posting for this lake.
    """
    if options.by not in (None, "org"):
        raise ConfigurationError(f"digest has no --by {options.by!r}", "use --by org, or drop it")
    routes = load_routes(options.routes or settings.slack_routes)
    if poster is None and not options.dry_run:
        poster = open_poster(settings, on_retry=on_retry)
    kind = poster.kind if poster is not None else None
    if kind == "webhook" and routes is not None:
        raise ConfigurationError(
            "routes send digests to channels, and a webhook posts only to its own",
            "set SLACK_BOT_TOKEN to route by org, or drop --routes / ANALYTICS_SLACK_ROUTES",
        )
    today = today or datetime.now(ZoneInfo(settings.timezone)).date()
    periods = digest_periods(options.period, options.start, options.end, today)
    digests, notes = build_digests(settings, options, periods)
    posts = [
        DigestPost(d, channel_for(d.org, routes, settings, kind)[0], payloads(d)) for d in digests
    ]
    store = store or DigestStore(digests_path(settings), lake_id(settings.lake_uri))
    state = store.load()
    for post in posts:
        if not options.force and posted_entry(state, post.digest.key) is not None:
            post.status = "already posted"
    todo = [p for p in posts if p.status != "already posted"]
    if options.chart and kind == "webhook" and todo:
        notes.append("chart skipped: uploads need SLACK_BOT_TOKEN (a webhook cannot upload)")
    if options.dry_run or not todo:
        if options.chart and kind != "webhook":
            for post in todo:
                drawn = draw_chart(settings, post.digest)
                post.chart = drawn[0] if drawn else None
        return DigestOutcome(posts, notes)
    assert poster is not None
    with RunLock(store.path, "digest"):
        state = store.load()  # again, under the lock: another run may have posted meanwhile
        for post in todo:
            if not options.force and posted_entry(state, post.digest.key) is not None:
                post.status = "already posted"
                continue
            state = _post_one(settings, options, poster, routes, post, state, notes)
            store.save(state)
    return DigestOutcome(posts, notes)


def _post_one(
    settings: Settings,
    options: DigestOptions,
    poster: SlackPoster,
    routes: Routes | None,
    post: DigestPost,
    state: dict[str, Any],
    notes: list[str],
) -> dict[str, Any]:
    """Post one digest's messages (and chart); return the record with it posted."""
    channel, source = channel_for(post.digest.org, routes, settings, poster.kind)
    first: dict[str, Any] | None = None
    for payload in post.messages:
        sent = poster.post(payload, channel, source)
        first = first or sent
        if sent.get("ts"):
            post.ts.append(sent["ts"])
    if options.chart and poster.kind == "bot" and first and first.get("channel"):
        drawn = draw_chart(settings, post.digest)
        if drawn is None:
            notes.append(f"{post.digest.title()}: no chart drawn, posted without one")
        else:
            name, data = drawn
            poster.upload(first["channel"], first.get("ts"), name, data, post.digest.title())
            post.chart = name
    post.status = "posted"
    entry = {
        "channel": channel or "webhook",
        "ts": post.ts,
        "messages": len(post.messages),
        "posted_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return record_posted(state, post.digest.key, entry)
