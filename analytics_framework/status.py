"""Where a pipeline stands: watermark, runs, lock holder, ledger, quarantine and day coverage.

:func:`pipeline_status` gathers, for one pipeline, everything ``analytics status`` shows, as
plain JSON-ready data; rendering is the CLI's business. Coverage is a grid of days × stages:

- ``extracted``: the day's conversations were completely read from the source (recorded in the
  state as day ranges by successful runs and, batch by batch, by backfills);
- ``loaded``: conversations of this pipeline in the lake's partition for that day (counted with
  DuckDB over the partition files, pruned to the range);
- ``labeled``: those of them with a current label (``labels`` rows with status ``labeled``).

Nothing here writes anything or takes the lock.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from analytics_framework import state as st
from analytics_framework.planning import day_list
from analytics_framework.reports.engine import connect, day_filter, day_params
from analytics_framework.storage.lake import Lake
from analytics_framework.storage.state_store import S3StateStore, StateStore

DEFAULT_DAYS = 14
"""Days shown in the coverage grid when no range is given (ending at the last covered day)."""


def state_files(state_dir: str) -> list[Path]:
    """Return the state documents in ``state_dir`` (one per pipeline), sorted."""
    folder = Path(state_dir)
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.glob("*.json") if not p.name.endswith(".lock.json") and p.is_file()
    )


def s3_state_pipelines(lake: Lake) -> list[str]:
    """Return the pipelines whose state lives on S3 beside ``lake`` (``_state/*.json``)."""
    names = []
    for path in lake.list_files(lake.path("_state")):
        name = path.rsplit("/", 1)[-1]
        if name.endswith(".json"):
            names.append(name[: -len(".json")])
    return sorted(names)


def loaded_days(
    lake: Lake, source: str, start: date, end: date, table: str = "conversations"
) -> dict[date, int]:
    """Count this source's conversations (or labels) per lake partition day in ``[start, end)``.

    Returns:
        ``{day: rows}`` for days that have any; {} when the table is empty.
    """
    if not lake.exists(table):
        return {}
    labeled = "AND status = 'labeled'" if table == "labels" else ""
    con = connect(lake, require=False)
    try:
        rows = con.execute(
            f"""
            SELECT make_date(year, month, day) AS d, count(*) AS n
            FROM {table}
            WHERE starts_with(conversation_id, $prefix) {labeled}
              AND {day_filter("", "lo", "hi")}
            GROUP BY ALL
            """,
            {
                "prefix": f"{source}:",
                **day_params("lo", start),
                **day_params("hi", end - timedelta(days=1)),
            },
        ).fetchall()
    finally:
        con.close()
    return {d: n for d, n in rows}


def quarantined_records(lake: Lake, source: str) -> int:
    """Count the records in this source's quarantine (``<lake>/_rejected/source=…/``)."""
    total = 0
    for path in lake.list_files(lake.path("_rejected", f"source={source}")):
        if path.endswith(".jsonl"):
            with lake.fs.open_input_stream(path) as fh:
                total += fh.read().count(b"\n")
    return total


def pipeline_status(
    store: StateStore | S3StateStore, lake: Lake, start: date | None = None, end: date | None = None
) -> dict[str, Any]:
    """Return one pipeline's status as JSON-ready data.

    Args:
        store: the pipeline's state store.
        lake: the lake it loads into.
        start: first day of the coverage grid (default: 14 days before ``end``).
        end: day after the last one of the grid (default: the day after the last covered or
            loaded day, or tomorrow).

    Returns:
        ``{"pipeline", "state_file", "watermark", "last_run", "running", "stale_lock",
        "interrupted", "batches_committed", "quarantined", "coverage": [{"day", "extracted",
        "loaded", "labeled"}, …]}``.

    Raises:
        CorruptStateError: the state file cannot be used.
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
            "resume": f"analytics collect --source {name} --resume",
        }
    covered = st.covered_days(state, name)
    if end is None:
        last = max(covered, default=None)
        end = (last + timedelta(days=1)) if last else date.today() + timedelta(days=1)
        if start is not None and end <= start:
            end = start + timedelta(days=DEFAULT_DAYS)
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS)
    loaded = loaded_days(lake, name, start, end)
    labeled = loaded_days(lake, name, start, end, "labels")
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
    }
