"""The collect stage: source → transform → load, batch by batch.

:func:`collect` reads a source in batches of complete conversations, derives the canonical
``conversations`` rows (:mod:`analytics_framework.transform.conversations`), quarantines
malformed records, keeps conversations whose start falls in the requested range, stages each
batch durably and publishes whole day partitions (:class:`~analytics_framework.storage.loader.
PartitionLoader`). Memory is bounded by the batch size and one day partition, not by the input.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from analytics_framework import state as st
from analytics_framework.dates import day_range_utc
from analytics_framework.errors import InputError
from analytics_framework.sources.base import REJECTED_SCHEMA, Source, SourceBatch
from analytics_framework.storage.lake import Lake, Partition
from analytics_framework.storage.loader import PartitionLoader
from analytics_framework.storage.state_store import StateStore
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
    store: StateStore | None = None,
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
        store: where to record the state (ledger of committed batches, watermark, processed
            files, the run's outcome); None records nothing. A batch enters the ledger only
            after its staged files are durable. A backfill (``start``/``end`` given) does not
            move the incremental watermark.

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
    state = store.load() if store else None
    started = _now()
    try:
        for batch in source.batches(batch_size):
            report, batch_state = _load_batch(
                batch, source, lake, loader, summary, timezone, t_start, t_end, ordered
            )
            if store is not None and state is not None:
                state = _commit_batch(
                    state,
                    batch_state,
                    report,
                    source.name,
                    load_id,
                    backfill=start is not None or end is not None,
                )
                store.save(state)
            if on_batch:
                on_batch(report)
        loader.finish()
        if summary.rows_read == 0:
            raise InputError(
                f"no records in {summary.origin}",
                f"check that the file holds {source.name} data ({source.description})",
            )
    except BaseException as exc:
        if store is not None and state is not None:
            outcome = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            store.save(st.record_run(state, _run_entry(summary, started, outcome, str(exc))))
        raise
    summary.partitions = [str(p) for p in sorted(set(loader.published))]
    summary.seconds = time.perf_counter() - t0
    if store is not None and state is not None:
        for f in source.files:
            state = st.record_file(
                state, source.name, str(f.resolve()), f.stat().st_size, _sha256(f), _now()
            )
        store.save(st.record_run(state, _run_entry(summary, started, "succeeded")))
    return summary


def _load_batch(
    batch: SourceBatch,
    source: Source,
    lake: Lake,
    loader: PartitionLoader,
    summary: RunSummary,
    timezone: str,
    t_start: datetime | None,
    t_end: datetime | None,
    ordered: bool,
) -> tuple[BatchReport, dict]:
    """Transform, quarantine and stage one batch; returns its report and ledger facts."""
    began, t0 = _now(), time.perf_counter()
    summary.batches += 1
    summary.rows_read += batch.messages.height + batch.rejected.height
    rejected = batch.rejected
    conv = msgs = None
    out_of_range = 0
    touched: set[Partition] = set()
    if batch.messages.height:
        conv, msgs, dups, out_of_range = transform_batch(batch, timezone, t_start, t_end)
        rejected = pl.concat([rejected, dups.cast(REJECTED_SCHEMA)])  # type: ignore[arg-type]
        touched = loader.stage(batch.seq, {"conversations": conv, "messages": msgs})
        if ordered and conv.height:
            first = conv.select(pl.col("year", "month", "day").first()).row(0)
            loader.publish(before=Partition(*first))
    if rejected.height:
        summary.rejected_files.append(
            lake.write_rejected(source.name, summary.origin, batch.seq, rejected)
        )
    n_conv = 0 if conv is None else conv.height
    n_msgs = 0 if msgs is None else msgs.height
    summary.quarantined += rejected.height
    summary.out_of_range += out_of_range
    summary.conversations_written += n_conv
    summary.messages_written += n_msgs
    newest = None
    if msgs is not None and msgs.height:
        row = msgs.select("sent_at", "message_id").top_k(1, by=["sent_at", "message_id"]).row(0)
        newest = (row[0].isoformat(), row[1])
    facts = {
        "started_at": began,
        "seconds": round(time.perf_counter() - t0, 4),
        "partitions": sorted(str(p) for p in touched),
        "newest": newest,
    }
    report = BatchReport(
        batch.seq, batch.messages.height, n_conv, n_msgs, rejected.height, out_of_range
    )
    return report, facts


def _commit_batch(
    state: st.State, facts: dict, report: BatchReport, stream: str, load_id: str, backfill: bool
) -> st.State:
    state = st.record_batch(
        state,
        {
            "batch_id": f"{load_id}:{report.seq:06d}",
            "load_id": load_id,
            "stream": stream,
            "seq": report.seq,
            "rows_in": report.messages_read + report.quarantined,
            "rows_out": report.messages_written,
            "conversations": report.conversations_written,
            "quarantined": report.quarantined,
            "partitions": facts["partitions"],
            "started_at": facts["started_at"],
            "finished_at": _now(),
            "seconds": facts["seconds"],
        },
    )
    if facts["newest"] and not backfill:
        state = st.advance_watermark(state, stream, *facts["newest"])
    return state


def _run_entry(summary: RunSummary, started: str, outcome: str, error: str = "") -> dict:
    entry = {
        "load_id": summary.load_id,
        "started_at": started,
        "finished_at": _now(),
        "outcome": outcome,
        "batches": summary.batches,
        "rows_read": summary.rows_read,
        "messages_written": summary.messages_written,
        "conversations_written": summary.conversations_written,
        "quarantined": summary.quarantined,
    }
    if error:
        entry["error"] = error.splitlines()[0]
    return entry


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
