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

import contextlib
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

from analytics_framework.errors import LakeError, LockHeldError

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
    def parse(cls, text: str | bytes) -> Holder | None:
        """Return the record in ``text`` (JSON), or None if it is not one."""
        try:
            doc = json.loads(text)
            return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})
        except (ValueError, TypeError, KeyError):
            return None

    @classmethod
    def read(cls, path: Path) -> Holder | None:
        """Return the record at ``path``, or None if absent or unreadable."""
        try:
            return cls.parse(path.read_text(encoding="utf-8"))
        except OSError:
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


class _Heartbeating:
    """What both locks share: a daemon thread calling ``_beat_once`` every HEARTBEAT_S."""

    _stop: threading.Event
    _beat: threading.Thread | None
    load_id: str
    command: str
    _started: str

    def _record(self) -> bytes:
        """Return this run's holder record (JSON), with a fresh heartbeat."""
        holder = Holder(
            host=socket.gethostname(),
            pid=os.getpid(),
            load_id=self.load_id,
            started_at=self._started,
            heartbeat=_now(),
            command=self.command,
        )
        return json.dumps(holder.__dict__, indent=1).encode()

    def _beat_once(self) -> bool:
        """Refresh the holder record; False stops the heartbeat."""
        raise NotImplementedError

    def _start_heartbeat(self) -> None:
        self._beat = threading.Thread(target=self._heartbeat, name="lock-heartbeat", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                if not self._beat_once():
                    return
            except Exception as exc:  # a failed heartbeat must not kill the run
                log.warning("could not refresh the lock heartbeat: %s", exc)

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=HEARTBEAT_S)
            self._beat = None

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def release(self) -> None:
        """Release the lock."""
        raise NotImplementedError


class RunLock(_Heartbeating):
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
        """Take the lock (waiting up to ``wait_s``) and start the heartbeat.

        Raises:
            LockHeldError: another live run holds it.
            LakeError: the lock file cannot be created (read-only or missing folder).
        """
        try:
            return self._enter()
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.release()
            raise LakeError(
                f"cannot create the lock file {self.path}: {exc.strerror or exc}",
                "choose a writable place for the state: --state-file PATH or ANALYTICS_STATE_DIR",
            ) from None

    def _enter(self) -> RunLock:
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
        self._start_heartbeat()
        return self

    def release(self) -> None:
        """Stop the heartbeat, remove the holder record and release the OS lock."""
        self._stop_heartbeat()
        if self._lock.is_locked:
            self.holder_path.unlink(missing_ok=True)
            self._lock.release()

    def _write_holder(self) -> None:
        tmp = self.holder_path.with_name(f".{self.holder_path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(self._record())
        os.replace(tmp, self.holder_path)

    def _beat_once(self) -> bool:
        self._write_holder()
        return True


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


class S3RunLock(_Heartbeating):
    """The lock of one pipeline whose state lives on S3: an object created conditionally.

    Taking the lock is ``PutObject`` with ``If-None-Match: *`` on ``<state key>.lock``: of two
    runs, exactly one creates it. The holder record inside is refreshed every few seconds with
    ``If-Match`` on its ETag. A record whose heartbeat is older than ``stale_s`` (or whose pid is
    dead on this host) is stale and taken over with ``If-Match`` on the stale ETag, so of two
    runs taking over, one wins. Release is ``DeleteObject`` with ``If-Match``.

    Args:
        client: a boto3 S3 client.
        bucket / key: the lock object.
        load_id / wait_s / command: as :class:`RunLock`.
        stale_s: heartbeat age after which a holder is stale.

    Raises:
        LockHeldError: (on enter) a live run holds the lock after ``wait_s``.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        load_id: str,
        wait_s: float = 0.0,
        stale_s: float = 120.0,
        command: str = "",
    ) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.load_id, self.wait_s, self.stale_s, self.command = load_id, wait_s, stale_s, command
        self.took_over: Holder | None = None
        self._etag: str | None = None
        self._started = ""
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def _put(self, **condition: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            resp = self.client.put_object(
                Bucket=self.bucket, Key=self.key, Body=self._record(), **condition
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "409"):
                return False
            raise
        self._etag = resp["ETag"]
        return True

    def read(self) -> tuple[Holder | None, str | None]:
        """Return the current holder record and its ETag (None, None when unlocked)."""
        from botocore.exceptions import ClientError

        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None, None
            raise
        return Holder.parse(resp["Body"].read()), resp["ETag"]

    def stale(self, holder: Holder | None) -> bool:
        """Whether ``holder`` is gone: unreadable, dead pid on this host, or an old heartbeat."""
        if holder is None:
            return True
        return holder.alive() is False or holder.heartbeat_age_s() > self.stale_s

    def __enter__(self) -> S3RunLock:
        self._started = _now()
        deadline = time.monotonic() + self.wait_s
        while True:
            if self._put(IfNoneMatch="*"):
                break
            holder, etag = self.read()
            if etag is not None and self.stale(holder) and self._put(IfMatch=etag):
                self.took_over = holder
                who = holder.describe() if holder else "an unreadable record"
                log.warning("took over a stale lock on s3://%s/%s: %s", self.bucket, self.key, who)
                break
            if time.monotonic() >= deadline:
                who = holder.describe() if holder else "another process"
                raise LockHeldError(
                    f"another run of this pipeline is in progress: {who}",
                    "let it finish, or pass --wait SECONDS to queue behind it",
                )
            time.sleep(0.5)
        self._start_heartbeat()
        return self

    def _beat_once(self) -> bool:
        if self._put(IfMatch=self._etag or ""):
            return True
        log.error("lost the lock on s3://%s/%s to another run", self.bucket, self.key)
        return False

    def release(self) -> None:
        """Stop the heartbeat and delete the lock object if it is still ours."""
        self._stop_heartbeat()
        if self._etag is not None:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self._etag)
            except Exception as exc:  # taken over meanwhile: not ours to delete
                log.warning("did not release s3://%s/%s: %s", self.bucket, self.key, exc)
            self._etag = None
