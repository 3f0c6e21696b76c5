"""One provider rate limit for every labeling worker of a cluster.

A Ray actor (:class:`RateBudget`, one per ``enrich --executor ray`` run) holds the provider's
requests-per-minute and tokens-per-minute budget; each worker's labeler talks to it through a
:class:`ClusterLimiter`, which has the interface of the local
:class:`~analytics_framework.http.limits.RateLimiter` (``acquire``, ``pause``), so the labelers'
retry loop is unchanged. A 429 on any worker pauses every worker: the pause is kept in the actor
and every request waits for it.

The actor hands out start times instead of blocking (a blocked actor would serialise its
callers' network time): :meth:`RateBudget.reserve` books the next free slot — spaced by
``60 / rpm`` seconds, with the tokens taken from a bucket refilled at ``tpm / 60`` a second — and
returns how long the caller must wait. A caller that wakes inside a pause set meanwhile books
again.
"""

from __future__ import annotations

import time
from typing import Any


class RateBudget:
    """The shared budget (the actor's class; plain Python, so it is tested without Ray).

    Args:
        rpm: requests per minute; 0: no limit.
        tpm: tokens per minute; 0: no limit.
    """

    def __init__(self, rpm: float, tpm: float = 0.0) -> None:
        self.interval = 60.0 / rpm if rpm > 0 else 0.0
        self.tpm = float(tpm)
        self._next = 0.0
        self._tokens = float(tpm)
        self._refilled = time.monotonic()
        self._paused_until = 0.0
        self.reservations = 0

    def reserve(self, tokens: int = 0) -> float:
        """Book the next request of ``tokens``; return the seconds the caller waits before it."""
        now = time.monotonic()
        start = max(now, self._next, self._paused_until)
        if self.tpm > 0:
            self._tokens = min(self.tpm, self._tokens + (now - self._refilled) * self.tpm / 60)
            self._refilled = now
            need = min(float(tokens), self.tpm)
            if self._tokens < need:  # wait until the bucket holds them
                start = max(start, now + (need - self._tokens) * 60 / self.tpm)
            self._tokens -= need  # may go below 0: later callers wait for the refill
        self._next = start + self.interval
        self.reservations += 1
        return start - now

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` from now (a 429's Retry-After)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def paused_for(self) -> float:
        """Return the seconds left of a pause (0 when none)."""
        return max(0.0, self._paused_until - time.monotonic())


class ClusterLimiter:
    """A worker's handle on the shared :class:`RateBudget` actor (``acquire`` / ``pause``).

    Args:
        actor: the ``RateBudget`` actor handle.
    """

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def acquire(self, tokens: int = 0) -> float:
        """Block until a request of ``tokens`` may start; return the seconds waited."""
        import ray

        waited = 0.0
        while True:
            delay = float(ray.get(self.actor.reserve.remote(tokens)))
            if delay > 0:
                time.sleep(delay)
                waited += delay
            paused = float(ray.get(self.actor.paused_for.remote()))
            if paused <= 0:
                return waited
            time.sleep(paused)  # a 429 elsewhere came in while this one waited
            waited += paused

    def pause(self, seconds: float) -> None:
        """Pause every worker of the cluster for ``seconds``."""
        import ray

        ray.get(self.actor.pause.remote(seconds))
