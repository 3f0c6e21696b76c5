"""Planning a collect run from the state: what to read, what to skip, where to resume.

Three modes (the issue's vocabulary, and Singer's/Airbyte's):

- **incremental** (default): input files whose size and SHA-256 match the last successful run
  are skipped; when every file read was seen before, conversations whose last message is older
  than ``watermark - lookback`` are skipped too (already loaded; the lookback catches
  late-arriving messages). A new file is read in full.
- **full** (``--full-refresh``): everything is read, the watermark is ignored (and moved at the
  end).
- **backfill** (``--start-date``/``--end-date``): conversations starting in ``[start, end)`` in
  the run's time zone. Days already collected from this same input (its content key) are
  skipped unless ``--force``; a backfill never moves the watermark.

``--resume`` replays the interrupted load's own plan (same files, batch size, cutoff and days)
and skips its batches up to the last committed one; the input must be unchanged.

API sources (:class:`~analytics_framework.sources.api_source.ApiSource`) are identified by their
endpoint instead of file fingerprints, and keep a *cursor* per endpoint in the state:

- **incremental**: the run first asks the source whether anything changed after the cursor (one
  cheap request; "nothing to do" when not); then ``since`` = cursor − lookback is handed to the
  source, which asks the server only for records changed after it, so late-arriving changes
  within the lookback are read again. Before the first run there is no cursor and everything is
  read.
- **full**: no ``since``; the cursor moves at the end as usual. **backfill**: no ``since``;
  completed days are skipped as for files (coverage keyed by the endpoint), and the cursor does
  not move.
- **resume**: the same ``since`` again; batches of an API source come sorted by conversation id,
  so the load skips every conversation up to the highest id it had committed (``resume_key``),
  whatever changed on the server meanwhile. The endpoint must be the same.

:func:`plan_collect` is pure given the input's identity, so every rule above is unit-tested.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from analytics_framework import state as st
from analytics_framework.dates import day_list
from analytics_framework.errors import ConfigurationError
from analytics_framework.sources.base import InputIdentity

MODES = ("incremental", "full", "backfill")


@dataclass
class Plan:
    """What one collect run will do.

    Attributes:
        pipeline: the pipeline (state) name, also the stream name.
        load_id: id of the load (new, or the interrupted one when resuming).
        mode: ``incremental``, ``full`` or ``backfill``.
        files: input files to read → ``{"size": bytes, "sha256": hex}``.
        unchanged: input files skipped because they are unchanged since the last run.
        input_key: content key of the whole input (all files), for backfill coverage.
        cutoff: skip conversations whose last message is before this instant (UTC), or None.
        days: backfill days to process (None: every day in the range).
        complete_days: backfill days skipped as already collected.
        resume_after: skip batches with ``seq`` up to this (-1: none); for API loads the
            number of the last committed batch, new batches are numbered after it.
        recover_load: an interrupted load whose staged batches are published first.
        nothing_to_do: why nothing needs reading, or None.
        kind: ``files`` or ``api`` (:class:`~analytics_framework.sources.base.InputIdentity`).
        endpoint: API sources: what is read (server, tables, filters).
        since: API sources: read only records changed after this instant, or None.
        cursor: API incremental runs: the stream's cursor; the run first asks the source
            whether anything changed after it, and does nothing when not.
        resume_key: API resumes: skip conversations whose id sorts at or before this.
    """

    pipeline: str
    load_id: str
    mode: str
    batch_size: int
    timezone: str
    start: date | None = None
    end: date | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    input_key: str = ""
    cutoff: datetime | None = None
    days: list[date] | None = None
    complete_days: list[date] = field(default_factory=list)
    resume_after: int = -1
    recover_load: str | None = None
    nothing_to_do: str | None = None
    kind: str = "files"
    endpoint: str = ""
    since: datetime | None = None
    cursor: datetime | None = None
    resume_key: str | None = None

    @property
    def is_api(self) -> bool:
        """Whether the plan reads an API source."""
        return self.kind == "api"

    @property
    def is_backfill(self) -> bool:
        """Whether this run is a backfill (it must not move the watermark)."""
        return self.mode == "backfill"

    def to_record(self) -> dict[str, Any]:
        """Return the plan as JSON-ready data, stored as the state's ``active`` load."""
        rec = asdict(self)
        for key in ("start", "end", "cutoff", "since", "cursor"):
            rec[key] = rec[key].isoformat() if rec[key] else None
        rec["days"] = [d.isoformat() for d in self.days] if self.days is not None else None
        rec["complete_days"] = [d.isoformat() for d in self.complete_days]
        for key in ("resume_after", "recover_load", "nothing_to_do", "resume_key"):
            rec.pop(key)
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Plan:
        """Rebuild a plan stored by :meth:`to_record`."""
        known = {k: rec[k] for k in cls.__dataclass_fields__ if k in rec}
        for key in ("start", "end"):
            known[key] = date.fromisoformat(rec[key]) if rec.get(key) else None
        known["cutoff"] = datetime.fromisoformat(rec["cutoff"]) if rec.get("cutoff") else None
        for key in ("since", "cursor"):
            known[key] = datetime.fromisoformat(rec[key]) if rec.get(key) else None
        if rec.get("days") is not None:
            known["days"] = [date.fromisoformat(d) for d in rec["days"]]
        known["complete_days"] = [date.fromisoformat(d) for d in rec.get("complete_days", [])]
        return cls(**known)


def new_load_id() -> str:
    """Return a sortable, unique load id: ``20241107T021500-1a2b3c4d`` (UTC start time + random)."""
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"


def input_key(fingerprints: dict[str, dict[str, Any]]) -> str:
    """Return a short content key for a file input: same files with the same bytes, same key."""
    return InputIdentity("files", files=fingerprints).key


def plan_collect(
    state: st.State,
    pipeline: str,
    identity: InputIdentity | dict[str, dict[str, Any]],
    *,
    load_id: str,
    batch_size: int,
    timezone: str,
    start: date | None = None,
    end: date | None = None,
    full_refresh: bool = False,
    resume: bool = False,
    force: bool = False,
    lookback: timedelta = timedelta(hours=1),
) -> Plan:
    """Decide what a collect run reads and skips; see the module docstring for the rules.

    Args:
        state: the pipeline's state document.
        pipeline: the pipeline (and stream) name.
        identity: the input's identity (:meth:`Source.identity`); a plain dict is taken as
            file fingerprints.
        load_id: the id for a new load.
        batch_size: conversations per batch.
        timezone: IANA zone of the backfill days.
        start: first day of a backfill (inclusive), or None.
        end: day after the last day of a backfill, or None.
        full_refresh: ignore the watermark and the processed files.
        resume: continue the interrupted load after its last committed batch.
        force: collect backfill days again even if already complete.
        lookback: how far before the watermark an incremental run looks again.

    Returns:
        The :class:`Plan`.

    Raises:
        ConfigurationError: conflicting options, or ``--resume`` with nothing to resume or a
            changed input.
    """
    if not isinstance(identity, InputIdentity):
        identity = InputIdentity("files", files=identity)
    fingerprints = identity.files
    api = identity.kind == "api"
    active = state.get("active")
    backfill = start is not None or end is not None
    if resume:
        if full_refresh or backfill or force:
            raise ConfigurationError(
                "--resume replays the interrupted run as it was planned",
                "drop --full-refresh, --force and the dates, or drop --resume to start over",
            )
        if not active:
            raise ConfigurationError(
                f"nothing to resume for pipeline '{pipeline}': no run was interrupted",
                "run without --resume",
            )
        plan = Plan.from_record(active)
        if api or plan.is_api:
            if plan.endpoint != identity.endpoint:
                raise ConfigurationError(
                    f"cannot resume load {plan.load_id}: it read {plan.endpoint or 'files'}, "
                    f"not {identity.endpoint}",
                    "resume with the same source options, or run without --resume",
                )
            plan.resume_after = st.last_committed_seq(state, plan.load_id)
            plan.resume_key = st.last_committed_key(state, plan.load_id)
            return plan
        changed = sorted(set(plan.files) ^ set(fingerprints)) or [
            p for p, f in plan.files.items() if fingerprints.get(p) != f
        ]
        if changed:
            raise ConfigurationError(
                f"cannot resume load {plan.load_id}: its input changed since ({changed[0]})",
                "run without --resume to start over on the new input",
            )
        plan.resume_after = st.last_committed_seq(state, plan.load_id)
        return plan
    if full_refresh and backfill:
        raise ConfigurationError(
            "--full-refresh and --start-date/--end-date do not go together",
            "a backfill re-reads its range; add --force to redo days already collected",
        )
    plan = Plan(
        pipeline=pipeline,
        load_id=load_id,
        mode="backfill" if backfill else "full" if full_refresh else "incremental",
        batch_size=batch_size,
        timezone=timezone,
        start=start,
        end=end,
        files=dict(fingerprints),
        input_key=identity.key,
        recover_load=active["load_id"] if active else None,
        kind=identity.kind,
        endpoint=identity.endpoint,
    )
    if plan.mode == "backfill":
        if start is not None and end is not None and not force:
            wanted = day_list(start, end)
            done = st.covered_days(state, pipeline, plan.input_key)
            plan.complete_days = [d for d in wanted if d in done]
            if plan.complete_days:
                plan.days = [d for d in wanted if d not in done]
            if not plan.days and plan.complete_days:
                plan.nothing_to_do = (
                    f"every day of {start}..{end} (exclusive) was already collected from this "
                    "input; add --force to collect it again"
                )
        return plan
    if plan.mode == "incremental" and api:
        cursor = st.stream_cursor(state, pipeline, identity.endpoint)
        if cursor is not None:
            plan.cursor = datetime.fromisoformat(cursor)
            plan.since = plan.cursor - lookback
        return plan
    if plan.mode == "incremental":
        seen = state["streams"].get(pipeline, {}).get("files", {})
        plan.unchanged = sorted(
            p
            for p, f in fingerprints.items()
            if st.file_unchanged(state, pipeline, p, f["size"], f["sha256"])
        )
        plan.files = {p: f for p, f in fingerprints.items() if p not in plan.unchanged}
        if not plan.files:
            plan.nothing_to_do = (
                f"no new or changed input since the last run ({len(plan.unchanged)} file(s) "
                "unchanged); add --full-refresh to read them again"
            )
            return plan
        watermark = state["streams"].get(pipeline, {}).get("watermark")
        if watermark and all(p in seen for p in plan.files):
            plan.cutoff = datetime.fromisoformat(watermark["sent_at"]) - lookback
    return plan
