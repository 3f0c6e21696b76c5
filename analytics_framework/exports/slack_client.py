"""The Slack transport: the slack_sdk clients, retries and one-line errors.

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
``SLACK_WEBHOOK_URL``); no message ever carries the token or the webhook URL. The digest job
(:mod:`.slack_post`) posts through :func:`open_poster`.
"""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from analytics_framework.errors import (
    AnalyticsError,
    ConfigurationError,
    RateLimitedError,
    ServiceAuthError,
    ServiceError,
    TransientError,
)
from analytics_framework.http import RetryPolicy, excerpt, retry_after_s, retrying
from analytics_framework.settings import Settings

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
