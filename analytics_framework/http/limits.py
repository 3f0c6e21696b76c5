"""Rate limiting shared by every thread that calls one service.

One :class:`RateLimiter` per service (an LLM provider, a NocoDB server, a Mochi deployment):
all worker threads of a run acquire from it, so ``--workers`` / ``--io-workers`` never multiply
the request rate, and a 429 seen by one thread pauses all of them (:meth:`RateLimiter.pause`).
"""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits shared by all worker threads.

    Requests are spaced by ``60 / rpm`` seconds; tokens come from a bucket refilled at
    ``tpm / 60`` per second (capacity ``tpm``). :meth:`pause` (fed by 429s) holds every caller
    until the given time has passed.

    Args:
        rpm: requests per minute; 0 means no limit.
        tpm: tokens per minute (LLM providers); 0 means no limit.
    """

    def __init__(self, rpm: float, tpm: float = 0.0) -> None:
        self.interval = 60.0 / rpm if rpm > 0 else 0.0
        self.tpm = tpm
        self._lock = threading.Lock()
        self._next = 0.0
        self._tokens = float(tpm)
        self._refilled = time.monotonic()
        self._paused_until = 0.0

    @classmethod
    def per_second(cls, rps: float) -> RateLimiter:
        """Return a limiter of ``rps`` requests per second (``--rps``; 0: no limit)."""
        return cls(rpm=rps * 60 if rps > 0 else 0.0)

    def acquire(self, tokens: int = 0) -> float:
        """Block until a request of ``tokens`` may start; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                if self.tpm > 0:
                    self._tokens = min(
                        self.tpm, self._tokens + (now - self._refilled) * self.tpm / 60
                    )
                    self._refilled = now
                need = min(tokens, self.tpm) if self.tpm > 0 else 0
                start = max(now, self._next, self._paused_until)
                if self.tpm > 0 and self._tokens < need:
                    start = max(start, now + (need - self._tokens) * 60 / self.tpm)
                if start <= now:
                    self._next = now + self.interval
                    self._tokens -= need
                    return waited
                delay = start - now
            time.sleep(delay)
            waited += delay

    def pause(self, seconds: float) -> None:
        """Hold every worker for ``seconds`` from now (a 429's delay)."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)
