"""The retry policy shared by API sources and labelers, built on tenacity.

Only :class:`~analytics_framework.errors.RetriableError` is retried (429, 5xx, timeouts,
connection errors). The wait is exponential backoff with jitter; a server's ``Retry-After``
(seconds or an HTTP date), ``retry-after-ms`` or Gemini's ``retryDelay`` carried by the error
(:attr:`TransientError.retry_after`) is a *floor*: the wait is that delay plus jitter, never
less. A 429 also pauses the service's :class:`~analytics_framework.http.limits.RateLimiter`,
so every worker thread waits, not just the one that was told.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from analytics_framework.errors import RateLimitedError, RetriableError
from analytics_framework.http.limits import RateLimiter


@dataclass
class RetryPolicy:
    """How calls are retried.

    Attributes:
        attempts: attempts per call, the first included.
        max_wait_s: most seconds spent retrying one call.
        initial_s: first backoff, seconds (doubles each attempt).
        max_backoff_s: longest backoff, seconds.
        jitter_s: random seconds added to each wait (0..jitter_s).
    """

    attempts: int = 6
    max_wait_s: float = 300.0
    initial_s: float = 1.0
    max_backoff_s: float = 60.0
    jitter_s: float = 1.0


def retry_after_s(headers: Any) -> float | None:
    """Return the delay a response asks for, in seconds, or None.

    Reads ``retry-after-ms`` (OpenAI), then ``Retry-After`` in either form of RFC 9110 §10.2.3:
    delay-seconds or an HTTP date (the seconds until it, never negative).
    """
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            try:
                return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
            except (TypeError, ValueError):
                return None
    return None


def retrying(
    policy: RetryPolicy,
    limiter: RateLimiter | None = None,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> Retrying:
    """Return a tenacity ``Retrying`` for ``policy``: iterate it and run the call in ``with``.

    Args:
        policy: attempts, total wait and backoff.
        limiter: the service's limiter, paused for the delay of a 429.
        on_retry: called before each sleep with the error and the seconds about to be waited.

    Raises:
        RetriableError: (from the loop) the last error once attempts or time run out.
    """

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        floor = getattr(exc, "retry_after", None)
        if floor is not None:  # the server's delay is a floor; jitter only adds to it
            return float(floor) + random.uniform(0, policy.jitter_s)
        return wait_exponential_jitter(
            initial=policy.initial_s, max=policy.max_backoff_s, jitter=policy.jitter_s
        )(state)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        if isinstance(exc, RateLimitedError) and limiter is not None:
            limiter.pause(delay)
        if on_retry is not None and exc is not None:
            on_retry(exc, delay)

    return Retrying(
        retry=retry_if_exception_type(RetriableError),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_wait_s),
        wait=wait,
        before_sleep=before_sleep,
        reraise=True,
    )
