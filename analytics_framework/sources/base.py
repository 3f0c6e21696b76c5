"""The source base class: it owns the loop, a source says only what differs.

A source turns its input into canonical ``messages`` rows (DESIGN.md) in batches of *complete*
conversations. The loop, written once here:

1. :meth:`Source.scan` — the raw rows as a polars ``LazyFrame`` (strings as in the file) with a
   ``_record`` column naming each record (``row 17``, ``line 3``).
2. :meth:`Source.reject_reason` — an expression giving why a row is malformed, or null.
3. :meth:`Source.prepare` — an optional whole-input step (TWCS rebuilds threads here).
4. :meth:`Source.canonical` — expressions for the canonical columns.
5. Malformed rows go to the quarantine frame with their reason and raw JSON, and so do the
   records a source could not decode (``Source.unreadable``, or an :data:`UNREADABLE` column);
   good rows are sorted by (conversation start, conversation, time) into a temporary Parquet
   file by polars' streaming engine, then read back in chunks and cut at conversation
   boundaries (:mod:`.batching`), so no batch splits a conversation and memory is bounded by
   the chunk, not the input.

When polars cannot parse the input, a source with ``lenient_fallback`` is asked once more with
``lenient`` set: it then reads its files record by record (:mod:`.text`), so one bad line is
quarantined instead of failing the file. Errors that quote a parser's message quote it through
:func:`excerpt`: short, escaped, never the input's raw bytes.

Streaming sources whose input already comes grouped by conversation (the Facebook export)
override :meth:`Source.batches` and call :meth:`Source.split` on each group of rows.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import polars as pl
import pyarrow.parquet as pq

from analytics_framework.errors import ConfigurationError, InputError, InputNotFoundError
from analytics_framework.model import MESSAGE_SCHEMA, ROLE_ORDER
from analytics_framework.settings import Settings
from analytics_framework.sources.batching import READ_CHUNK_ROWS, conversation_chunks

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
    """Base class of every source; see the module docstring for the loop it owns.

    Class attributes:
        name: registry name and id prefix (``twcs`` gives ``twcs:…`` ids).
        description: one line for ``--help`` and the README.
        default_path: input used when none is given (None: a path is required).
        option_names: the source-specific options it takes (``column_map`` for ``files``).
        lenient_fallback: whether :meth:`scan` can read the input record by record (when
            ``self.lenient`` is set) after polars failed to parse it.

    Args:
        path: the input (file, folder or glob, as the source accepts).
        settings: the run's settings.
        options: source-specific options; a None or empty-list value counts as not given.

    Raises:
        ConfigurationError: an option this source does not take was given.
        InputNotFoundError: no path was given and the source has no default, or it is missing.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    default_path: ClassVar[str | None] = None
    option_names: ClassVar[frozenset[str]] = frozenset()
    lenient_fallback: ClassVar[bool] = False

    def __init__(
        self, path: str | None, settings: Settings, options: dict[str, object] | None = None
    ) -> None:
        self.settings = settings
        self.options = {k: v for k, v in (options or {}).items() if v is not None and v != []}
        unknown = sorted(set(self.options) - self.option_names)
        if unknown:
            raise _not_an_option(unknown[0], self.name)
        self.lenient = False
        # quarantine rows (REJECTED_SCHEMA) for the records scan() could not decode at all
        self.unreadable: list[pl.LazyFrame] = []
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        chosen = path or self.default_path
        if chosen is None:
            raise InputNotFoundError(
                f"source '{self.name}' needs an input path",
                f"pass it: analytics collect --source {self.name} PATH",
            )
        self.path = chosen
        self.files = self.resolve_files(chosen)

    @property
    def prefix(self) -> str:
        """The id prefix of this source, e.g. ``twcs:``."""
        return f"{self.name}:"

    def scratch_path(self, suffix: str) -> Path:
        """Return a new empty temporary file, removed when :meth:`batches` has sorted the input.

        Lenient readers write their cleaned copies of the input here.
        """
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="analytics-clean-")
        fd, name = tempfile.mkstemp(suffix=suffix, dir=self._scratch.name)
        os.close(fd)
        return Path(name)

    # ---- what a source overrides -------------------------------------------------------------

    def resolve_files(self, path: str) -> list[Path]:
        """Return the input files for ``path``; the default accepts exactly one readable file.

        Raises:
            InputNotFoundError: the path does not exist or is not readable.
        """
        p = Path(path)
        if not p.is_file():
            raise InputNotFoundError(
                f"input file not found: {path}", "check the path (or omit it for the default)"
            )
        try:
            with p.open("rb") as fh:
                fh.read(1)
        except OSError as exc:
            raise InputNotFoundError(
                f"cannot read {path}: {exc.strerror}", "check the file's permissions"
            ) from None
        return [p]

    @abstractmethod
    def scan(self) -> pl.LazyFrame:
        """Return the raw rows, with a ``_record`` string column naming each one."""

    @abstractmethod
    def reject_reason(self) -> pl.Expr:
        """Return an expression: why a raw row is malformed, or null when it is good."""

    @abstractmethod
    def canonical(self) -> dict[str, pl.Expr]:
        """Return expressions for the canonical message columns (and optional extras)."""

    def prepare(self, rows: pl.LazyFrame) -> pl.LazyFrame:
        """Whole-input step run after ``_reject`` is set; the default does nothing."""
        return rows

    # ---- the loop ----------------------------------------------------------------------------

    def split(self, raw: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
        """Split raw rows into (canonical good rows, rejected rows)."""
        names = raw.collect_schema().names()
        raw_cols = [c for c in names if not c.startswith("_")]
        reason = self.reject_reason()
        if UNREADABLE in names:
            reason = pl.coalesce(pl.col(UNREADABLE), reason)
        rows = self.prepare(raw.with_columns(_reject=reason))
        exprs = self.canonical()
        extras = [c for c in exprs if c not in MESSAGE_SCHEMA]
        good = rows.filter(pl.col("_reject").is_null()).select(
            *[exprs[c].cast(t).alias(c) for c, t in MESSAGE_SCHEMA.items()],
            *[exprs[c].alias(c) for c in extras],
        )
        bad = rows.filter(pl.col("_reject").is_not_null()).select(
            record=pl.col("_record"),
            reason=pl.col("_reject"),
            raw=pl.struct(raw_cols).struct.json_encode(),
        )
        return good, bad

    def batches(self, batch_size: int) -> Iterator[SourceBatch]:
        """Yield batches of at most ``batch_size`` complete conversations.

        Rejected rows come first, in batches with no messages. Good rows are ordered by
        conversation start, so consecutive batches cover consecutive stretches of time.

        Raises:
            InputError: the input cannot be parsed as this source's format.
        """
        origin = ", ".join(str(f) for f in self.files)
        with tempfile.TemporaryDirectory(prefix="analytics-sort-") as tmp:
            sorted_path, bad_path = Path(tmp, "sorted.parquet"), Path(tmp, "rejected.parquet")
            try:
                self._sort_input(sorted_path, bad_path)
            finally:
                if self._scratch is not None:
                    self._scratch.cleanup()
                    self._scratch = None
            seq = 0
            for chunk in pq.ParquetFile(bad_path).iter_batches(batch_size=READ_CHUNK_ROWS):
                yield SourceBatch(seq, self.empty(), pl.from_arrow(chunk), origin)
                seq += 1
            for frame in conversation_chunks(sorted_path, batch_size):
                yield SourceBatch(seq, frame, origin=origin)
                seq += 1

    def _sort_input(self, sorted_path: Path, bad_path: Path) -> None:
        """Write the good rows, sorted, and the rejected rows to two Parquet files.

        When polars cannot parse the input and the source has a lenient reading, the input is
        read once more that way.
        """
        while True:
            try:
                self.unreadable = []
                good, bad = self.split(self.scan())
                role_rank = pl.col("role").replace_strict(
                    ROLE_ORDER, default=9, return_dtype=pl.Int8
                )
                ordered = good.with_columns(
                    _conv_start=pl.col("sent_at").min().over("conversation_id"),
                    _role_rank=role_rank,
                ).sort("_conv_start", "conversation_id", "sent_at", "_role_rank", "message_id")
                pl.collect_all(
                    [
                        ordered.drop("_conv_start", "_role_rank").sink_parquet(
                            sorted_path, lazy=True
                        ),
                        pl.concat([*self.unreadable, bad]).sink_parquet(bad_path, lazy=True),
                    ]
                )
                return
            except PARSE_ERRORS as exc:
                if isinstance(exc, pl.exceptions.ComputeError) and self._go_lenient():
                    continue
                more = f" and {len(self.files) - 1} more" if len(self.files) > 1 else ""
                raise InputError(
                    f"cannot read {self.files[0]}{more} as {self.name} input: {parser_error(exc)}",
                    f"check that the file is in the {self.name} format ({self.description})",
                ) from None

    def _go_lenient(self) -> bool:
        """Switch to the lenient reading; False when there is none or it is already on."""
        if not self.lenient_fallback or self.lenient:
            return False
        self.lenient = True
        return True

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
        if "name" in vars(cls):
            found[cls.name] = cls
    return dict(sorted(found.items()))


def _not_an_option(option: str, source: str) -> ConfigurationError:
    """Return the error for an ``option`` that ``source`` does not take."""
    flag = "--" + option.replace("_", "-")
    takers = [name for name, cls in source_classes().items() if option in cls.option_names]
    where = f"it applies to --source {' / '.join(takers)} only; " if takers else ""
    return ConfigurationError(f"{flag} is not an option of the {source} source", f"{where}drop it")
