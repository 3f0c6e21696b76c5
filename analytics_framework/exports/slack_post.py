"""Posting the Slack digest: the slack_sdk clients, retries, one-line errors, the posted record.

Two ways to post, both through the official ``slack_sdk``:

- a bot token (``SLACK_BOT_TOKEN``): ``WebClient.chat_postMessage`` to ``SLACK_CHANNEL``, or to
  each org's channel from the routes file of ``--by org``; ``--chart`` uploads a chart with
  ``files_upload_v2`` into the digest's thread;
- an incoming webhook (``SLACK_WEBHOOK_URL``): ``WebhookClient``, to the webhook's own channel.

slack_sdk's own retry handlers are off (``retry_handlers=[]``) so that retrying happens once, in
the shared HTTP layer (:func:`analytics_framework.http.retrying`): a 429 (or ``ratelimited``)
raises :class:`~analytics_framework.errors.RateLimitedError` and waits at least its
``Retry-After``; a 5xx, a timeout or a lost connection raises
:class:`~analytics_framework.errors.TransientError` and backs off. Anything else is one line
naming the setting to fix (``invalid_auth`` → ``SLACK_BOT_TOKEN``, ``channel_not_found`` /
``not_in_channel`` → ``SLACK_CHANNEL`` or the org's route, a webhook's ``no_service`` →
``SLACK_WEBHOOK_URL``); no message ever carries the token or the webhook URL.

A digest posted for a period, zone and org is recorded in ``state/<lake>/digests.json``
(:class:`DigestStore`; the record's logic is :func:`~.slack.record_posted`) as soon as all its
messages are posted, so a re-run skips it unless ``--force``.
:func:`digest_job` runs the reports, builds the digests and posts them.
"""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from analytics_framework.conversations import ConversationFilter, list_conversations
from analytics_framework.errors import (
    AnalyticsError,
    ConfigurationError,
    InputNotFoundError,
    LakeError,
    RateLimitedError,
    ServiceAuthError,
    ServiceError,
    TransientError,
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
from analytics_framework.http import RetryPolicy, excerpt, retry_after_s, retrying
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

T = TypeVar("T")

NOT_CONFIGURED = ConfigurationError(
    "Slack is not configured: neither SLACK_BOT_TOKEN nor SLACK_WEBHOOK_URL is set",
    "set SLACK_BOT_TOKEN (and SLACK_CHANNEL) or SLACK_WEBHOOK_URL, or preview with --dry-run",
)

TOKEN_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
CHANNEL_ERRORS = {
    "channel_not_found": "Slack has no channel {channel} the bot can see (channel_not_found)",
    "not_in_channel": "the bot is not a member of {channel} (not_in_channel)",
    "is_archived": "the channel {channel} is archived (is_archived)",
}
TRANSIENT_ERRORS = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
WEBHOOK_ERRORS = {
    "no_service": "Slack does not know the webhook (no_service: removed or mistyped)",
    "no_team": "the webhook's workspace is gone (no_team)",
    "team_disabled": "the webhook's workspace is disabled (team_disabled)",
    "invalid_token": "Slack refused the webhook's token (invalid_token)",
    "action_prohibited": "an admin blocked the webhook (action_prohibited)",
    "channel_not_found": "the webhook's channel is gone (channel_not_found)",
    "channel_is_archived": "the webhook's channel is archived (channel_is_archived)",
}


class SlackPoster:
    """Posts messages and uploads files through a slack_sdk client, retrying what is transient.

    Pass one client (I/O is handed in, so a test hands in clients pointed at a local server).

    Args:
        web: a ``WebClient`` with a bot token (``retry_handlers=[]``), or None.
        webhook: a ``WebhookClient`` (``retry_handlers=[]``), or None.
        policy: attempts and backoff (:class:`~analytics_framework.http.RetryPolicy`).
        on_retry: called before each wait with the error and the seconds about to be waited.
    """

    def __init__(
        self,
        *,
        web: WebClient | None = None,
        webhook: WebhookClient | None = None,
        policy: RetryPolicy | None = None,
        on_retry: Callable[[BaseException, float], None] | None = None,
    ) -> None:
        if (web is None) == (webhook is None):
            raise ValueError("pass exactly one of web and webhook")
        self.web = web
        self.webhook = webhook
        self.policy = policy or RetryPolicy()
        self.on_retry = on_retry

    @property
    def kind(self) -> str:
        """``bot`` (Web API, channels, uploads) or ``webhook`` (its own channel only)."""
        return "bot" if self.web is not None else "webhook"

    def post(self, payload: dict[str, Any], channel: str | None, source: str) -> dict[str, Any]:
        """Post one message (``{"text", "blocks"}``); return ``{"channel", "ts"}`` (ids or None).

        Args:
            payload: the message.
            channel: the channel (bot token); ignored by a webhook.
            source: where ``channel`` came from (``SLACK_CHANNEL``, an org's route), for errors.

        Raises:
            ConfigurationError: a bot token without a channel.
            ServiceAuthError / ServiceError: Slack refused (naming the setting to fix).
            TransientError / RateLimitedError: still failing when retries ran out.
        """
        if self.web is not None:
            web = self.web
            if not channel:
                raise ConfigurationError(
                    "no Slack channel to post to", "set SLACK_CHANNEL, e.g. SLACK_CHANNEL=#support"
                )
            resp = self._web(
                lambda: web.chat_postMessage(
                    channel=channel, text=payload["text"], blocks=payload["blocks"]
                ),
                channel,
                source,
            )
            return {"channel": resp.get("channel"), "ts": resp.get("ts")}
        self._retry(self._hook_send(payload))
        return {"channel": None, "ts": None}

    def upload(
        self, channel_id: str, thread_ts: str | None, filename: str, data: bytes, title: str
    ) -> None:
        """Upload a file into a channel (in the thread of ``thread_ts``) with ``files_upload_v2``.

        Raises:
            ConfigurationError: a webhook (uploads need a bot token).
            ServiceAuthError / ServiceError / TransientError: as :meth:`post`.
        """
        if self.web is None:
            raise ConfigurationError(
                "--chart uploads need a bot token", "set SLACK_BOT_TOKEN, or drop --chart"
            )
        web = self.web
        self._web(
            lambda: web.files_upload_v2(
                channel=channel_id, thread_ts=thread_ts, filename=filename, file=data, title=title
            ),
            channel_id,
            "the channel of the digest",
        )

    def _retry(self, call: Callable[[], T]) -> T:
        for attempt in retrying(self.policy, on_retry=self.on_retry):
            with attempt:
                result = call()
        return result  # tenacity re-raises the last error when attempts run out

    def _web(self, call: Callable[[], Any], channel: str, source: str) -> Any:
        """Run a Web API call under the retry policy, its failures mapped by :func:`web_error`."""

        def once() -> Any:
            try:
                return call()
            except SlackApiError as exc:
                resp = exc.response
                raise web_error(
                    resp.status_code, resp.headers, resp.data, channel, source
                ) from None
            except SlackClientError as exc:
                raise ServiceError(
                    f"Slack's client refused the call: {excerpt(str(exc))}"
                ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                raise unreachable(exc, "ANALYTICS_SLACK_BASE_URL") from None

        return self._retry(once)

    def _hook_send(self, payload: dict[str, Any]) -> Callable[[], None]:
        hook = self.webhook
        assert hook is not None

        def send() -> None:
            try:
                resp = hook.send_dict(payload)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                raise unreachable(exc, "SLACK_WEBHOOK_URL") from None
            check_webhook(resp.status_code, resp.headers, resp.body)

        return send


def unreachable(exc: BaseException, setting: str) -> TransientError:
    """Return the retriable error for a lost connection or a timeout (no URL: it may be secret)."""
    reason = getattr(exc, "reason", None) or exc
    return TransientError(
        f"cannot reach Slack ({excerpt(str(reason))})",
        fix=f"check the network, or {setting}",
    )


def web_error(
    status: int, headers: Any, data: Any, channel: str | None, source: str
) -> AnalyticsError:
    """Map a Web API failure (HTTP status, headers, JSON body) to the error to raise.

    Args:
        status: the HTTP status.
        headers: the response headers (for ``Retry-After``).
        data: the parsed body (``{"ok": false, "error": "…"}``) or text.
        channel: the channel posted to, named in channel errors.
        source: the setting (or route) the channel came from.
    """
    code = data.get("error", "") if isinstance(data, dict) else ""
    if status == 429 or code == "ratelimited":
        return RateLimitedError("Slack rate-limited the digest (429)", retry_after_s(headers))
    if status >= 500 or code in TRANSIENT_ERRORS:
        return TransientError(
            f"Slack answered HTTP {status} {code}".strip(), retry_after_s(headers)
        )
    if code in TOKEN_ERRORS or status in (401, 403):
        return ServiceAuthError(
            f"Slack refused the bot token ({code or f'HTTP {status}'})",
            "set SLACK_BOT_TOKEN to the bot's xoxb- token (OAuth & Permissions)",
        )
    if code == "missing_scope":
        needed = data.get("needed", "chat:write") if isinstance(data, dict) else "chat:write"
        return ServiceAuthError(
            f"the bot token lacks the scope {needed} (missing_scope)",
            f"add {needed} to the Slack app, reinstall it, and update SLACK_BOT_TOKEN",
        )
    if code in CHANNEL_ERRORS:
        message = CHANNEL_ERRORS[code].format(channel=repr(channel))
        fix = "invite the bot (/invite @bot) or fix" if code == "not_in_channel" else "fix"
        return ServiceError(message, f"{fix} {source}")
    return ServiceError(
        f"Slack refused the digest ({code or f'HTTP {status}'})",
        "this is a bug in the digest's payload; report it with the output of --dry-run",
    )


def check_webhook(status: int, headers: Any, body: str) -> None:
    """Raise the error for an incoming webhook's answer; 200 ``ok`` passes.

    Raises:
        RateLimitedError / TransientError: 429, 5xx (retried).
        ServiceAuthError / ServiceError: the webhook is wrong: fix ``SLACK_WEBHOOK_URL``.
    """
    text = (body or "").strip()
    if status == 200:
        return
    if status == 429:
        raise RateLimitedError("Slack rate-limited the webhook (429)", retry_after_s(headers))
    if status >= 500:
        raise TransientError(f"Slack's webhook answered HTTP {status}", retry_after_s(headers))
    if text in WEBHOOK_ERRORS:
        cls = ServiceAuthError if status in (401, 403) else ServiceError
        raise cls(WEBHOOK_ERRORS[text], "set SLACK_WEBHOOK_URL to the app's current webhook URL")
    if status in (401, 403, 404, 410):
        raise ServiceAuthError(
            f"Slack refused the webhook (HTTP {status} {excerpt(text, 60)})",
            "set SLACK_WEBHOOK_URL to the app's current webhook URL",
        )
    raise ServiceError(
        f"Slack refused the digest (HTTP {status} {excerpt(text, 60)})",
        "this is a bug in the digest's payload; report it with the output of --dry-run",
    )


def open_poster(
    settings: Settings,
    policy: RetryPolicy | None = None,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> SlackPoster:
    """Return the poster the settings configure: the bot token if set, else the webhook.

    Raises:
        ConfigurationError: neither ``SLACK_BOT_TOKEN`` nor ``SLACK_WEBHOOK_URL`` is set.
    """
    policy = policy or RetryPolicy(attempts=settings.http_max_attempts)
    timeout = max(1, round(settings.http_timeout_s))
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    if token:
        web = WebClient(
            token=token,
            base_url=settings.slack_base_url or WebClient.BASE_URL,
            timeout=timeout,
            retry_handlers=[],  # retries are ours (analytics_framework.http), not the SDK's
        )
        return SlackPoster(web=web, policy=policy, on_retry=on_retry)
    url = settings.slack_webhook_url.get_secret_value() if settings.slack_webhook_url else ""
    if url:
        hook = WebhookClient(url=url, timeout=timeout, retry_handlers=[])
        return SlackPoster(webhook=hook, policy=policy, on_retry=on_retry)
    raise NOT_CONFIGURED


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
