"""One HTTP service: its base URL, credentials, rate limiter and retries, over an httpx client.

:class:`HttpService` is what an API source holds (a NocoDB server, a Mochi deployment). It sends
requests through an ``httpx.Client`` that is passed in (tests hand in one with a transport or
point it at a local server) or made here, and turns every outcome into either parsed JSON or one
of the framework's errors:

==========================================  ============================================
outcome                                     error
==========================================  ============================================
timeout, connection refused/reset           :class:`~analytics_framework.errors.TransientError`
HTTP 429                                    :class:`~analytics_framework.errors.RateLimitedError`
HTTP 500, 502, 503, 504                     :class:`~analytics_framework.errors.TransientError`
HTTP 401, 403, a redirect to a login page   :class:`~analytics_framework.errors.ServiceAuthError`
other 4xx, a 3xx elsewhere, a non-JSON body :class:`~analytics_framework.errors.ServiceError`
==========================================  ============================================

Transient errors are retried by :func:`~analytics_framework.http.retry.retrying` with the
server's ``Retry-After`` as a floor; when attempts run out the last one is raised. Every message
names the URL (without its query string) and never a header, token or cookie.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from analytics_framework.errors import (
    RateLimitedError,
    ServiceAuthError,
    ServiceError,
    TransientError,
)
from analytics_framework.http.limits import RateLimiter
from analytics_framework.http.retry import RetryPolicy, retry_after_s, retrying

RETRIABLE_STATUS = frozenset({500, 502, 503, 504})


def excerpt(text: str, limit: int = 80) -> str:
    """Return ``text`` as a short one-line excerpt for an error message (escaped, cut)."""
    flat = " ".join(text.split())
    short = flat if len(flat) <= limit else flat[: limit - 1] + "…"
    return ascii(short)[1:-1] if not short.isprintable() else short


class HttpService:
    """A JSON-over-HTTP service shared by the worker threads of a run.

    Args:
        name: the service, for messages (``NocoDB``, ``Mochi``).
        base_url: its root URL; request paths are joined to it.
        client: the ``httpx.Client`` to send through; None makes one (``timeout_s``, no
            redirects followed, so a redirect to a login page is seen).
        headers: sent with every request (API tokens: never shown in any message).
        cookies: sent with every request (session cookies: never shown either).
        timeout_s: seconds before a request times out (when the client is made here).
        limiter: the service's rate limiter (``--rps``); None: unlimited.
        policy: the retry policy.
        auth_fix: the fix to print when the server refuses the credentials.
        unreachable_fix: the fix to print when the server cannot be reached.

    Attributes:
        requests / retries / wait_s: counters of the run, for its summary.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        client: httpx.Client | None = None,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        timeout_s: float = 30.0,
        limiter: RateLimiter | None = None,
        policy: RetryPolicy | None = None,
        auth_fix: str = "check the credentials",
        unreachable_fix: str = "check the URL and that the server is running",
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._own_client = client is None
        self.client = client or httpx.Client(timeout=timeout_s, follow_redirects=False)
        self.headers = dict(headers or {})
        if cookies:  # one Cookie header: httpx deprecates per-request cookies
            self.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self.limiter = limiter
        self.policy = policy or RetryPolicy(attempts=5, max_wait_s=120.0)
        self.auth_fix = auth_fix
        self.unreachable_fix = unreachable_fix
        self.requests = self.retries = 0
        self.wait_s = 0.0
        self._lock = threading.Lock()

    def url(self, path: str) -> str:
        """Return the absolute URL of ``path`` (an absolute URL is returned as it is)."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``path`` and return its JSON body, retrying transient failures.

        Raises:
            TransientError / RateLimitedError: still failing after the retries.
            ServiceAuthError: the credentials were refused.
            ServiceError: any other answer that is not usable JSON.
        """
        return self.request_json("GET", path, params=params)

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """Send one request (with retries) and return its JSON body; see :meth:`get_json`."""
        url = self.url(path)

        def count_retry(_exc: BaseException, delay: float) -> None:
            with self._lock:
                self.retries += 1
                self.wait_s += delay

        for attempt in retrying(self.policy, self.limiter, count_retry):
            with attempt:
                if self.limiter is not None:
                    waited = self.limiter.acquire()
                    with self._lock:
                        self.wait_s += waited
                return self._send(method, url, params, body)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _send(self, method: str, url: str, params: dict[str, Any] | None, body: Any) -> Any:
        """One attempt: send, classify the answer, parse the JSON."""
        where = f"{self.name} at {url}"
        with self._lock:
            self.requests += 1
        try:
            resp = self.client.request(
                method,
                url,
                params=params,
                json=body,
                headers=self.headers,
            )
        except httpx.TimeoutException:
            raise TransientError(
                f"{where} did not answer within {self.timeout_s:g} s", fix=self.unreachable_fix
            ) from None
        except httpx.TransportError as exc:
            reason = excerpt(str(exc) or type(exc).__name__)
            raise TransientError(
                f"cannot reach {where}: {reason}", fix=self.unreachable_fix
            ) from None
        status = resp.status_code
        if status == 429:
            raise RateLimitedError(
                f"{where} is rate limiting (HTTP 429)",
                retry_after_s(resp.headers),
                fix="lower --rps, or try again later",
            )
        if status in RETRIABLE_STATUS:
            raise TransientError(
                f"{where} failed with HTTP {status}",
                retry_after_s(resp.headers),
                fix="the server kept failing; try again later",
            )
        location = resp.headers.get("location", "")
        if status in (401, 403) or (300 <= status < 400 and "login" in location.lower()):
            raise ServiceAuthError(
                f"{where} refused the credentials (HTTP {status})", self.auth_fix
            )
        if 300 <= status < 400:
            raise ServiceError(
                f"{where} redirected to {location.split('?')[0] or 'another page'} (HTTP {status})",
                "check the base URL",
            )
        if status >= 400:
            raise ServiceError(
                f"{where} answered HTTP {status}: {excerpt(resp.text)}",
                "check the request settings",
            )
        try:
            return resp.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ServiceError(
                f"{where} answered with something that is not JSON: {excerpt(resp.text)}",
                "check the base URL: it should point at the API, not a web page",
            ) from None

    def close(self) -> None:
        """Close the client, when it was made here."""
        if self._own_client:
            self.client.close()
