"""Reading and writing the state document (:mod:`analytics_framework.state`) atomically.

Locally the document is written to a temporary file beside it, fsynced, then renamed over the
old one, so a crash leaves either the old or the new state, never a torn file. A document that
cannot be read or parsed stops the run with its path and the fix; it is never silently replaced
by a fresh start.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

from analytics_framework.errors import FatalError, LakeError
from analytics_framework.state import State, StateFormatError, new_state, validate
from analytics_framework.storage.lock import Holder, RunLock, S3RunLock


def default_state_path(state_dir: str, pipeline: str) -> Path:
    """``<state_dir>/<pipeline>.json``, the pipeline name made safe for a file name."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", pipeline) or "pipeline"
    return Path(state_dir) / f"{safe}.json"


class CorruptStateError(FatalError):
    """The state file exists but cannot be used."""


class StateStore:
    """The state document of one pipeline at a local path.

    Args:
        path: the JSON file (created on first save).
        pipeline: the pipeline's name, for a new document.
    """

    def __init__(self, path: Path, pipeline: str) -> None:
        self.path = Path(path)
        self.pipeline = pipeline

    def load(self) -> State:
        """Return the stored state, or a new one when the file does not exist.

        Raises:
            CorruptStateError: the file is unreadable, not JSON, or not a state document.
        """
        if not self.path.exists():
            return new_state(self.pipeline)
        fix = (
            f"inspect it with 'analytics state show --state-file {self.path}', or start over "
            f"with 'analytics state reset --state-file {self.path} --yes'"
        )
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            return validate(doc)
        except OSError as exc:
            raise CorruptStateError(
                f"cannot read state file {self.path}: {exc.strerror}", fix
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorruptStateError(
                f"state file {self.path} is not valid JSON ({exc})", fix
            ) from None
        except StateFormatError as exc:
            raise CorruptStateError(f"state file {self.path} is not usable: {exc}", fix) from None

    def save(self, state: State) -> None:
        """Write ``state`` atomically and durably.

        Raises:
            LakeError: the state folder is not writable.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
            with tmp.open("w", encoding="utf-8") as fh:
                json.dump(state, fh, indent=1, sort_keys=True, default=str)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise LakeError(
                f"cannot write state file {self.path}: {exc.strerror}",
                "check that the state folder is writable (--state-file)",
            ) from None

    def reset(self) -> bool:
        """Delete the state file; returns whether there was one."""
        if self.path.exists():
            self.path.unlink()
            return True
        return False

    def exists(self) -> bool:
        """Whether the state document exists."""
        return self.path.exists()

    def lock(self, load_id: str, wait_s: float = 0.0, command: str = "") -> RunLock:
        """Return the pipeline's lock (a context manager) for a run."""
        return RunLock(self.path, load_id, wait_s=wait_s, command=command)

    def holder(self) -> Holder | None:
        """Return who holds (or held, if it died) the pipeline's lock, or None."""
        return Holder.read(Path(f"{self.path}.lock.json"))


class S3StateStore:
    """The state document of one pipeline on S3, at ``<lake>/_state/<pipeline>.json``.

    The same document and the same pure transitions as :class:`StateStore`; writes are
    conditional: a save sends ``If-Match`` with the ETag this store last read or wrote (or
    ``If-None-Match: *`` for a new document), so of two writers only one can win and the other
    stops with :class:`ConcurrentStateError` instead of silently overwriting.

    Args:
        lake: the S3 lake (its ``s3`` options give the client).
        pipeline: the pipeline's name.
        stale_s: heartbeat age after which a lock holder is stale.
    """

    def __init__(self, lake: Any, pipeline: str, stale_s: float = 120.0) -> None:
        from analytics_framework.storage.s3 import boto3_client

        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", pipeline) or "pipeline"
        self.bucket, _, prefix = lake.root.partition("/")
        self.key = "/".join(p for p in (prefix, "_state", f"{safe}.json") if p)
        self.path = f"s3://{self.bucket}/{self.key}"
        self.pipeline = pipeline
        self.stale_s = stale_s
        self.client = boto3_client(lake.s3)
        self._etag: str | None = None

    def _code(self, exc: Exception) -> str:
        return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))

    def load(self) -> State:
        """Return the stored state (remembering its ETag), or a new one.

        Raises:
            CorruptStateError: the object is not JSON or not a state document.
            LakeError: S3 cannot be read.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        fix = (
            f"inspect it with 'analytics state show --use-s3-state', or start over with "
            f"'analytics state reset --use-s3-state --yes' ({self.path})"
        )
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self.key)
            body = resp["Body"].read()
        except ClientError as exc:
            if self._code(exc) in ("NoSuchKey", "404"):
                self._etag = None
                return new_state(self.pipeline)
            raise LakeError(f"cannot read state {self.path}: {exc}", fix) from None
        except BotoCoreError as exc:
            raise LakeError(f"cannot read state {self.path}: {exc}", fix) from None
        self._etag = resp["ETag"]
        try:
            return validate(json.loads(body))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorruptStateError(f"state {self.path} is not valid JSON ({exc})", fix) from None
        except StateFormatError as exc:
            raise CorruptStateError(f"state {self.path} is not usable: {exc}", fix) from None

    def save(self, state: State) -> None:
        """Write ``state`` if nobody else wrote since this store last read or wrote it.

        Raises:
            ConcurrentStateError: another writer changed the document meanwhile.
            LakeError: S3 cannot be written.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        body = json.dumps(state, indent=1, sort_keys=True, default=str).encode()
        condition = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
        try:
            resp = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=body, **condition)
        except ClientError as exc:
            if self._code(exc) in ("PreconditionFailed", "409", "ConditionalRequestConflict"):
                raise ConcurrentStateError(
                    f"state {self.path} was changed by another writer during this run",
                    "check 'analytics status --use-s3-state' for another run, then re-run",
                ) from None
            raise LakeError(f"cannot write state {self.path}: {exc}", "check S3") from None
        except BotoCoreError as exc:
            raise LakeError(f"cannot write state {self.path}: {exc}", "check S3") from None
        self._etag = resp["ETag"]

    def reset(self) -> bool:
        """Delete the state object; returns whether there was one."""
        existed = self.exists()
        self.client.delete_object(Bucket=self.bucket, Key=self.key)
        self._etag = None
        return existed

    def exists(self) -> bool:
        """Whether the state object exists."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key)
            return True
        except ClientError:
            return False

    def _lock(self, load_id: str = "", wait_s: float = 0.0, command: str = "") -> S3RunLock:
        return S3RunLock(
            self.client, self.bucket, f"{self.key}.lock", load_id, wait_s, self.stale_s, command
        )

    def lock(self, load_id: str, wait_s: float = 0.0, command: str = "") -> S3RunLock:
        """Return the pipeline's S3 lock (a context manager) for a run."""
        return self._lock(load_id, wait_s, command)

    def holder(self) -> Holder | None:
        """Return who holds (or held, if it died) the pipeline's lock, or None."""
        return self._lock().read()[0]


class ConcurrentStateError(FatalError):
    """Another writer changed the S3 state document during this run."""
