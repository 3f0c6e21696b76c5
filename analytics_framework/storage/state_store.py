"""Reading and writing the state document (:mod:`analytics_framework.state`) atomically.

Locally the document is written to a temporary file beside it, fsynced, then renamed over the
old one, so a crash leaves either the old or the new state, never a torn file. A document that
cannot be read or parsed stops the run with its path and the fix; it is never silently replaced
by a fresh start.

A state document describes one lake (:func:`lake_id`). By default each lake's pipelines keep
their state in a folder of their own, ``<state_dir>/<lake slug>/<pipeline>.json``
(:func:`default_state_path`), and a store refuses a document that names another lake
(:class:`StateLakeError`), so pointing a run at a new lake never skips files it has not read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analytics_framework.errors import ConfigurationError, FatalError, LakeError
from analytics_framework.state import (
    State,
    StateFormatError,
    bind_lake,
    lake_mismatch,
    new_state,
    validate,
)
from analytics_framework.storage.lock import Holder, RunLock, S3RunLock

if TYPE_CHECKING:
    from analytics_framework.settings import Settings


def lake_id(uri: str) -> str:
    """Return the identity of the lake at ``uri``: ``s3://bucket/prefix`` or an absolute path.

    ``./lake``, ``lake/`` and ``/home/me/project/lake`` (run from ``/home/me/project``) are the
    same lake.
    """
    if uri.startswith("s3://"):
        return "s3://" + uri[len("s3://") :].strip("/")
    return str(Path(uri).expanduser().resolve())


def lake_folder(state_dir: str, lake_uri: str) -> Path:
    """Return ``<state_dir>/<lake slug>``, the folder of one lake's state documents and locks.

    The slug is the lake's last path parts made safe for a file name plus 8 hex digits of the
    SHA-256 of :func:`lake_id`, so two lakes never share a folder: ``state/lake-1f0c2a9b``,
    ``state/s3-bucket-prefix-7d41e0c2``.
    """
    ident = lake_id(lake_uri)
    digest = hashlib.sha256(ident.encode()).hexdigest()[:8]
    if ident.startswith("s3://"):
        words = ["s3", *ident[len("s3://") :].split("/")[-2:]]
    else:
        words = [Path(ident).name or "root"]
    slug = re.sub(r"[^A-Za-z0-9_.]+", "-", "-".join(words)).strip("-.") or "lake"
    return Path(state_dir) / f"{slug[:40]}-{digest}"


def default_state_path(state_dir: str, pipeline: str, lake_uri: str = "./lake") -> Path:
    """``<state_dir>/<lake slug>/<pipeline>.json``: one state per lake and pipeline."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", pipeline) or "pipeline"
    return lake_folder(state_dir, lake_uri) / f"{safe}.json"


class StateLakeError(ConfigurationError):
    """The state document describes another lake than the run's."""


def _check_lake(state: State, lake: str | None, where: str, option: str) -> State:
    """Return ``state`` bound to ``lake``; raise :class:`StateLakeError` if it names another."""
    if lake is None:
        return state
    other = lake_mismatch(state, lake)
    if other is not None:
        raise StateLakeError(
            f"the state {where} describes the lake {other}, not {lake}",
            f"pass --lake {other} to continue that lake, or {option} for this one",
        )
    return bind_lake(state, lake)


class CorruptStateError(FatalError):
    """The state file exists but cannot be used."""


class StateStore:
    """The state document of one pipeline at a local path.

    Args:
        path: the JSON file (created on first save).
        pipeline: the pipeline's name, for a new document.
        lake: the identity (:func:`lake_id`) of the lake the run uses; a document naming
            another lake is refused on load. None accepts any (tests, inspection).

    Raises:
        ConfigurationError: ``path`` is a folder.
    """

    def __init__(self, path: Path, pipeline: str, lake: str | None = None) -> None:
        self.path = Path(path)
        self.pipeline = pipeline
        self.lake = lake
        if self.path.is_dir():
            raise ConfigurationError(
                f"the state file {self.path} is a folder",
                f"pass the JSON file itself, e.g. --state-file {self.path / (pipeline + '.json')}",
            )

    def load(self) -> State:
        """Return the stored state, or a new one when the file does not exist.

        Raises:
            CorruptStateError: the file is unreadable, not JSON, or not a state document.
            StateLakeError: the document describes another lake.
        """
        if not self.path.exists():
            return new_state(self.pipeline, self.lake)
        fix = (
            f"inspect it with 'analytics state show --state-file {self.path}', or start over "
            f"with 'analytics state reset --state-file {self.path} --yes'"
        )
        try:
            doc = validate(json.loads(self.path.read_text(encoding="utf-8")))
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
        return _check_lake(doc, self.lake, f"file {self.path}", "another --state-file")

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
        self.lake = lake_id(lake.uri)
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
                return new_state(self.pipeline, self.lake)
            raise LakeError(f"cannot read state {self.path}: {exc}", fix) from None
        except BotoCoreError as exc:
            raise LakeError(f"cannot read state {self.path}: {exc}", fix) from None
        self._etag = resp["ETag"]
        try:
            doc = validate(json.loads(body))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorruptStateError(f"state {self.path} is not valid JSON ({exc})", fix) from None
        except StateFormatError as exc:
            raise CorruptStateError(f"state {self.path} is not usable: {exc}", fix) from None
        return _check_lake(doc, self.lake, self.path, "drop --use-s3-state")

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


def open_store(
    settings: Settings,
    source: str,
    state_file: Path | None,
    *,
    check_lake: bool = True,
    name: str | None = None,
) -> StateStore | S3StateStore:
    """Return the pipeline's state store: local (``state/<lake>/<source>.json``) or on S3.

    Args:
        settings: the run's settings (lake, state folder, ``use_s3_state``).
        source: the pipeline's source name.
        state_file: an explicit local state document, or None.
        check_lake: refuse (on load) a document that describes another lake than the
            settings' (:class:`~analytics_framework.storage.state_store.StateLakeError`);
            off for commands that only inspect or delete a state.
        name: the S3 document's name instead of the source's (``<lake>/_state/<name>.json``):
            a Ray shard keeps its own state and lock there
            (:mod:`analytics_framework.distributed.collect`).

    Raises:
        UnknownNameError: no such source.
        ConfigurationError: ``--use-s3-state`` without an S3 lake, or with ``--state-file``;
            ``state_file`` is a folder.
    """
    from analytics_framework.catalog import check_source

    check_source(source)  # an unknown name fails here, before any file is touched
    if settings.use_s3_state:
        if not settings.lake_uri.startswith("s3://"):
            raise ConfigurationError(
                f"--use-s3-state keeps the state beside the lake; the lake is {settings.lake_uri}",
                "pass --lake s3://bucket/prefix, or drop --use-s3-state",
            )
        if state_file is not None:
            raise ConfigurationError(
                "--state-file and --use-s3-state do not go together", "choose one of them"
            )
        from analytics_framework.storage.s3 import open_lake

        lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
        return S3StateStore(lake, name or source, stale_s=settings.lock_stale_s)
    path = state_file or default_state_path(settings.state_dir, source, settings.lake_uri)
    return StateStore(path, source, lake_id(settings.lake_uri) if check_lake else None)
