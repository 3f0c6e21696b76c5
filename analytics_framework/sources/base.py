"""The source base class: it owns the loop, a source says only what differs.

A source turns its input into canonical ``messages`` rows (DESIGN.md) in batches of *complete*
conversations. The loop, written once here:

1. :meth:`Source.scan` — the raw rows as a polars ``LazyFrame`` (strings as in the file) with a
   ``_record`` column naming each record (``row 17``, ``line 3``).
2. :meth:`Source.reject_reason` — an expression giving why a row is malformed, or null.
3. :meth:`Source.prepare` — an optional whole-input step (TWCS rebuilds threads here).
4. :meth:`Source.canonical` — expressions for the canonical columns.
5. Malformed rows go to the quarantine frame with their reason and raw JSON; good rows are
   sorted by (conversation start, conversation, time) into a temporary Parquet file by polars'
   streaming engine, then read back in chunks and cut at conversation boundaries, so no batch
   splits a conversation and memory is bounded by the chunk, not the input.

Streaming sources whose input already comes grouped by conversation (the Facebook export)
override :meth:`Source.batches` and call :meth:`Source.split` on each group of rows.
"""

from __future__ import annotations

import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import polars as pl
import pyarrow.parquet as pq

from analytics_framework.errors import InputError, InputNotFoundError
from analytics_framework.model import MESSAGE_SCHEMA, ROLE_ORDER
from analytics_framework.settings import Settings

REJECTED_SCHEMA = {"record": pl.String(), "reason": pl.String(), "raw": pl.String()}

READ_CHUNK_ROWS = 65_536
"""Rows read at a time from the sorted temporary file."""


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


def parse_timestamp(expr: pl.Expr) -> pl.Expr:
    """Parse ISO 8601 strings to ``Datetime("us", "UTC")``; null where unparsable.

    Accepts ``2017-10-31T22:10:47Z``, offsets (``+02:00``, ``+0000``), a space instead of ``T``,
    fractional seconds, naive times (taken as UTC) and bare dates (midnight UTC).
    """
    s = expr.cast(pl.String).str.strip_chars().str.replace(" ", "T").str.replace("Z$", "+00:00")

    def fmt(f: str) -> pl.Expr:
        return s.str.to_datetime(format=f, time_unit="us", time_zone="UTC", strict=False)

    return pl.coalesce(fmt("%Y-%m-%dT%H:%M:%S%.f%#z"), fmt("%Y-%m-%dT%H:%M:%S%.f"), fmt("%Y-%m-%d"))


def first_reason(*checks: tuple[pl.Expr, str]) -> pl.Expr:
    """Return the reason of the first failing check, or null; each check is (is_bad, reason)."""
    expr = pl.lit(None, dtype=pl.String)
    for bad, reason in reversed(checks):
        expr = pl.when(bad).then(pl.lit(reason)).otherwise(expr)
    return expr


class Source(ABC):
    """Base class of every source; see the module docstring for the loop it owns.

    Class attributes:
        name: registry name and id prefix (``twcs`` gives ``twcs:…`` ids).
        description: one line for ``--help`` and the README.
        default_path: input used when none is given (None: a path is required).

    Args:
        path: the input (file, folder or glob, as the source accepts).
        settings: the run's settings.
        options: source-specific options (``column_map`` for ``files``).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    default_path: ClassVar[str | None] = None

    def __init__(
        self, path: str | None, settings: Settings, options: dict[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.options = dict(options or {})
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
        raw_cols = [c for c in raw.collect_schema().names() if not c.startswith("_")]
        rows = self.prepare(raw.with_columns(_reject=self.reject_reason()))
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
        good, bad = self.split(self.scan())
        role_rank = pl.col("role").replace_strict(ROLE_ORDER, default=9, return_dtype=pl.Int8)
        ordered = good.with_columns(
            _conv_start=pl.col("sent_at").min().over("conversation_id"), _role_rank=role_rank
        ).sort("_conv_start", "conversation_id", "sent_at", "_role_rank", "message_id")
        origin = ", ".join(str(f) for f in self.files)
        with tempfile.TemporaryDirectory(prefix="analytics-sort-") as tmp:
            sorted_path, bad_path = Path(tmp, "sorted.parquet"), Path(tmp, "rejected.parquet")
            try:
                pl.collect_all(
                    [
                        ordered.drop("_conv_start", "_role_rank").sink_parquet(
                            sorted_path, lazy=True
                        ),
                        bad.sink_parquet(bad_path, lazy=True),
                    ]
                )
            except (pl.exceptions.ComputeError, pl.exceptions.SchemaError, OSError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc)
                raise InputError(
                    f"cannot read {origin} as {self.name} input: {first}",
                    f"check that the file is in the {self.name} format ({self.description})",
                ) from None
            seq = 0
            for chunk in pq.ParquetFile(bad_path).iter_batches(batch_size=READ_CHUNK_ROWS):
                yield SourceBatch(seq, self.empty(), pl.from_arrow(chunk), origin)
                seq += 1
            for frame in _conversation_chunks(sorted_path, batch_size):
                yield SourceBatch(seq, frame, origin=origin)
                seq += 1

    def empty(self) -> pl.DataFrame:
        """Return an empty canonical frame (with this source's extra columns)."""
        return pl.DataFrame(schema=MESSAGE_SCHEMA)


def _conversation_chunks(path: Path, batch_size: int) -> Iterator[pl.DataFrame]:
    """Read a Parquet file sorted by conversation and yield frames of ``batch_size`` conversations.

    The last conversation of a chunk may continue in the next chunk, so it is carried over until
    the end of the file. Rows are sorted, so conversation ordinals (``rle_id``) are
    non-decreasing and a batch is a slice found by binary search.
    """
    carry: pl.DataFrame | None = None
    for rb in pq.ParquetFile(path).iter_batches(batch_size=READ_CHUNK_ROWS):
        frame = pl.from_arrow(rb)
        assert isinstance(frame, pl.DataFrame)
        if carry is not None and carry.height:
            frame = pl.concat([carry, frame], how="vertical_relaxed")
        carry = yield from _cut(frame, batch_size, final=False)
    if carry is not None and carry.height:
        yield from _cut(carry, batch_size, final=True)


def _cut(frame: pl.DataFrame, batch_size: int, *, final: bool) -> Iterator[pl.DataFrame]:
    """Yield slices of ``batch_size`` whole conversations; return the unfinished rest.

    Unless ``final``, the last conversation in ``frame`` may continue in the next chunk and is
    never emitted here.
    """
    ordinal = frame.get_column("conversation_id").rle_id()
    n_conv = int(ordinal[-1]) + 1
    complete = n_conv if final else n_conv - 1
    offset = 0
    for first in range(0, complete - (0 if final else batch_size - 1), batch_size):
        upto = min(first + batch_size, complete)
        end = int(ordinal.search_sorted(upto, side="left"))
        yield frame.slice(offset, end - offset)
        offset = end
    return frame.slice(offset)


def require_columns(schema_names: list[str], required: list[str], origin: str, fmt: str) -> None:
    """Raise :class:`InputError` naming the columns ``origin`` lacks.

    Args:
        schema_names: the input's column names.
        required: the columns the source needs.
        origin: the file, for the message.
        fmt: the format name, for the message.
    """
    missing = [c for c in required if c not in schema_names]
    if missing:
        raise InputError(
            f"{origin} is missing column(s) {', '.join(missing)} needed by the {fmt} format "
            f"(it has: {', '.join(schema_names) or 'none'})",
            "pass the right --source, or map the columns with --column-map CANONICAL=YOURS",
        )
