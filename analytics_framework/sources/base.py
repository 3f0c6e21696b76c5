"""The source contract: what every source offers, whether it reads files or an API.

A source turns its input into canonical ``messages`` rows (DESIGN.md) in batches of *complete*
conversations (:class:`SourceBatch`). Two kinds share :class:`Source`:

- :class:`~analytics_framework.sources.file_source.FileSource` — paths, globs, folders, zips;
  its input is identified by the files' fingerprints (size, SHA-256), so an unchanged file is
  skipped by an incremental run;
- :class:`~analytics_framework.sources.api_source.ApiSource` — a paginated HTTP API; its input
  is identified by its endpoint, and it keeps a *cursor* (its replication key, e.g. NocoDB's
  ``UpdatedAt``) in the state; an incremental run hands it ``since`` = cursor − lookback and the
  source asks the server only for what changed since then.

Both are planned the same way (:mod:`analytics_framework.planning` asks
:meth:`Source.identity`), loaded the same way, and resumed the same way. Errors that quote a
parser's or a server's message go through :func:`excerpt`: short, escaped, never raw bytes.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import polars as pl

from analytics_framework.errors import ConfigurationError
from analytics_framework.model import MESSAGE_SCHEMA
from analytics_framework.settings import Settings

REJECTED_SCHEMA = {"record": pl.String(), "reason": pl.String(), "raw": pl.String()}

UNREADABLE = "_unreadable"
"""Optional raw column: why a record could not be decoded (null when it could); it wins over
:meth:`Source.reject_reason`."""

EXCERPT_CHARS = 80
"""Characters of input (or of a parser's message about it) an error message may quote."""

PARSE_ERRORS = (pl.exceptions.ComputeError, pl.exceptions.SchemaError, OSError)


@dataclass
class SourceBatch:
    """One batch from a source.

    Attributes:
        seq: 0-based position of the batch in this read.
        messages: canonical message rows of complete conversations (plus any optional
            conversation-level columns the source provides).
        rejected: malformed records: ``record`` (where), ``reason`` (why), ``raw`` (JSON).
        origin: the file (or other origin) the rows came from, for the run summary.
    """

    seq: int
    messages: pl.DataFrame
    rejected: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=REJECTED_SCHEMA))
    origin: str = ""
    extra: dict[str, pl.DataFrame] = field(default_factory=dict)


@dataclass
class InputIdentity:
    """What identifies a source's input, for planning.

    Attributes:
        kind: ``files`` or ``api``.
        files: file sources: ``{resolved path: {"size": bytes, "sha256": hex}}``.
        endpoint: API sources: what is read — server, tables, filters — never a secret.
    """

    kind: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    endpoint: str = ""

    @property
    def key(self) -> str:
        """A short content key: same files with the same bytes (or same endpoint), same key."""
        if self.kind == "api":
            blob = self.endpoint
        else:
            blob = json.dumps(
                sorted((p, f["sha256"]) for p, f in self.files.items()), separators=(",", ":")
            )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def excerpt(text: str | bytes, limit: int = EXCERPT_CHARS) -> str:
    r"""Return ``text`` as a short excerpt that is safe to print in a one-line error.

    Bytes are decoded as UTF-8 with invalid bytes written ``\xNN``; control, unprintable and
    replacement characters are escaped as ``repr`` does (``\n``, ``\x00``, ``\ufffd``); the
    result is at most ``limit`` characters and ends in ``…`` when it was cut.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    pieces: list[str] = []
    size = 0
    for ch in text:
        piece = ch if ch.isprintable() and ch != "\ufffd" else ch.encode("unicode_escape").decode()
        if size + len(piece) > limit:
            return "".join(pieces)[: limit - 1] + "…"
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces)


def parser_error(exc: BaseException) -> str:
    """Return the first line of a parser's error message as an :func:`excerpt`.

    Parsers (polars, ijson) quote the offending input, sometimes a whole 100 KB line; this keeps
    the part that says what and where (``Syntax at character 35``) and escapes the rest.
    """
    arg = exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], bytes) else str(exc)
    text = arg.decode("utf-8", "backslashreplace") if isinstance(arg, bytes) else arg
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return excerpt(first or type(exc).__name__)


class Source(ABC):
    """What every source offers; subclass :class:`FileSource` or :class:`ApiSource`.

    Class attributes:
        name: registry name and id prefix (``twcs`` gives ``twcs:…`` ids).
        description: one line for ``--help`` and the README.
        option_names: the source-specific options it takes (``column_map``, ``app_id``, …).
        settings_needed: the settings it cannot run without (``NOCODB_BASE_URL``, …), listed
            by ``doctor`` and in errors.
        ordered: whether batches come in conversation-start order (the loader then publishes
            each day as soon as it is complete; otherwise at the end of the load).
        may_be_empty: whether reading no record at all is normal (a Ray shard's days can hold
            none), rather than the sign of a wrong file.

    Args:
        path: the input (file sources), or None.
        settings: the run's settings.
        options: source-specific options; a None or empty-list value counts as not given.

    Raises:
        ConfigurationError: an option this source does not take was given.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    option_names: ClassVar[frozenset[str]] = frozenset()
    settings_needed: ClassVar[tuple[str, ...]] = ()
    ordered: ClassVar[bool] = True
    may_be_empty: ClassVar[bool] = False

    def __init__(
        self, path: str | None, settings: Settings, options: dict[str, object] | None = None
    ) -> None:
        self.settings = settings
        self.options = {k: v for k, v in (options or {}).items() if v is not None and v != []}
        unknown = sorted(set(self.options) - self.option_names)
        if unknown:
            raise _not_an_option(unknown[0], self.name)
        self.cursor: datetime | None = None
        """API sources: the newest replication-key value seen by the last :meth:`batches`."""

    @property
    def prefix(self) -> str:
        """The id prefix of this source, e.g. ``twcs:``."""
        return f"{self.name}:"

    @property
    @abstractmethod
    def origin(self) -> str:
        """Where the input comes from, for the run summary (files, or a URL and table)."""

    @abstractmethod
    def identity(self) -> InputIdentity:
        """Return what identifies the input now (fingerprints, or the endpoint)."""

    @abstractmethod
    def batches(
        self, batch_size: int, since: datetime | None = None, after_key: str | None = None
    ) -> Iterator[SourceBatch]:
        """Yield batches of at most ``batch_size`` complete conversations.

        Args:
            batch_size: conversations per batch.
            since: API sources read only what changed after this instant (the cursor minus the
                lookback); file sources ignore it (their cutoff is applied by the pipeline).
            after_key: API sources skip conversations whose id sorts at or before this key
                (``--resume`` of an interrupted load); file sources resume by batch number.

        Raises:
            InputError / ServiceError: the input cannot be read.
        """

    def check(self) -> str:
        """Check the input can be reached (``analytics doctor``); return what was checked.

        Raises:
            AnalyticsError: it cannot, with the fix.
        """
        return f"{self.origin}: nothing to check"

    def empty(self) -> pl.DataFrame:
        """Return an empty canonical frame (with this source's extra columns)."""
        return pl.DataFrame(schema=MESSAGE_SCHEMA)


def source_classes() -> dict[str, type[Source]]:
    """Return every concrete source class by name (the registry's, without importing it)."""
    found: dict[str, type[Source]] = {}
    todo: list[type[Source]] = [Source]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "name" in vars(cls) and not getattr(cls, "__abstractmethods__", None):
            found[cls.name] = cls
    return dict(sorted(found.items()))


def _not_an_option(option: str, source: str) -> ConfigurationError:
    """Return the error for an ``option`` that ``source`` does not take."""
    flag = "--" + option.replace("_", "-")
    takers = [name for name, cls in source_classes().items() if option in cls.option_names]
    where = f"it applies to --source {' / '.join(takers)} only; " if takers else ""
    return ConfigurationError(f"{flag} is not an option of the {source} source", f"{where}drop it")
