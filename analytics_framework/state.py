"""Processing state as data: a JSON document per pipeline, changed only by pure functions.

Shape (``schema_version`` 1)::

    {
      "schema_version": 1,
      "pipeline": "twcs",
      "lake": "/home/me/project/lake" | "s3://bucket/prefix",
      "streams": {
        "<stream>": {
          "watermark": {"sent_at": "2017-10-31T22:10:47+00:00", "message_id": "twcs:1"} | null,
          "files": {"<path>": {"size": 315063, "sha256": "…", "processed_at": "…"}},
          "cursors": {"<endpoint>": "2026-01-01T00:00:00+00:00"}
        }
      },
      "ledger": [ {batch_id, load_id, stream, seq, rows_in, rows_out, quarantined,
                   partitions, started_at, finished_at, seconds}, … ],
      "runs": [ {load_id, started_at, finished_at, seconds, outcome, rows_read, …}, … ],
      "active": {load_id, mode, files, cutoff, days, batch_size, …, "watermark": […]} | absent
    }

Each stream may also hold ``coverage``: ``{"<input key>": [["2024-01-01", "2024-02-01"], …]}``,
the half-open day ranges whose conversations were completely collected from that input (a
backfill skips them; ``analytics status`` shows them).

``lake`` names the lake the document describes (an absolute folder or ``s3://…``): its files
count as processed *into that lake* only, so a run against another lake never uses it
(:func:`lake_mismatch`). Documents written before it was recorded adopt the lake of their next
run.

``active`` is the load in progress, written before its first batch: a load that was killed or
stopped leaves it behind, and ``collect --resume`` continues it after its last committed batch.
The watermark of a load is kept in ``active`` and moved to the stream only when the load
succeeds, because batches come in conversation order, not time order: a crash must leave the old
watermark so the next run re-reads everything the crashed one may have missed.

Every function here returns a new document and never touches its input; unchanged parts are
shared, not copied, so a commit per batch stays cheap. The state logic is therefore tested
without I/O (the habit of meltano/sdk ``singer_sdk/helpers/_state.py``). Reading and writing the
document is :mod:`analytics_framework.storage.state_store`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

SCHEMA_VERSION = 1
LEDGER_LIMIT = 2_000
"""Most recent batch entries kept; older ones are dropped so the file stays small."""
RUNS_LIMIT = 200

State = dict[str, Any]


class StateFormatError(ValueError):
    """The document is not a state document this version understands."""


def new_state(pipeline: str, lake: str | None = None) -> State:
    """Return an empty state document for ``pipeline`` describing ``lake`` (if given)."""
    doc: State = {
        "schema_version": SCHEMA_VERSION,
        "pipeline": pipeline,
        "streams": {},
        "ledger": [],
        "runs": [],
    }
    if lake is not None:
        doc["lake"] = lake
    return doc


def lake_mismatch(state: State, lake: str) -> str | None:
    """Return the other lake ``state`` describes, or None when it describes ``lake`` (or none)."""
    recorded = state.get("lake")
    return recorded if recorded is not None and recorded != lake else None


def bind_lake(state: State, lake: str) -> State:
    """Return ``state`` recording ``lake`` (a document from before lakes were recorded)."""
    return state if state.get("lake") == lake else {**state, "lake": lake}


def validate(doc: Any) -> State:
    """Check the shape of a loaded document and return it.

    Raises:
        StateFormatError: not an object, an unknown schema version, or missing sections.
    """
    if not isinstance(doc, dict):
        raise StateFormatError("the state is not a JSON object")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise StateFormatError(f"schema_version {version!r} is not {SCHEMA_VERSION}")
    for key, kind in (("pipeline", str), ("streams", dict), ("ledger", list), ("runs", list)):
        if not isinstance(doc.get(key), kind):
            raise StateFormatError(f"'{key}' is missing or not a {kind.__name__}")
    if not isinstance(doc.get("active", {}), dict):
        raise StateFormatError("'active' is not an object")
    if not isinstance(doc.get("lake", ""), str):
        raise StateFormatError("'lake' is not a string")
    return doc


def _with_stream(state: State, stream: str, **changes: Any) -> State:
    """Return ``state`` with ``changes`` applied to one stream, copying only that path."""
    old = state["streams"].get(stream, {"watermark": None, "files": {}})
    return {**state, "streams": {**state["streams"], stream: {**old, **changes}}}


def advance_watermark(state: State, stream: str, sent_at: str, message_id: str) -> State:
    """Return ``state`` with the stream's watermark moved to (sent_at, message_id) if newer.

    The watermark is a cursor: the newest ``sent_at`` seen, ties broken by ``message_id``. It
    never moves backwards. ``sent_at`` is an ISO 8601 UTC string (they compare in time order).
    """
    current = state["streams"].get(stream, {}).get("watermark")
    if current is None or (sent_at, message_id) > (current["sent_at"], current["message_id"]):
        return _with_stream(state, stream, watermark={"sent_at": sent_at, "message_id": message_id})
    return state


def record_file(
    state: State, stream: str, path: str, size: int, sha256: str, processed_at: str
) -> State:
    """Return ``state`` noting that ``path`` (with this size and hash) was fully processed."""
    files = state["streams"].get(stream, {}).get("files", {})
    seen = {"size": size, "sha256": sha256, "processed_at": processed_at}
    return _with_stream(state, stream, files={**files, path: seen})


def file_unchanged(state: State, stream: str, path: str, size: int, sha256: str) -> bool:
    """Whether ``path`` was processed before with exactly this size and content hash."""
    seen = state["streams"].get(stream, {}).get("files", {}).get(path)
    return bool(seen) and seen["size"] == size and seen["sha256"] == sha256


def stream_cursor(state: State, stream: str, endpoint: str) -> str | None:
    """Return an API stream's cursor for ``endpoint`` (ISO 8601 UTC), or None before its first run.

    The cursor is the newest replication-key value (NocoDB ``UpdatedAt``, Mochi
    ``updated_at``) a successful run saw; it is kept per endpoint, so reading another table or
    filter starts from scratch.
    """
    return state["streams"].get(stream, {}).get("cursors", {}).get(endpoint)


def record_cursor(state: State, stream: str, endpoint: str, cursor: str) -> State:
    """Return ``state`` with the stream's cursor for ``endpoint`` moved to ``cursor`` if newer."""
    cursors = state["streams"].get(stream, {}).get("cursors", {})
    current = cursors.get(endpoint)
    if current is not None and current >= cursor:
        return state
    return _with_stream(state, stream, cursors={**cursors, endpoint: cursor})


def last_committed_key(state: State, load_id: str) -> str | None:
    """Return the highest conversation key committed by ``load_id`` (API loads), or None."""
    keys = [e["last_key"] for e in committed_batches(state, load_id) if e.get("last_key")]
    return max(keys, default=None)


def record_batch(state: State, entry: dict[str, Any]) -> State:
    """Return ``state`` with a committed batch appended to the ledger.

    ``entry`` holds batch_id, load_id, stream, seq, rows_in, rows_out, quarantined, partitions,
    started_at, finished_at, seconds. Committing the same batch_id twice keeps one entry.
    """
    ledger = [e for e in state["ledger"] if e.get("batch_id") != entry["batch_id"]]
    ledger.append(dict(entry))
    return {**state, "ledger": ledger[-LEDGER_LIMIT:]}


def record_run(state: State, run: dict[str, Any]) -> State:
    """Return ``state`` with a finished run (outcome, times, counts) appended."""
    return {**state, "runs": [*state["runs"], dict(run)][-RUNS_LIMIT:]}


def committed_batches(state: State, load_id: str) -> list[dict[str, Any]]:
    """Return the ledger entries of one load, in commit order."""
    return [e for e in state["ledger"] if e.get("load_id") == load_id]


def last_committed_seq(state: State, load_id: str) -> int:
    """Return the highest committed batch ``seq`` of ``load_id``, or -1 when none."""
    return max((e["seq"] for e in committed_batches(state, load_id)), default=-1)


def begin_load(state: State, load: dict[str, Any]) -> State:
    """Return ``state`` with ``load`` (its plan: load_id, mode, files, …) as the active load."""
    return {**state, "active": {**load, "watermark": load.get("watermark")}}


def advance_load_watermark(state: State, sent_at: str, message_id: str) -> State:
    """Return ``state`` with the active load's pending watermark moved up to (sent_at, id)."""
    active = state.get("active")
    if active is None:
        return state
    current = active.get("watermark")
    if current is None or [sent_at, message_id] > list(current):
        return {**state, "active": {**active, "watermark": [sent_at, message_id]}}
    return state


def end_load(state: State, stream: str, promote_watermark: bool) -> State:
    """Return ``state`` with the active load closed after success.

    With ``promote_watermark`` (incremental and full runs, not backfills) the load's pending
    watermark becomes the stream's watermark (if newer).
    """
    active = state.get("active")
    if active is None:
        return state
    rest = {k: v for k, v in state.items() if k != "active"}
    if promote_watermark and active.get("watermark"):
        rest = advance_watermark(rest, stream, *active["watermark"])
    return rest


def _merge_ranges(ranges: list[list[str]]) -> list[list[str]]:
    """Merge half-open ISO day ranges that overlap or touch; returns them sorted."""
    out: list[list[str]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return out


COVERAGE_INPUTS_LIMIT = 200
"""Most recent inputs whose coverage is kept per stream."""


def record_coverage(state: State, stream: str, input_key: str, start: date, end: date) -> State:
    """Return ``state`` noting that days ``[start, end)`` were completely collected from input.

    ``input_key`` identifies the input's content (:func:`analytics_framework.planning.input_key`),
    so a changed input is not mistaken for one already collected.
    """
    if end <= start:
        return state
    coverage = state["streams"].get(stream, {}).get("coverage", {})
    ranges = _merge_ranges([*coverage.get(input_key, []), [start.isoformat(), end.isoformat()]])
    others = {k: v for k, v in coverage.items() if k != input_key}
    kept = dict(list(others.items())[-(COVERAGE_INPUTS_LIMIT - 1) :])
    return _with_stream(state, stream, coverage={**kept, input_key: ranges})


def covered_days(state: State, stream: str, input_key: str | None = None) -> set[date]:
    """Return the days completely collected for ``stream`` (from one input, or from any)."""
    coverage = state["streams"].get(stream, {}).get("coverage", {})
    keys = [input_key] if input_key is not None else list(coverage)
    days: set[date] = set()
    for key in keys:
        for lo, hi in coverage.get(key, []):
            day, stop = date.fromisoformat(lo), date.fromisoformat(hi)
            while day < stop:
                days.add(day)
                day += timedelta(days=1)
    return days
