"""Processing state as data: a JSON document per pipeline, changed only by pure functions.

Shape (``schema_version`` 1)::

    {
      "schema_version": 1,
      "pipeline": "twcs",
      "streams": {
        "<stream>": {
          "watermark": {"sent_at": "2017-10-31T22:10:47+00:00", "message_id": "twcs:1"} | null,
          "files": {"<path>": {"size": 315063, "sha256": "…", "processed_at": "…"}}
        }
      },
      "ledger": [ {batch_id, load_id, stream, seq, rows_in, rows_out, quarantined,
                   partitions, started_at, finished_at, seconds}, … ],
      "runs": [ {load_id, started_at, finished_at, seconds, outcome, rows_read, …}, … ]
    }

Every function here returns a new document and never touches its input; unchanged parts are
shared, not copied, so a commit per batch stays cheap. The state logic is therefore tested
without I/O (the habit of meltano/sdk ``singer_sdk/helpers/_state.py``). Reading and writing the
document is :mod:`analytics_framework.storage.state_store`.
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 1
LEDGER_LIMIT = 2_000
"""Most recent batch entries kept; older ones are dropped so the file stays small."""
RUNS_LIMIT = 200

State = dict[str, Any]


class StateFormatError(ValueError):
    """The document is not a state document this version understands."""


def new_state(pipeline: str) -> State:
    """Return an empty state document for ``pipeline``."""
    return {
        "schema_version": SCHEMA_VERSION,
        "pipeline": pipeline,
        "streams": {},
        "ledger": [],
        "runs": [],
    }


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
