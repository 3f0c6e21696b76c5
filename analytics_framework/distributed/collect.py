"""A backfill sharded over a Ray cluster: ``analytics collect … --executor ray``.

The driver (:func:`run_sharded_collect`) cuts ``[start, end)`` into day-range shards
(:mod:`analytics_framework.distributed.shards`) and runs each as a Ray task
(:func:`collect_shard`). A task is the same collect as a local backfill of its days
(:func:`analytics_framework.jobs.collect_job`): the same quarantine, staging, atomic publish and
state per batch, into the same S3 lake, with its own state document and lock on S3
(``<lake>/_state/<pipeline>.shard-<start>_<end>.json``). Conversations are partitioned by their
start day in the collect's zone, so shards own disjoint day partitions and no two tasks ever write
the same object.

The driver holds the pipeline's own S3 lock for the whole run and records the plan and each
shard's outcome in the pipeline's state as it arrives, with the coverage of every finished shard,
so:

- a killed driver, re-run with the same command, runs only the shards not yet done (a shard cut
  short resumes from its own state: its staged batches are recovered, as a local collect's are);
- a task whose worker dies, or that fails with a transient error (S3, the lock), is retried by
  Ray (``max_retries``); a retry waits for the dead attempt's shard lock to go stale
  (``ANALYTICS_LOCK_STALE_S``), then takes it over;
- a shard that still fails is reported with its range and its error, the others finish, and the
  run exits non-zero.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

from analytics_framework.distributed import shards as sh
from analytics_framework.distributed.cluster import init_ray, task_error
from analytics_framework.distributed.shards import ShardedSummary, ShardOutcome
from analytics_framework.errors import ConfigurationError
from analytics_framework.settings import Settings

if TYPE_CHECKING:
    from analytics_framework.jobs import CollectOptions
    from analytics_framework.sources.base import Source

DEFAULT_SHARD_DAYS = 7
DEFAULT_MAX_RETRIES = 3


def collect_shard(
    options: CollectOptions,
    settings: Settings,
    start: date,
    end: date,
    staged: Source | None = None,
) -> dict:
    """Run one shard: a backfill of ``[start, end)`` with the shard's own S3 state and lock.

    This is the body of the Ray task (:func:`run_sharded_collect` wraps it in ``ray.remote``);
    it runs in a worker process on any node. A shard already done (its coverage in its own
    state) returns at once with nothing written. ``staged`` is the shard's
    :class:`~analytics_framework.distributed.staged.StagedSource` when the input was parsed
    once for every shard (the node then needs no access to the input); None: the shard opens
    and parses the input itself.

    Returns:
        The shard's counts: ``rows_read``, ``conversations``, ``messages``, ``quarantined``,
        ``seconds``, ``node``, ``nothing_to_do``.

    Raises:
        What :func:`analytics_framework.jobs.collect_job` raises.
    """
    from analytics_framework.jobs import collect_job

    shard = sh.Shard(start, end)
    mine = replace(
        options,
        start=start,
        end=end,
        state_file=None,
        state_name=shard.state_name(options.source),
        resume=False,
        full_refresh=False,
        # a retried attempt finds the dead one's lock: wait for it to go stale, then take over
        wait_s=max(options.wait_s, settings.lock_stale_s * 1.5 + 5),
    )
    summary = collect_job(
        mine, settings, command=f"shard {start}..{end} of a Ray collect", source=staged
    )
    return {
        "rows_read": summary.rows_read,
        "conversations": summary.conversations_written,
        "messages": summary.messages_written,
        "quarantined": summary.quarantined,
        "seconds": round(summary.seconds, 3),
        "node": _node(),
        "nothing_to_do": summary.nothing_to_do,
    }


def _node() -> str:
    """Return the Ray node running this task: its address and the start of its node id."""
    try:
        import ray

        node_id = ray.get_runtime_context().get_node_id()
        return f"{ray.util.get_node_ip_address()}/{node_id[:8]}"
    except Exception:  # outside Ray (a direct call)
        return "local"


def _stage_failed(exc: BaseException) -> Exception:
    """Return the error of a staging task that failed for good: its own, or a ServiceError."""
    from analytics_framework.errors import AnalyticsError, ServiceError

    cause = getattr(exc, "cause", None)
    if isinstance(cause, AnalyticsError):
        return cause
    return ServiceError(
        f"parsing the input once for every shard failed: {task_error(exc)}",
        "fix it and re-run the same command",
    )


def check_options(options: CollectOptions, settings: Settings) -> None:
    """Refuse what a sharded collect cannot do, before anything starts.

    Raises:
        ConfigurationError: no date range, a local lake, ``--state-file``, ``--resume`` or
            ``--full-refresh``.
    """
    if options.start is None or options.end is None:
        raise ConfigurationError(
            "--executor ray shards a backfill and needs its range",
            "pass --start-date and --end-date (the end day is excluded)",
        )
    if not settings.lake_uri.startswith("s3://"):
        raise ConfigurationError(
            f"--executor ray writes from many machines into one S3 lake; the lake is "
            f"{settings.lake_uri}",
            "pass --lake s3://bucket/prefix",
        )
    if options.state_file is not None:
        raise ConfigurationError(
            "--executor ray keeps its state on S3 beside the lake; --state-file is local",
            "drop --state-file",
        )
    if options.resume or options.full_refresh:
        raise ConfigurationError(
            "--executor ray resumes by itself: re-run the same command",
            "drop --resume / --full-refresh (add --force to collect done days again)",
        )


def run_sharded_collect(
    options: CollectOptions,
    settings: Settings,
    *,
    address: str = "auto",
    shard_days: int = DEFAULT_SHARD_DAYS,
    max_retries: int = DEFAULT_MAX_RETRIES,
    on_shard: Callable[[ShardOutcome], None] | None = None,
    command: str = "",
) -> ShardedSummary:
    """Run a backfill as day-range shards on the Ray cluster at ``address``.

    Args:
        options: the collect (``start`` and ``end`` required; the lake must be on S3).
        settings: the run's settings; sent to every task (credentials are not: each node uses
            its own AWS environment).
        address: the cluster (:func:`analytics_framework.distributed.cluster.init_ray`).
        shard_days: days per shard.
        max_retries: how often Ray retries a shard whose worker died or that failed with a
            transient error.
        on_shard: called with each shard's outcome as it arrives (in completion order).
        command: the command line, recorded in the lock and the plan.

    Returns:
        The summary; ``summary.failed`` lists the shards that failed for good.

    Raises:
        ConfigurationError: see :func:`check_options`; a bad ``shard_days``.
        LockHeldError: another run of the pipeline holds its lock.
        ServiceError: the cluster cannot be reached.
    """
    from analytics_framework import state as st
    from analytics_framework.errors import LakeError, LockHeldError, TransientError
    from analytics_framework.planning import new_load_id
    from analytics_framework.sources import get_source
    from analytics_framework.storage.state_store import ConcurrentStateError, open_store

    t0 = time.perf_counter()
    check_options(options, settings)
    assert options.start is not None and options.end is not None
    if max_retries < 0:
        raise ConfigurationError(f"--max-retries {max_retries} is negative", "pass 0 or more")
    settings = settings.model_copy(update={"use_s3_state": True})
    if options.path:  # tasks run in other folders (and on other machines)
        options = replace(options, path=os.path.abspath(options.path))
    plan = sh.plan_shards(options.start, options.end, shard_days)
    source = get_source(options.source)(options.path, settings, dict(options.source_options))
    identity = source.identity()
    input_key = identity.key
    key = sh.plan_key(input_key, options.start, options.end, shard_days)
    store = open_store(settings, options.source, None)
    from analytics_framework.storage.s3 import open_lake

    lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    summary = ShardedSummary(options.source, settings.lake_uri, key)
    with store.lock(new_load_id(), wait_s=options.wait_s, command=command):
        state = store.load()
        state = sh.record_plan(
            state,
            key,
            plan,
            pipeline=options.source,
            input_key=input_key,
            shard_days=shard_days,
            command=command,
        )
        todo, done = sh.pending(state, key, plan, options.source, input_key, options.force)
        for shard in done:
            state = sh.record_outcome(state, key, shard, {"status": "done"})
            summary.outcomes.append(ShardOutcome(shard.start, shard.end, "skipped"))
        store.save(state)
        retry = [TransientError, LakeError, LockHeldError, ConcurrentStateError]
        stage = getattr(source, "stageable", False)
        summary.staged = bool(stage)
        if todo:
            ray = init_ray(address)
            if stage:
                from analytics_framework.distributed.staged import (
                    StagedSource,
                    file_groups,
                    stage_input,
                    staged_groups,
                )

                groups = file_groups(source, len(plan))  # fixed per plan: a resume matches
                done_groups = staged_groups(lake, key)
                staging = ray.remote(num_cpus=1)(stage_input).options(
                    max_retries=max_retries, retry_exceptions=retry
                )
                parsing = [
                    staging.remote(
                        options.source,
                        options.path,
                        dict(options.source_options),
                        settings,
                        key,
                        i,
                        files,
                    )
                    for i, files in enumerate(groups)
                    if i not in done_groups
                ]
                try:
                    ray.get(parsing)
                except Exception as exc:  # RayTaskError wraps the task's own exception
                    raise _stage_failed(exc) from None
                state = sh.note_plan(state, key, file_groups=len(groups))
                store.save(state)
            task = ray.remote(num_cpus=1)(collect_shard).options(
                max_retries=max_retries, retry_exceptions=retry
            )
            running = {
                task.remote(
                    options,
                    settings,
                    s.start,
                    s.end,
                    StagedSource(source, identity, settings, key, s.start, s.end, s == plan[0])
                    if stage
                    else None,
                ): s
                for s in todo
            }
            while running:
                ready, _ = ray.wait(list(running), num_returns=1)
                shard = running.pop(ready[0])
                try:
                    got: dict[str, Any] = ray.get(ready[0])
                except Exception as exc:  # RayTaskError wraps the task's own exception
                    outcome = ShardOutcome(shard.start, shard.end, "failed", task_error(exc))
                    state = sh.record_outcome(
                        state, key, shard, {"status": "failed", "error": outcome.error}
                    )
                else:
                    outcome = ShardOutcome(
                        shard.start,
                        shard.end,
                        "done",
                        rows_read=got["rows_read"],
                        conversations=got["conversations"],
                        messages=got["messages"],
                        quarantined=got["quarantined"],
                        seconds=got["seconds"],
                        node=got["node"],
                    )
                    state = sh.record_outcome(
                        state,
                        key,
                        shard,
                        {
                            "status": "done",
                            "error": None,
                            **{k: got[k] for k in ("rows_read", "conversations", "messages")},
                            **{k: got[k] for k in ("quarantined", "seconds", "node")},
                        },
                    )
                    state = st.record_coverage(
                        state, options.source, input_key, shard.start, shard.end
                    )
                store.save(state)
                summary.outcomes.append(outcome)
                if on_shard is not None:
                    on_shard(outcome)
        if not any(o.status == "failed" for o in summary.outcomes):
            state = sh.finish_plan(state, key)
            store.save(state)
            if stage:
                from analytics_framework.distributed.staged import staging_folder

                lake.delete(staging_folder(lake, key))
    summary.outcomes.sort(key=lambda o: o.start)
    summary.seconds = time.perf_counter() - t0
    return summary
