"""One run per pipeline at a time: an OS file lock plus a holder record with a heartbeat.

Mutual exclusion comes from the operating system (``flock`` on POSIX, ``LockFileEx`` on
Windows, through the ``filelock`` library) on ``<state file>.lock``. The kernel releases it when
the holding process dies, however it dies, so a SIGKILLed run can never block the next one.

Beside it, ``<state file>.lock.json`` names the holder — host, pid, load id, start time and a
heartbeat the run refreshes every few seconds — so a second run can say who holds the lock, and
``analytics status`` can show runs in progress. A holder record left behind by a process that
died is *stale*: the next run takes the lock over and logs whose lock it took over.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from analytics_framework.errors import LockHeldError

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
"""Seconds between heartbeats of a running holder."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a pipeline's lock, as recorded in ``<state>.lock.json``."""

    host: str
    pid: int
    load_id: str
    started_at: str
    heartbeat: str
    command: str = ""

    @classmethod
    def read(cls, path: Path) -> Holder | None:
        """Return the record at ``path``, or None if absent or unreadable."""
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def alive(self) -> bool | None:
        """Whether the holding process still runs: True/False on this host, None elsewhere."""
        if self.host != socket.gethostname():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def heartbeat_age_s(self) -> float:
        """Seconds since the last heartbeat."""
        return (datetime.now(UTC) - datetime.fromisoformat(self.heartbeat)).total_seconds()

    def describe(self) -> str:
        """One phrase naming the holder, e.g. ``pid 4242 on host ci-3 since 2024-…``."""
        return (
            f"pid {self.pid} on host {self.host} since {self.started_at} "
            f"(heartbeat {self.heartbeat_age_s():.0f} s ago, load {self.load_id})"
        )


class RunLock:
    """The lock of one pipeline, used as a context manager around a run.

    Args:
        state_path: the pipeline's state file; the lock files sit beside it.
        load_id: the id of the run taking the lock, recorded in the holder record.
        wait_s: how long to wait for a running holder to finish; 0 fails at once.
        command: the command line, recorded for ``analytics status``.

    Raises:
        LockHeldError: (on enter) another live run holds the lock after ``wait_s``.
    """

    def __init__(
        self, state_path: Path, load_id: str, wait_s: float = 0.0, command: str = ""
    ) -> None:
        self.path = Path(f"{state_path}.lock")
        self.holder_path = Path(f"{state_path}.lock.json")
        self.load_id = load_id
        self.wait_s = wait_s
        self.command = command
        self.took_over: Holder | None = None
        self._lock = FileLock(self.path, thread_local=False)
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._started = ""

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=self.wait_s, poll_interval=0.2)
        except Timeout:
            holder = Holder.read(self.holder_path)
            who = holder.describe() if holder else "another process"
            waited = f" after waiting {self.wait_s:g} s" if self.wait_s else ""
            raise LockHeldError(
                f"another run of this pipeline is in progress{waited}: {who}",
                "let it finish, or pass --wait SECONDS to queue behind it",
            ) from None
        previous = Holder.read(self.holder_path)
        if previous is not None:
            # We hold the OS lock, so whoever wrote this record is gone: a stale lock.
            self.took_over = previous
            log.warning(
                "took over a stale lock left by pid %s on host %s (started %s, last "
                "heartbeat %s); its interrupted load %s is recovered",
                previous.pid,
                previous.host,
                previous.started_at,
                previous.heartbeat,
                previous.load_id,
            )
        self._started = _now()
        self._write_holder()
        self._beat = threading.Thread(target=self._heartbeat, name="lock-heartbeat", daemon=True)
        self._beat.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def release(self) -> None:
        """Stop the heartbeat, remove the holder record and release the OS lock."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=HEARTBEAT_S)
            self._beat = None
        if self._lock.is_locked:
            self.holder_path.unlink(missing_ok=True)
            self._lock.release()

    def _write_holder(self) -> None:
        record = Holder(
            host=socket.gethostname(),
            pid=os.getpid(),
            load_id=self.load_id,
            started_at=self._started,
            heartbeat=_now(),
            command=self.command,
        )
        tmp = self.holder_path.with_name(f".{self.holder_path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(record.__dict__, indent=1), encoding="utf-8")
        os.replace(tmp, self.holder_path)

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self._write_holder()
            except OSError as exc:  # a full disk must not kill the run; status shows the age
                log.warning("could not refresh the lock heartbeat: %s", exc)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def wait_for_holder(holder_path: Path, timeout_s: float) -> Holder | None:
    """Poll until a holder record appears at ``holder_path`` (tests, scripts); None on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        holder = Holder.read(holder_path)
        if holder is not None:
            return holder
        time.sleep(0.05)
    return None
