"""The collect stage: source → transform → load, batch by batch.

:func:`collect` reads a source in batches of complete conversations, derives the canonical
``conversations`` rows (:mod:`analytics_framework.transform.conversations`), quarantines
malformed records, keeps conversations whose start falls in the requested range, stages each
batch durably and publishes whole day partitions (:class:`~analytics_framework.storage.loader.
PartitionLoader`). Memory is bounded by the batch size and one day partition, not by the input.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from analytics_framework.dates import day_range_utc
from analytics_framework.errors import InputError
from analytics_framework.sources.base import REJECTED_SCHEMA, Source, SourceBatch
from analytics_framework.storage.lake import Lake, Partition
from analytics_framework.storage.loader import PartitionLoader
from analytics_framework.transform.conversations import (
    build_conversations,
    canonical_messages,
    with_partition,
)


@dataclass
class BatchReport:
    """What one batch did, for progress display."""

    seq: int
    messages_read: int
    conversations_written: int
    messages_written: int
    quarantined: int
    out_of_range: int


@dataclass
class RunSummary:
    """The closing summary of a ``collect`` run.

    Attributes:
        rows_read: raw records read (good + quarantined).
        messages_written / conversations_written: rows loaded into the lake.
        quarantined: malformed records written to ``<lake>/_rejected/``.
        out_of_range: messages of conversations starting outside ``[start, end)``.
        seconds: wall time of the run.
    """

    source: str
    origin: str
    lake: str
    load_id: str
    batches: int = 0
    rows_read: int = 0
    messages_written: int = 0
    conversations_written: int = 0
    quarantined: int = 0
    out_of_range: int = 0
    partitions: list[str] = field(default_factory=list)
    rejected_files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def messages_per_s(self) -> float:
        """Raw records read per second of wall time."""
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0


def transform_batch(
    batch: SourceBatch,
    timezone: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, int]:
    """Turn one source batch into lake rows.

    Returns:
        (conversations, messages, rejected, out_of_range): the two tables with partition columns,
        the duplicate-id rows to quarantine, and the number of messages outside the range.
    """
    raw = batch.messages
    dup = ~pl.col("message_id").is_first_distinct()
    rejected = raw.filter(dup).select(
        record=pl.format("message {}", pl.col("message_id")),
        reason=pl.lit("duplicate message_id (first kept)"),
        raw=pl.struct(pl.all()).struct.json_encode(),
    )
    raw = raw.filter(~dup)
    conversations = build_conversations(raw)
    in_range = pl.lit(True)
    if start is not None:
        in_range = in_range & (pl.col("started_at") >= start)
    if end is not None:
        in_range = in_range & (pl.col("started_at") < end)
    conversations = with_partition(conversations.filter(in_range), "started_at", timezone)
    messages = canonical_messages(raw).join(
        conversations.select("conversation_id", "year", "month", "day"),
        on="conversation_id",
        how="inner",
    )
    return conversations, messages, rejected, raw.height - messages.height


def collect(
    source: Source,
    lake: Lake,
    *,
    batch_size: int = 1000,
    timezone: str = "UTC",
    start: date | None = None,
    end: date | None = None,
    ordered: bool | None = None,
    on_batch: Callable[[BatchReport], None] | None = None,
) -> RunSummary:
    """Extract, transform and load ``source`` into ``lake``.

    Args:
        source: an opened source.
        lake: the destination lake.
        batch_size: conversations per batch.
        timezone: IANA zone for partition days and the date range.
        start: first day to keep (conversations starting on or after it), or None.
        end: day after the last one kept (half-open), or None.
        ordered: whether batches arrive in conversation-start order (publish partitions as
            they complete); defaults to True except for streamed sources that override
            :meth:`Source.batches`.
        on_batch: called after each batch with a :class:`BatchReport`.

    Returns:
        The run's :class:`RunSummary`.

    Raises:
        InputError: the input holds no records at all.
        LakeError: the lake cannot be written.
    """
    t0 = time.perf_counter()
    load_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    summary = RunSummary(
        source=source.name,
        origin=", ".join(str(f) for f in source.files),
        lake=lake.uri,
        load_id=load_id,
    )
    if ordered is None:
        ordered = type(source).batches is Source.batches
    t_start, t_end = day_range_utc(start, end, timezone)
    loader = PartitionLoader(lake, load_id, keep_in_memory=ordered)
    for batch in source.batches(batch_size):
        summary.batches += 1
        summary.rows_read += batch.messages.height + batch.rejected.height
        rejected = batch.rejected
        conv = msgs = None
        out_of_range = 0
        if batch.messages.height:
            conv, msgs, dups, out_of_range = transform_batch(batch, timezone, t_start, t_end)
            rejected = pl.concat([rejected, dups.cast(REJECTED_SCHEMA)])  # type: ignore[arg-type]
            loader.stage(batch.seq, {"conversations": conv, "messages": msgs})
            if ordered and conv.height:
                first = conv.select(pl.col("year", "month", "day").first()).row(0)
                loader.publish(before=Partition(*first))
        if rejected.height:
            summary.rejected_files.append(
                lake.write_rejected(source.name, summary.origin, batch.seq, rejected)
            )
        summary.quarantined += rejected.height
        summary.out_of_range += out_of_range
        summary.conversations_written += 0 if conv is None else conv.height
        summary.messages_written += 0 if msgs is None else msgs.height
        if on_batch:
            on_batch(
                BatchReport(
                    batch.seq,
                    batch.messages.height,
                    0 if conv is None else conv.height,
                    0 if msgs is None else msgs.height,
                    rejected.height,
                    out_of_range,
                )
            )
    loader.finish()
    if summary.rows_read == 0:
        raise InputError(
            f"no records in {summary.origin}",
            f"check that the file holds {source.name} data ({source.description})",
        )
    summary.partitions = [str(p) for p in sorted(set(loader.published))]
    summary.seconds = time.perf_counter() - t0
    return summary
