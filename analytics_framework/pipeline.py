"""The collect stage: source → transform → load, batch by batch, resumable.

:func:`collect` reads a source in batches of complete conversations, derives the canonical
``conversations`` rows (:mod:`analytics_framework.transform.conversations`), quarantines
malformed records, keeps the conversations its :class:`~analytics_framework.planning.Plan`
wants, stages each batch durably and publishes whole day partitions
(:class:`~analytics_framework.storage.loader.PartitionLoader`). Memory is bounded by the batch
size and one day partition, not by the input.

Crash safety, in the order a batch goes through it:

1. the batch is staged (``_staging/<load_id>/``), each file written atomically;
2. partitions that are complete are published (merged into the lake by upsert, atomically);
3. the batch is committed to the state (ledger, pending watermark, backfill coverage), atomically.

A crash anywhere re-runs at most the uncommitted batch: the next run first publishes whatever the
interrupted load left staged (idempotent upserts), then either replays the plan (a plain re-run)
or skips the committed batches (``--resume``). Either way the lake ends up as an uninterrupted
run leaves it. :func:`run_collect` wraps all this in the pipeline's lock.
"""

from __future__ import annotations

import threading
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from analytics_framework import state as st
from analytics_framework.dates import day_range_utc
from analytics_framework.errors import InputError
from analytics_framework.faults import fail_point
from analytics_framework.model import STAGE_CHANGE_SCHEMA
from analytics_framework.planning import Plan, new_load_id, plan_collect
from analytics_framework.prefetch import prefetch
from analytics_framework.sources.base import REJECTED_SCHEMA, Source, SourceBatch
from analytics_framework.storage.lake import Lake, Partition
from analytics_framework.storage.loader import PartitionLoader
from analytics_framework.storage.query import user_aggregates
from analytics_framework.storage.state_store import S3StateStore, StateStore
from analytics_framework.transform.conversations import (
    build_conversations,
    build_replies,
    canonical_messages,
    with_partition,
)

if TYPE_CHECKING:  # pymongo is imported only by runs that write to MongoDB
    from analytics_framework.storage.mongo import MongoSink

PREFETCH_BATCHES = 1
"""Batches extracted ahead of the one being loaded (one thread; memory: a couple of batches)."""


@dataclass
class BatchReport:
    """What one batch did, for progress display."""

    seq: int
    messages_read: int
    conversations_written: int
    messages_written: int
    quarantined: int
    out_of_range: int
    skipped: int = 0


@dataclass
class RunSummary:
    """The closing summary of a ``collect`` run.

    Attributes:
        rows_read: raw records read (good + quarantined).
        messages_written / conversations_written: rows loaded into the lake.
        quarantined: malformed records written to ``<lake>/_rejected/``.
        out_of_range: messages of conversations starting outside ``[start, end)``.
        skipped: messages of conversations already collected (older than the watermark's
            lookback, or on backfill days already complete).
        seconds: wall time of the run.
        mode / plan: how the run was planned (:mod:`analytics_framework.planning`).
        nothing_to_do: why the run read nothing, or None.
        resumed_after: the last committed batch a ``--resume`` continued after (-1: none).
        recovered_load: an interrupted load whose staged batches were published first.
        stopped: the run was asked to stop and stopped after a committed batch.
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
    skipped: int = 0
    partitions: list[str] = field(default_factory=list)
    rejected_files: list[str] = field(default_factory=list)
    seconds: float = 0.0
    mode: str = "full"
    plan: Plan | None = None
    nothing_to_do: str | None = None
    resumed_after: int = -1
    recovered_load: str | None = None
    stopped: bool = False
    first_day: date | None = None
    last_day: date | None = None
    moved: int = 0
    customers: set[str] = field(default_factory=set)
    agents: set[str] = field(default_factory=set)

    @property
    def messages_per_s(self) -> float:
        """Raw records read per second of wall time."""
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0


def transform_batch(
    batch: SourceBatch,
    timezone: str,
    start: datetime | None = None,
    end: datetime | None = None,
    cutoff: datetime | None = None,
    days: list[date] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, int, int]:
    """Turn one source batch into lake rows.

    Args:
        batch: the source batch.
        timezone: IANA zone of the partition days.
        start: keep conversations starting at or after this UTC instant, or None.
        end: keep conversations starting before this UTC instant, or None.
        cutoff: skip conversations whose last message is before this instant (already loaded).
        days: keep only conversations starting on these local days (a backfill's missing days).

    Returns:
        (conversations, messages, rejected, out_of_range, skipped): the two tables with
        partition columns, the duplicate-id rows to quarantine, and the numbers of messages
        outside the range and skipped as already collected.
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
    n_in_range = raw.join(conversations.select("conversation_id"), on="conversation_id", how="semi")
    wanted = pl.lit(True)
    if cutoff is not None:
        wanted = wanted & (pl.col("ended_at") >= cutoff)
    if days is not None:
        wanted = wanted & pl.date("year", "month", "day").is_in(days)
    conversations = conversations.filter(wanted)
    messages = canonical_messages(raw).join(
        conversations.select("conversation_id", "year", "month", "day"),
        on="conversation_id",
        how="inner",
    )
    out_of_range = raw.height - n_in_range.height
    return conversations, messages, rejected, out_of_range, n_in_range.height - messages.height


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
    store: StateStore | S3StateStore | None = None,
    plan: Plan | None = None,
    stop: threading.Event | None = None,
    sink: MongoSink | None = None,
    resume_command: str = "",
) -> RunSummary:
    """Extract, transform and load ``source`` into ``lake`` as ``plan`` says.

    Args:
        source: an opened source.
        lake: the destination lake.
        batch_size: conversations per batch, when no ``plan`` is given.
        timezone: IANA zone of partition days, when no ``plan`` is given.
        start: first day kept, when no ``plan`` is given (then everything in ``[start, end)``
            is read and loaded, nothing skipped).
        end: day after the last one kept, when no ``plan`` is given.
        ordered: whether batches arrive in conversation-start order (publish partitions as
            they complete); defaults to True except for streamed sources that override
            :meth:`Source.batches`.
        on_batch: called after each committed batch with a :class:`BatchReport`.
        store: where to record the state (active load, ledger, watermark, files, coverage, the
            run's outcome); None records nothing.
        plan: what to read and skip (:func:`analytics_framework.planning.plan_collect`).
        stop: when set, the run stops after the batch in progress is committed, publishes what
            it staged, and returns with ``stopped`` True; ``--resume`` continues it.
        sink: MongoDB documents to write with each batch (before its commit) and the
            per-user aggregates at the end; None writes none.
        resume_command: the command that continues this load if it is interrupted, kept in
            the state's active load for ``analytics status``.

    Returns:
        The run's :class:`RunSummary`.

    Raises:
        InputError: the input holds no records at all.
        LakeError: the lake cannot be written.
    """
    t0 = time.perf_counter()
    if plan is None:
        identity = source.identity()
        plan = Plan(
            pipeline=source.name,
            load_id=new_load_id(),
            mode="backfill" if start is not None or end is not None else "full",
            batch_size=batch_size,
            timezone=timezone,
            start=start,
            end=end,
            files=identity.files if store is not None else {},
            input_key=identity.key,
            kind=identity.kind,
            endpoint=identity.endpoint,
        )
    stream = plan.pipeline
    if plan.files and not plan.is_api:
        source.files = [Path(p) for p in plan.files]  # type: ignore[attr-defined]
    summary = _new_summary(source, lake, plan)
    state = store.load() if store is not None else None
    started = _now()
    if plan.recover_load and plan.recover_load != plan.load_id:
        if PartitionLoader(lake, plan.recover_load).recover():
            summary.recovered_load = plan.recover_load
    if plan.is_api and plan.cursor is not None and plan.resume_after < 0 and not plan.nothing_to_do:
        if not source.has_changes(plan.cursor):  # type: ignore[attr-defined]
            plan.nothing_to_do = (
                f"nothing changed at {source.origin} since {plan.cursor.isoformat()} "
                "(add --full-refresh to read everything again)"
            )
    if plan.nothing_to_do:
        summary.nothing_to_do = plan.nothing_to_do
        summary.seconds = time.perf_counter() - t0
        if store is not None and state is not None:
            state = st.end_load(state, stream, promote_watermark=False)
            store.save(st.record_run(state, _run_entry(summary, started, "skipped")))
        return summary
    if ordered is None:
        ordered = type(source).ordered
    t_start, t_end = day_range_utc(plan.start, plan.end, plan.timezone)
    tz = zoneinfo.ZoneInfo(plan.timezone)
    loader = PartitionLoader(
        lake, plan.load_id, keep_in_memory=ordered, workers=source.settings.workers
    )
    loader.adopt()  # a resumed load's staged batches
    if store is not None and state is not None and plan.resume_after < 0:
        record = plan.to_record()
        if resume_command:
            record["resume_command"] = resume_command
        state = st.begin_load(state, record)
        store.save(state)
    try:
        batches = prefetch(
            source.batches(plan.batch_size, since=plan.since, after_key=plan.resume_key),
            PREFETCH_BATCHES,
        )
        try:
            for batch in batches:
                if plan.is_api:  # API batches of a resumed load are numbered after its last one
                    batch.seq += plan.resume_after + 1
                first_day = _local_day(batch.messages, "min", tz)
                summary.first_day = min(filter(None, [summary.first_day, first_day]), default=None)
                last_day = _local_day(batch.messages, "max", tz)
                summary.last_day = max(filter(None, [summary.last_day, last_day]), default=None)
                if batch.seq <= plan.resume_after and not plan.is_api:
                    continue
                fail_point("after_extract")
                report, facts = _load_batch(
                    batch,
                    source,
                    lake,
                    loader,
                    summary,
                    plan,
                    t_start,
                    t_end,
                    first_day,
                    ordered,
                    sink,
                )
                fail_point("after_write")
                if store is not None and state is not None:
                    state = _commit_batch(
                        state, facts, report, plan, first_day if ordered else None
                    )
                    store.save(state)
                fail_point("after_commit")
                if on_batch:
                    on_batch(report)
                if stop is not None and stop.is_set():
                    summary.stopped = True
                    break
        finally:
            batches.close()  # stops the extract thread; its error, or a second Ctrl-C, surfaces
        loader.finish()
        summary.moved = loader.remove_moved()
        if summary.rows_read == 0 and plan.resume_after < 0 and not summary.stopped:
            if not plan.is_api and not source.may_be_empty:
                raise InputError(
                    f"no records in {summary.origin}",
                    f"check that the file holds {source.name} data ({source.description})",
                )
            summary.nothing_to_do = (
                f"no records changed since {plan.since.isoformat()} at {summary.origin}"
                if plan.since is not None
                else f"no records at {summary.origin}"
            )
    except BaseException as exc:
        if store is not None and state is not None:
            outcome = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            store.save(st.record_run(state, _run_entry(summary, started, outcome, str(exc))))
        raise
    summary.partitions = [str(p) for p in sorted(set(loader.published))]
    summary.seconds = time.perf_counter() - t0
    if store is None or state is None:
        return summary
    if summary.stopped:
        entry = _run_entry(summary, started, "interrupted", "stopped by a signal")
        store.save(st.record_run(state, entry))
        return summary
    if sink is not None:
        sink.write_users(user_aggregates(lake, summary.customers, summary.agents))
    state = st.end_load(state, stream, promote_watermark=not plan.is_backfill)
    if not plan.is_backfill:  # a backfill reads only some days: the files are not done
        for path, seen in plan.files.items():
            state = st.record_file(state, stream, path, seen["size"], seen["sha256"], _now())
        if plan.is_api and source.cursor is not None:
            state = st.record_cursor(state, stream, plan.endpoint, source.cursor.isoformat())
    lo = plan.start or summary.first_day
    hi = plan.end or (summary.last_day + timedelta(days=1) if summary.last_day else None)
    if lo is not None and hi is not None:
        state = st.record_coverage(state, stream, plan.input_key, lo, hi)
    outcome = "skipped" if summary.nothing_to_do else "succeeded"
    store.save(st.record_run(state, _run_entry(summary, started, outcome)))
    return summary


def run_collect(
    source: Source,
    lake: Lake,
    store: StateStore | S3StateStore,
    *,
    batch_size: int,
    timezone: str,
    start: date | None = None,
    end: date | None = None,
    full_refresh: bool = False,
    resume: bool = False,
    force: bool = False,
    lookback: timedelta = timedelta(hours=1),
    dry_run: bool = False,
    wait_s: float = 0.0,
    on_batch: Callable[[BatchReport], None] | None = None,
    stop: threading.Event | None = None,
    command: str = "",
    resume_command: str = "",
    sink: MongoSink | None = None,
) -> RunSummary:
    """Plan and run one collect of a pipeline while holding its lock.

    The plan (:func:`analytics_framework.planning.plan_collect`) comes from the state read
    under the lock. With ``dry_run`` nothing is locked or written: the returned summary only
    carries the plan.

    Raises:
        LockHeldError: another run of the pipeline holds the lock (after ``wait_s``).
        ConfigurationError: conflicting options or nothing to resume.
        CorruptStateError: the state file cannot be used.
    """
    load_id = new_load_id()

    def make_plan() -> Plan:
        return plan_collect(
            store.load(),
            source.name,
            source.identity(),
            load_id=load_id,
            batch_size=batch_size,
            timezone=timezone,
            start=start,
            end=end,
            full_refresh=full_refresh,
            resume=resume,
            force=force,
            lookback=lookback,
        )

    if dry_run:
        plan = make_plan()
        summary = _new_summary(source, lake, plan)
        summary.nothing_to_do = plan.nothing_to_do
        return summary
    with store.lock(load_id, wait_s=wait_s, command=command):
        plan = make_plan()
        return collect(
            source,
            lake,
            store=store,
            plan=plan,
            on_batch=on_batch,
            stop=stop,
            sink=sink,
            resume_command=resume_command,
        )


def _new_summary(source: Source, lake: Lake, plan: Plan) -> RunSummary:
    """Return an empty summary of a run of ``plan``."""
    return RunSummary(
        source=source.name,
        origin=source.origin,
        lake=lake.uri,
        load_id=plan.load_id,
        mode=plan.mode,
        plan=plan,
        resumed_after=plan.resume_after,
    )


def _local_day(messages: pl.DataFrame, how: str, tz: zoneinfo.ZoneInfo) -> date | None:
    """Return the local day of the earliest (``min``) or latest (``max``) message, or None."""
    if messages.height == 0:
        return None
    value = messages["sent_at"].min() if how == "min" else messages["sent_at"].max()
    return value.astimezone(tz).date() if isinstance(value, datetime) else None


def _load_batch(
    batch: SourceBatch,
    source: Source,
    lake: Lake,
    loader: PartitionLoader,
    summary: RunSummary,
    plan: Plan,
    t_start: datetime | None,
    t_end: datetime | None,
    first_day: date | None,
    ordered: bool,
    sink: MongoSink | None = None,
) -> tuple[BatchReport, dict]:
    """Transform, quarantine and stage one batch; returns its report and ledger facts.

    For an ordered source, every partition before the batch's first day is complete (later
    batches start no earlier) and is published here.
    """
    began, t0 = _now(), time.perf_counter()
    summary.batches += 1
    summary.rows_read += batch.messages.height + batch.rejected.height
    rejected = batch.rejected
    conv = msgs = None
    out_of_range = skipped = 0
    touched: set[Partition] = set()
    if batch.messages.height:
        conv, msgs, dups, out_of_range, skipped = transform_batch(
            batch, plan.timezone, t_start, t_end, plan.cutoff, plan.days
        )
        rejected = pl.concat([rejected, dups.cast(REJECTED_SCHEMA)])  # type: ignore[arg-type]
        stages = _stage_changes(batch, conv)
        replies = build_replies(msgs, conv).join(
            conv.select("conversation_id", "year", "month", "day"), on="conversation_id"
        )
        touched = loader.stage(
            batch.seq,
            {
                "conversations": conv,
                "messages": msgs,
                "replies": replies,
                "stage_changes": stages,
            },
        )
        if sink is not None and conv.height:
            sink.write_batch(conv, msgs, stages)
            summary.customers.update(conv["customer_id"].drop_nulls())
            summary.agents.update(conv["agent_ids"].explode().drop_nulls())
    if ordered and first_day is not None:
        loader.publish(before=Partition(first_day.year, first_day.month, first_day.day))
    if rejected.height:
        summary.rejected_files.append(
            lake.write_rejected(source.name, summary.origin, batch.seq, rejected)
        )
    n_conv = 0 if conv is None else conv.height
    n_msgs = 0 if msgs is None else msgs.height
    summary.quarantined += rejected.height
    summary.out_of_range += out_of_range
    summary.skipped += skipped
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
        "last_key": batch.messages["conversation_id"].max() if batch.messages.height else None,
    }
    report = BatchReport(
        batch.seq, batch.messages.height, n_conv, n_msgs, rejected.height, out_of_range, skipped
    )
    return report, facts


def _stage_changes(batch: SourceBatch, conversations: pl.DataFrame) -> pl.DataFrame:
    """Return the batch's stage changes of the conversations kept, with partition columns."""
    frame = batch.extra.get("stage_changes")
    if frame is None or frame.height == 0:
        return pl.DataFrame(schema={**STAGE_CHANGE_SCHEMA, "year": pl.Int32})
    frame = frame.select([pl.col(c).cast(t) for c, t in STAGE_CHANGE_SCHEMA.items()])
    return frame.join(
        conversations.select("conversation_id", "year", "month", "day"),
        on="conversation_id",
        how="inner",
    )


def _commit_batch(
    state: st.State, facts: dict, report: BatchReport, plan: Plan, boundary: date | None
) -> st.State:
    """Record a durable batch: ledger entry, pending watermark, backfill coverage so far."""
    state = st.record_batch(
        state,
        {
            "batch_id": f"{plan.load_id}:{report.seq:06d}",
            "load_id": plan.load_id,
            "stream": plan.pipeline,
            "seq": report.seq,
            "rows_in": report.messages_read + report.quarantined,
            "rows_out": report.messages_written,
            "conversations": report.conversations_written,
            "quarantined": report.quarantined,
            "skipped": report.skipped,
            "partitions": facts["partitions"],
            "started_at": facts["started_at"],
            "finished_at": _now(),
            "seconds": facts["seconds"],
            **({"last_key": facts["last_key"]} if plan.is_api and facts["last_key"] else {}),
        },
    )
    if facts["newest"]:
        state = st.advance_load_watermark(state, *facts["newest"])
    if plan.is_backfill and plan.start is not None and boundary is not None:
        # every day of the range before this batch's first day is published: record it, so a
        # backfill killed later re-runs only the days after it
        hi = min(boundary, plan.end) if plan.end is not None else boundary
        state = st.record_coverage(state, plan.pipeline, plan.input_key, plan.start, hi)
    return state


def _run_entry(summary: RunSummary, started: str, outcome: str, error: str = "") -> dict:
    entry = {
        "load_id": summary.load_id,
        "mode": summary.mode,
        "started_at": started,
        "finished_at": _now(),
        "seconds": round(summary.seconds, 3),
        "outcome": outcome,
        "batches": summary.batches,
        "rows_read": summary.rows_read,
        "messages_written": summary.messages_written,
        "conversations_written": summary.conversations_written,
        "quarantined": summary.quarantined,
        "skipped": summary.skipped,
    }
    if summary.nothing_to_do:
        entry["note"] = summary.nothing_to_do
    if error.strip():
        entry["error"] = error.strip().splitlines()[0]
    return entry


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
