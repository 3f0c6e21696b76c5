"""File sources: the loop that reads files into sorted batches of whole conversations.

A file source says only what differs (meltano/sdk's habit); the loop is written once here:

1. :meth:`FileSource.scan` — the raw rows as a polars ``LazyFrame`` (strings as in the file) with
   a ``_record`` column naming each record (``row 17``, ``line 3``).
2. :meth:`FileSource.reject_reason` — an expression giving why a row is malformed, or null.
3. :meth:`FileSource.canonical` — expressions for the canonical columns.
4. Malformed rows go to the quarantine frame with their reason and raw JSON, and so do the
   records a source could not decode (``FileSource.unreadable``, or an :data:`UNREADABLE`
   column); good rows are spilled and sorted by (conversation start, conversation, time) into
   a temporary Parquet file (:mod:`.spill`), then read back in chunks and cut at conversation
   boundaries (:mod:`.batching`), so no batch splits a conversation.

When polars cannot parse the input, a source with ``lenient_fallback`` is asked once more with
``lenient`` set: it then reads its files record by record (:mod:`.text`), so one bad line is
quarantined instead of failing the file.

Streaming sources whose input already comes grouped by conversation (the Facebook and Messenger
exports) override :meth:`FileSource.batches` and call :meth:`FileSource.split` on each group.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from abc import abstractmethod
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import pyarrow.parquet as pq

from analytics_framework.errors import InputError, InputNotFoundError
from analytics_framework.model import MESSAGE_SCHEMA
from analytics_framework.settings import Settings
from analytics_framework.sources.base import (
    PARSE_ERRORS,
    UNREADABLE,
    InputIdentity,
    Source,
    SourceBatch,
    parser_error,
)
from analytics_framework.sources.batching import READ_CHUNK_ROWS, conversation_chunks
from analytics_framework.sources.spill import sort_spilled


def fingerprint_files(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Return ``{resolved path: {"size": bytes, "sha256": hex}}`` for each input file."""
    out: dict[str, dict[str, Any]] = {}
    for path in paths:
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        out[str(path.resolve())] = {"size": path.stat().st_size, "sha256": h.hexdigest()}
    return out


class FileSource(Source):
    """Base class of file sources; see the module docstring for the loop it owns.

    Class attributes:
        name: registry name and id prefix (``twcs`` gives ``twcs:…`` ids).
        description: one line for ``--help`` and the README.
        default_path: input used when none is given (None: a path is required).
        option_names: the source-specific options it takes (``column_map`` for ``files``).
        lenient_fallback: whether :meth:`scan` can read the input record by record (when
            ``self.lenient`` is set) after polars failed to parse it.
        scan_twice: whether :meth:`spill_input` writes the good rows and then the rejected
            ones, each reading the input, rather than both from one reading. Right for a CSV:
            two sinks fed by one ``scan_csv`` hold far more than one (TWCS 1M: +342 against
            +209 MiB, and slower); a JSON Lines reading (a pure IO source) is cheaper shared.

    Args:
        path: the input (file, folder or glob, as the source accepts).
        settings: the run's settings.
        options: source-specific options; a None or empty-list value counts as not given.

    Raises:
        ConfigurationError: an option this source does not take was given.
        InputNotFoundError: no path was given and the source has no default, or it is missing.
    """

    default_path: ClassVar[str | None] = None
    lenient_fallback: ClassVar[bool] = False
    scan_twice: ClassVar[bool] = False

    def __init__(
        self, path: str | None, settings: Settings, options: dict[str, object] | None = None
    ) -> None:
        super().__init__(path, settings, options)
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
    def origin(self) -> str:
        """The input files, comma-separated."""
        return ", ".join(str(f) for f in self.files)

    def identity(self) -> InputIdentity:
        """Return the files' fingerprints (size and SHA-256 of each, by resolved path)."""
        return InputIdentity("files", files=fingerprint_files(self.files))

    def check(self) -> str:
        """Check every input file can be opened."""
        for f in self.files:
            with f.open("rb") as fh:
                fh.read(1)
        return f"{len(self.files)} file(s) readable"

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

    # ---- the loop ----------------------------------------------------------------------------

    def split(self, raw: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
        """Split raw rows into (canonical good rows, rejected rows)."""
        names = raw.collect_schema().names()
        raw_cols = [c for c in names if not c.startswith("_")]
        reason = self.reject_reason()
        if UNREADABLE in names:
            reason = pl.coalesce(pl.col(UNREADABLE), reason)
        rows = raw.with_columns(_reject=reason)
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

    def batches(
        self, batch_size: int, since: datetime | None = None, after_key: str | None = None
    ) -> Iterator[SourceBatch]:
        """Yield batches of at most ``batch_size`` complete conversations.

        Rejected rows come first, in batches with no messages. Good rows are ordered by
        conversation start, so consecutive batches cover consecutive stretches of time.
        ``since`` and ``after_key`` are not used: files are skipped by fingerprint, old
        conversations by the pipeline's cutoff, and a resume skips whole batches by number.

        Raises:
            InputError: the input cannot be parsed as this source's format.
        """
        origin = self.origin
        with tempfile.TemporaryDirectory(prefix="analytics-sort-") as tmp:
            bad_path = Path(tmp, "rejected.parquet")
            sorted_paths = self._sort_input(Path(tmp), bad_path)
            seq = 0
            for chunk in pq.ParquetFile(bad_path).iter_batches(batch_size=READ_CHUNK_ROWS):
                yield SourceBatch(seq, self.empty(), pl.from_arrow(chunk), origin)
                seq += 1
            for frame in conversation_chunks(sorted_paths, batch_size):
                yield SourceBatch(seq, frame, origin=origin)
                seq += 1

    @property
    def stageable(self) -> bool:
        """Whether :meth:`spill_input` is how this source reads (not a streaming override).

        A sharded collect (:mod:`analytics_framework.distributed.staged`) parses such an input
        once and hands each shard the spilled rows.
        """
        return type(self).batches is FileSource.batches

    def _sort_input(self, folder: Path, bad_path: Path) -> list[Path]:
        """Write the rejected rows to ``bad_path`` and the good rows, sorted, under ``folder``.

        :meth:`spill_input` writes the good rows unsorted and the rejected ones in one streaming
        pass; :func:`.spill.sort_spilled` then orders the good rows (buckets of whole
        conversations, by DuckDB, each sorted by polars, for big inputs), so memory is set by
        ``ANALYTICS_SORT_MEMORY`` and the bucket size, not by the input. Returns the sorted
        files, to be read in turn.
        """
        rows_path = self.spill_input(folder / "rows.parquet", bad_path)
        return sort_spilled(rows_path, folder, memory=self.settings.sort_memory)

    def spill_input(self, rows_path: Path, bad_path: Path) -> Path:
        """Parse the whole input once, spilling its good and its rejected rows; return rows_path.

        Good canonical rows go to ``rows_path`` (unsorted), the rejected ones
        (``REJECTED_SCHEMA``) to ``bad_path``. When polars cannot parse the input and the
        source has a lenient reading, the input is read once more that way.

        Raises:
            InputError: the input cannot be parsed as this source's format.
        """
        try:
            while True:
                try:
                    self.unreadable = []
                    good, bad = self.split(self.scan())
                    if self.scan_twice:  # one sink at a time: each reads the input again
                        good.sink_parquet(rows_path)
                        pl.concat([*self.unreadable, bad]).sink_parquet(bad_path)
                        return rows_path
                    pl.collect_all(
                        [
                            good.sink_parquet(rows_path, lazy=True),
                            pl.concat([*self.unreadable, bad]).sink_parquet(bad_path, lazy=True),
                        ]
                    )
                    return rows_path
                except PARSE_ERRORS as exc:
                    if isinstance(exc, pl.exceptions.ComputeError) and self._go_lenient():
                        continue
                    more = f" and {len(self.files) - 1} more" if len(self.files) > 1 else ""
                    raise InputError(
                        f"cannot read {self.files[0]}{more} as {self.name} input: "
                        f"{parser_error(exc)}",
                        f"check that the file is in the {self.name} format ({self.description})",
                    ) from None
        finally:
            if self._scratch is not None:
                self._scratch.cleanup()
                self._scratch = None

    def _go_lenient(self) -> bool:
        """Switch to the lenient reading; False when there is none or it is already on."""
        if not self.lenient_fallback or self.lenient:
            return False
        self.lenient = True
        return True
