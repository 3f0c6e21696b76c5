"""Where a pipeline stands: watermark, runs, lock holder, ledger, quarantine and day coverage.

:func:`pipeline_status` gathers, for one pipeline, everything ``analytics status`` shows, as
plain JSON-ready data; rendering is the CLI's business. Coverage is a grid of days × stages:

- ``extracted``: the day's conversations were completely read from the source (recorded in the
  state as day ranges by successful runs and, batch by batch, by backfills);
- ``loaded``: conversations of this pipeline in the lake's partition for that day (counted with
  DuckDB over the partition files, pruned to the range; the counts of partitions unchanged since
  an earlier ``status`` come from its cache, :mod:`analytics_framework.storage.counts`);
- ``labeled``: those of them with a current label (``labels`` rows with status ``labeled``).

With no dates the grid shows the data, not the calendar: the span from the first to the last day
the pipeline covers (extracted days in the state, loaded partition days in the lake), so a
backfill of 2017 shows 2017. When that span is longer than ``days`` (default
:data:`DEFAULT_DAYS`), the grid keeps its last ``days`` days and ``days_hidden`` says how many
earlier days of the span it leaves out (see them with ``--start-date/--end-date`` or ``--days``).

Nothing here takes the lock or writes to the lake or the state; the CLI keeps the partition
counts' cache in the lake's state folder.
"""

from __future__ import annotations

import shlex
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analytics_framework import state as st
from analytics_framework.dates import day_list
from analytics_framework.distributed.shards import is_shard_state, shard_plans
from analytics_framework.errors import ConfigurationError
from analytics_framework.storage.counts import CountCache, day_counts
from analytics_framework.storage.state_store import S3StateStore, StateStore

if TYPE_CHECKING:  # pyarrow only where a lake is opened
    from analytics_framework.storage.lake import Lake

DEFAULT_DAYS = 31
"""Most days shown in the coverage grid when no range is given (the data's last ones)."""


def state_files(state_dir: str) -> list[Path]:
    """Return the state documents in ``state_dir`` (one per pipeline), sorted."""
    folder = Path(state_dir)
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.glob("*.json") if not p.name.endswith(".lock.json") and p.is_file()
    )


def s3_state_pipelines(lake: Lake) -> list[str]:
    """Return the pipelines whose state lives on S3 beside ``lake`` (``_state/*.json``).

    A Ray shard's own document (``<pipeline>.shard-<start>_<end>.json``) is not a pipeline: its
    outcome is in its pipeline's ``shards`` (:func:`pipeline_status`).
    """
    names = []
    for path in lake.list_files(lake.path("_state")):
        name = path.rsplit("/", 1)[-1]
        if name.endswith(".json") and not is_shard_state(name):
            names.append(name[: -len(".json")])
    return sorted(names)


def loaded_days(
    lake: Lake,
    source: str,
    start: date | None,
    end: date | None,
    table: str = "conversations",
    cache: CountCache | None = None,
) -> dict[date, int]:
    """Count this source's conversations (or labels) per lake partition day in ``[start, end)``.

    Args:
        lake: the lake to read.
        source: the pipeline (conversation ids are prefixed ``<source>:``).
        start: first day counted, or None for no lower bound.
        end: day after the last one counted, or None for no upper bound.
        table: ``conversations``, or ``labels`` (only current ones, status ``labeled``).
        cache: partition counts kept from earlier runs (:mod:`analytics_framework.storage.counts`):
            only partitions new or changed since are read. None reads every one in the range.

    Returns:
        ``{day: rows}`` for days that have any; {} when the table is empty.
    """
    return day_counts(lake, table, source, start, end, cache)


def coverage_window(
    data_days: set[date],
    start: date | None,
    end: date | None,
    days: int | None,
    today: date,
) -> tuple[date, date, int]:
    """Choose the coverage grid's days: a pure function of the data's days and the options.

    Args:
        data_days: days with anything for the pipeline (extracted or loaded).
        start: first day asked for, or None.
        end: day after the last one asked for, or None.
        days: most days to show when a bound is open (None: :data:`DEFAULT_DAYS`).
        today: the fallback when there is no data at all.

    Returns:
        ``(start, end, hidden)``: the half-open range shown and how many earlier days of the
        data's span it leaves out (0 when the range was given, or the span fits).

    Raises:
        ConfigurationError: ``days`` is less than 1.
    """
    if days is not None and days < 1:
        raise ConfigurationError(f"--days must be at least 1, not {days}", "pass --days 31")
    n = days or DEFAULT_DAYS
    first = min(data_days, default=None)
    last = max(data_days, default=None)
    if start is not None and end is not None:
        return start, end, 0
    if start is not None:
        if days is not None:
            return start, start + timedelta(days=n), 0
        stop = last + timedelta(days=1) if last is not None and last >= start else None
        return start, stop or start + timedelta(days=n), 0
    if end is None:
        end = last + timedelta(days=1) if last is not None else today + timedelta(days=1)
    start = end - timedelta(days=n)
    if first is None or first >= end:
        return start, end, 0
    if first > start and days is None:  # the data's whole span fits: start where it starts
        return first, end, 0
    return start, end, max((start - first).days, 0)


def quarantined_records(lake: Lake, source: str) -> int:
    """Count the records in this source's quarantine (``<lake>/_rejected/source=…/``)."""
    total = 0
    for path in lake.list_files(lake.path("_rejected", f"source={source}")):
        if path.endswith(".jsonl"):
            with lake.fs.open_input_stream(path) as fh:
                total += fh.read().count(b"\n")
    return total


def _resume_fallback(name: str, store: StateStore | S3StateStore) -> str:
    """Return the resume command of a load started before commands were kept in the state."""
    where = (
        ["--use-s3-state"]
        if isinstance(store, S3StateStore)
        else ["--state-file", str(Path(store.path).absolute())]
    )
    return shlex.join(["analytics", "collect", "--source", name, *where, "--resume"])


def pipeline_status(
    store: StateStore | S3StateStore,
    lake: Lake,
    start: date | None = None,
    end: date | None = None,
    days: int | None = None,
    *,
    today: date | None = None,
    cache: CountCache | None = None,
) -> dict[str, Any]:
    """Return one pipeline's status as JSON-ready data.

    Args:
        store: the pipeline's state store.
        lake: the lake it loads into.
        start: first day of the coverage grid (default: the data's first day, or ``days``
            before ``end``, whichever is later).
        end: day after the last one of the grid (default: the day after the data's last day,
            extracted or loaded; with ``start`` and ``days``, ``days`` after ``start``; with no
            data, tomorrow).
        days: most days shown when a bound is open (default :data:`DEFAULT_DAYS`); given, the
            grid has exactly this many days. See :func:`coverage_window`.
        today: the day the no-data fallback ends on (default: the local date).
        cache: partition counts kept across runs (:func:`loaded_days`); the caller saves it.

    Returns:
        ``{"pipeline", "state_file", "lake", "watermark", "last_run", "runs", "running",
        "stale_lock", "interrupted", "batches_committed", "files_processed", "quarantined",
        "coverage_range": [start, end], "coverage": [{"day", "extracted", "loaded",
        "labeled"}, …], "data_range": [first, day after last], "days_total" (days in the data's
        span), "days_hidden" (earlier days of that span not in the grid)}``; with both dates
        given, nothing outside them is read, and ``data_range`` and ``days_total`` are None
        (also when there is no data at all).

    Raises:
        CorruptStateError: the state file cannot be used.
        ConfigurationError: ``days`` is less than 1.
    """
    state = store.load()
    name = state["pipeline"]
    stream = state["streams"].get(name, {})
    holder = store.holder()
    alive = holder.alive() if holder else None
    running = stale = None
    if holder is not None:
        info = {**holder.__dict__, "heartbeat_age_s": round(holder.heartbeat_age_s(), 1)}
        if alive is False:
            stale = info
        else:
            running = info
    active = state.get("active")
    interrupted = None
    if active and running is None:
        committed = st.committed_batches(state, active["load_id"])
        interrupted = {
            "load_id": active["load_id"],
            "mode": active.get("mode"),
            "batches_committed": len(committed),
            "resume": active.get("resume_command") or _resume_fallback(name, store),
        }
    covered = st.covered_days(state, name)
    explicit = start is not None and end is not None
    if explicit:  # nothing to find out: read the range's partitions only
        loaded = loaded_days(lake, name, start, end, cache=cache)
    else:  # the data's span decides the grid: count every loaded day
        loaded = loaded_days(lake, name, None, None, cache=cache)
    data_days = covered | set(loaded)
    start, end, hidden = coverage_window(data_days, start, end, days, today or date.today())
    first, last = (
        (None, None) if explicit else (min(data_days, default=None), max(data_days, default=None))
    )
    labeled = loaded_days(lake, name, start, end, "labels", cache=cache)
    coverage = [
        {
            "day": d.isoformat(),
            "extracted": d in covered,
            "loaded": loaded.get(d, 0),
            "labeled": labeled.get(d, 0),
        }
        for d in day_list(start, end)
    ]
    return {
        "pipeline": name,
        "state_file": str(store.path),
        "lake": lake.uri,
        "watermark": stream.get("watermark"),
        "last_run": state["runs"][-1] if state["runs"] else None,
        "runs": len(state["runs"]),
        "running": running,
        "stale_lock": stale,
        "interrupted": interrupted,
        "batches_committed": len(state["ledger"]),
        "files_processed": len(stream.get("files", {})),
        "quarantined": quarantined_records(lake, name),
        "coverage_range": [start.isoformat(), end.isoformat()],
        "coverage": coverage,
        "data_range": (
            [first.isoformat(), (last + timedelta(days=1)).isoformat()] if first and last else None
        ),
        "days_total": (last - first).days + 1 if first and last else None,
        "days_hidden": hidden,
        "shard_plans": shard_plans(state),
    }
