"""A sharded backfill's plan and outcomes, as data in the pipeline's state (pure functions).

A backfill ``[start, end)`` is cut into day-range shards of ``shard_days`` days (the last one
shorter). Conversations are partitioned by the local day they start on, in the same zone as the
backfill's days (:func:`analytics_framework.transform.conversations.with_partition`), so two
shards never write the same partition.

The driver keeps the plan and every shard's outcome in the pipeline's state document, under
``shards``::

    "shards": {
      "<plan key>": {
        "start": "2024-01-01", "end": "2024-03-01", "shard_days": 7, "input_key": "…",
        "command": "analytics collect …", "planned_at": "…", "finished_at": "…" | null,
        "file_groups": 3   (when the input was parsed once for every shard, in that many tasks)
        "shards": [
          {"start": "2024-01-01", "end": "2024-01-08", "state": "twcs.shard-2024-01-01",
           "status": "pending" | "done" | "failed", "error": null | "…",
           "rows_read": 0, "conversations": 0, "messages": 0, "quarantined": 0,
           "seconds": 0.0, "node": "…", "finished_at": "…"}, …
        ]
      }
    }

The plan key names the input, the range and the shard size, so re-running the same command finds
its plan and skips the shards already done; any other plan starts fresh. Every function returns a
new document, as :mod:`analytics_framework.state` does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from analytics_framework.errors import ConfigurationError
from analytics_framework.state import State, covered_days

if TYPE_CHECKING:
    from analytics_framework.storage.lake import Lake

PLANS_KEPT = 20
"""Most recent shard plans kept in a state document."""

SHARD_MARK = ".shard-"
"""What a shard's state document name holds after its pipeline's (:meth:`Shard.state_name`)."""


@dataclass(frozen=True)
class Shard:
    """One day range of a sharded backfill.

    Attributes:
        start: first day (inclusive), in the collect's zone.
        end: first day after it (exclusive).
    """

    start: date
    end: date

    def state_name(self, pipeline: str) -> str:
        """Return the shard's own S3 state document name: ``<pipeline>.shard-<start>_<end>``."""
        return f"{pipeline}{SHARD_MARK}{self.start.isoformat()}_{self.end.isoformat()}"

    def days(self) -> list[date]:
        """Return the shard's days, in order."""
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days)]


def plan_shards(start: date, end: date, shard_days: int) -> list[Shard]:
    """Cut ``[start, end)`` into consecutive shards of ``shard_days`` days (the last shorter).

    Raises:
        ConfigurationError: ``shard_days`` below 1, or an empty range.
    """
    if shard_days < 1:
        raise ConfigurationError(
            f"--shard-days {shard_days} is not a number of days", "pass 1 or more, e.g. 7"
        )
    if end <= start:
        raise ConfigurationError(
            f"the backfill {start}..{end} is empty", "pass an --end-date after --start-date"
        )
    shards = []
    at = start
    while at < end:
        nxt = min(at + timedelta(days=shard_days), end)
        shards.append(Shard(at, nxt))
        at = nxt
    return shards


def plan_key(input_key: str, start: date, end: date, shard_days: int) -> str:
    """Return a short key for one plan: same input, range and shard size, same key."""
    raw = f"{input_key}|{start.isoformat()}|{end.isoformat()}|{shard_days}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def record_plan(
    state: State,
    key: str,
    shards: list[Shard],
    *,
    pipeline: str,
    input_key: str,
    shard_days: int,
    command: str,
) -> State:
    """Return ``state`` with the plan ``key`` recorded (its done shards kept if it exists)."""
    plans = dict(state.get("shards", {}))
    old = {(s["start"], s["end"]): s for s in plans.get(key, {}).get("shards", [])}
    entries = []
    for shard in shards:
        span = (shard.start.isoformat(), shard.end.isoformat())
        prior = old.get(span)
        if prior is not None and prior.get("status") == "done":
            entries.append(prior)
            continue
        entries.append(
            {
                "start": span[0],
                "end": span[1],
                "state": shard.state_name(pipeline),
                "status": "pending",
                "error": None,
            }
        )
    plans.pop(key, None)
    plans[key] = {
        "start": shards[0].start.isoformat(),
        "end": shards[-1].end.isoformat(),
        "shard_days": shard_days,
        "input_key": input_key,
        "command": command,
        "planned_at": _now(),
        "finished_at": None,
        "shards": entries,
    }
    while len(plans) > PLANS_KEPT:
        plans.pop(next(iter(plans)))
    return {**state, "shards": plans}


def record_outcome(state: State, key: str, shard: Shard, outcome: dict[str, Any]) -> State:
    """Return ``state`` with one shard's outcome (``status``, counts, ``error``) merged in."""
    plans = dict(state["shards"])
    plan = dict(plans[key])
    span = (shard.start.isoformat(), shard.end.isoformat())
    plan["shards"] = [
        {**s, **outcome, "finished_at": _now()} if (s["start"], s["end"]) == span else s
        for s in plan["shards"]
    ]
    plans[key] = plan
    return {**state, "shards": plans}


def note_plan(state: State, key: str, **fields: Any) -> State:
    """Return ``state`` with ``fields`` set on the plan (``file_groups``: the file shards)."""
    plans = dict(state["shards"])
    plans[key] = {**plans[key], **fields}
    return {**state, "shards": plans}


def finish_plan(state: State, key: str) -> State:
    """Return ``state`` with the plan's ``finished_at`` set (every shard has an outcome)."""
    plans = dict(state["shards"])
    plans[key] = {**plans[key], "finished_at": _now()}
    return {**state, "shards": plans}


def pending(
    state: State, key: str, shards: list[Shard], pipeline: str, input_key: str, force: bool
) -> tuple[list[Shard], list[Shard]]:
    """Split ``shards`` into (to run, already done).

    Done: recorded ``done`` in this plan, or every day of it already covered by a backfill of
    the same input (:func:`analytics_framework.state.covered_days`), however it was collected.
    With ``force`` (``--force``: collect done days again) nothing counts as done, so a forced
    run that was killed, re-run with ``--force``, starts every shard again; re-run it without
    ``--force`` to finish only the shards it had not done.
    """
    recorded = {
        (s["start"], s["end"]): s.get("status")
        for s in state.get("shards", {}).get(key, {}).get("shards", [])
    }
    covered = set() if force else covered_days(state, pipeline, input_key)
    todo, done = [], []
    for shard in shards:
        span = (shard.start.isoformat(), shard.end.isoformat())
        finished = not force and recorded.get(span) == "done"
        if finished or (covered and all(d in covered for d in shard.days())):
            done.append(shard)
        else:
            todo.append(shard)
    return todo, done


def shard_plans(state: State) -> list[dict[str, Any]]:
    """Return the recorded plans, newest last, each with its shards' status counts."""
    out = []
    for key, plan in state.get("shards", {}).items():
        counts: dict[str, int] = {}
        for s in plan.get("shards", []):
            counts[s.get("status", "pending")] = counts.get(s.get("status", "pending"), 0) + 1
        out.append({"key": key, **{k: v for k, v in plan.items() if k != "shards"}, **counts})
    return out


def is_shard_state(name: str) -> bool:
    """Whether the state document (or lock) file ``name`` is a Ray shard's, not a pipeline's."""
    return SHARD_MARK in name


def delete_shard_states(lake: Lake, pipeline: str) -> int:
    """Delete the shards' documents (and locks) of ``pipeline`` in the lake's ``_state``.

    Returns:
        How many files were deleted.
    """
    prefix = f"{pipeline}{SHARD_MARK}"
    paths = [
        p for p in lake.list_files(lake.path("_state")) if p.rsplit("/", 1)[-1].startswith(prefix)
    ]
    for path in paths:
        lake.delete(path)
    return len(paths)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class ShardOutcome:
    """What one shard did.

    Attributes:
        start / end: its day range (end exclusive).
        status: ``done``, ``skipped`` (done by an earlier run) or ``failed``.
        error: the failure's one line, or None.
        rows_read / conversations / messages / quarantined: as :class:`RunSummary` counts them.
        seconds: the task's wall time.
        node: the Ray node that ran it (``address/node id``).
    """

    start: date
    end: date
    status: str
    error: str | None = None
    rows_read: int = 0
    conversations: int = 0
    messages: int = 0
    quarantined: int = 0
    seconds: float = 0.0
    node: str = ""


@dataclass
class ShardedSummary:
    """The closing summary of a sharded collect.

    Attributes:
        source / lake: what was collected where.
        plan_key: the plan's key in the pipeline's state (``shards``).
        outcomes: one per shard, in day order.
        seconds: the driver's wall time.
        staged: whether the input was parsed once for every shard (:mod:`.staged`).

    ``quarantined``: with a staged input (parsed once, :mod:`.staged`) the first shard carries
    the records the parse rejected and each shard its own duplicate ids, so the shards' figures
    add up. Otherwise every shard parses the whole input and quarantines the same records into
    the same files (:meth:`~analytics_framework.storage.lake.Lake.write_rejected` names them by
    input and batch), so the largest figure of any shard is the count.
    """

    source: str
    lake: str
    plan_key: str
    outcomes: list[ShardOutcome] = field(default_factory=list)
    seconds: float = 0.0
    staged: bool = False

    def count(self, status: str) -> int:
        """How many shards ended with ``status``."""
        return sum(o.status == status for o in self.outcomes)

    @property
    def failed(self) -> list[ShardOutcome]:
        """The shards that failed for good."""
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def conversations(self) -> int:
        """Conversations written by this run's shards."""
        return sum(o.conversations for o in self.outcomes)

    @property
    def messages(self) -> int:
        """Messages written by this run's shards."""
        return sum(o.messages for o in self.outcomes)

    @property
    def quarantined(self) -> int:
        """Malformed records quarantined (see the class doc)."""
        figures = [o.quarantined for o in self.outcomes]
        return sum(figures) if self.staged else max(figures, default=0)
