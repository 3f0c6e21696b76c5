"""Labeling sharded over a Ray cluster: ``analytics enrich … --executor ray``.

The driver (:func:`run_sharded_enrich`) finds the day partitions that need labels
(:func:`~analytics_framework.enrich.stage.pending_partitions`) and labels each as a Ray task
(:func:`label_partition`): the same enrich stage as a local run, restricted to that day, writing
that day's ``labels`` file atomically. Every task's labeler shares

- one rate limit: a :class:`~analytics_framework.distributed.limiter.RateBudget` actor holds the
  provider's RPM/TPM budget for the whole cluster, and a 429 anywhere pauses every worker;
- one label cache, kept in the lake (:class:`~analytics_framework.distributed.label_cache.
  LakeLabelCache`), keyed by the same content hash as the local cache.

Token and cost totals are the sums of the tasks' counters. One such run per lake at a time: the
driver holds an S3 lock beside the lake (``<lake>/_state/enrich.json.lock``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from analytics_framework.distributed.cluster import init_ray, task_error
from analytics_framework.enrich.stage import EnrichSummary
from analytics_framework.errors import ConfigurationError
from analytics_framework.settings import Settings


@dataclass
class ShardedEnrichSummary(EnrichSummary):
    """What a sharded labeling run did: an :class:`EnrichSummary` over every task.

    ``stats`` are the tasks' counters added up, ``cost_usd`` is estimated from the summed
    tokens, ``partitions`` are in day order, ``failures`` hold up to 20 conversations per task.

    Attributes:
        failed: partition → the error of a task that failed for good.
    """

    failed: dict[str, str] = field(default_factory=dict)


def label_partition(
    settings: Settings,
    day: date,
    budget: Any,
    *,
    force: bool,
    mongo: bool,
    use_translations: bool,
) -> dict[str, Any]:
    """Label one day partition (the Ray task's body): shared rate limit and cache.

    Args:
        settings: the run's settings (labeler, lake, batch sizes).
        day: the partition's day.
        budget: the :class:`RateBudget` actor, or None for an unlimited (offline) labeler.
        force: label again, ignoring the cache and current labels.
        mongo: also write the labels to MongoDB when a URI is configured.
        use_translations: label the English text of translated messages.

    Returns:
        ``stats`` (the counters), ``partitions`` (labeled) and ``failures`` (conversation →
        reason, the first 20).
    """
    from analytics_framework.distributed.label_cache import LakeLabelCache
    from analytics_framework.distributed.limiter import ClusterLimiter
    from analytics_framework.enrich import make_labeler
    from analytics_framework.enrich.stage import enrich
    from analytics_framework.storage.s3 import open_lake
    from analytics_framework.storage.sinks import open_mongo

    labeler = make_labeler(settings)
    if budget is not None and labeler.limiter is not None:
        labeler.limiter = ClusterLimiter(budget)
    lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    sink = open_mongo(settings, mongo)
    try:
        summary = enrich(
            lake,
            labeler,
            cache=LakeLabelCache(lake, settings.workers) if labeler.uses_network else None,
            workers=settings.workers,
            force=force,
            start=day,
            end=day + timedelta(days=1),
            batch_size=settings.batch_size,
            budget_tokens=settings.llm_max_input_tokens,
            prices=settings.llm_prices,
            sink=sink,
            use_translations=use_translations,
        )
    finally:
        if sink is not None:
            sink.close()
    return {
        "stats": summary.stats.as_dict(),
        "partitions": summary.partitions,
        "failures": dict(list(summary.failures.items())[:20]),
    }


def run_sharded_enrich(
    settings: Settings,
    start: date | None = None,
    end: date | None = None,
    *,
    address: str = "auto",
    max_retries: int = 3,
    force: bool = False,
    wait_s: float = 0.0,
    mongo: bool = True,
    use_translations: bool = False,
    on_partition: Callable[[str, int], None] | None = None,
) -> ShardedEnrichSummary:
    """Label every day partition of ``[start, end)`` that needs it, one Ray task a day.

    Raises:
        ConfigurationError: the lake is not on S3; a missing key or bad taxonomy.
        LakeError: the lake has no conversations.
        LockHeldError: another sharded labeling run holds the lake's lock.
        ServiceError: the cluster cannot be reached.
    """
    from analytics_framework.distributed.limiter import RateBudget
    from analytics_framework.enrich import make_labeler
    from analytics_framework.enrich.stage import estimate_cost, pending_partitions
    from analytics_framework.errors import LakeError, TransientError
    from analytics_framework.planning import new_load_id
    from analytics_framework.storage.s3 import open_lake
    from analytics_framework.storage.state_store import S3StateStore

    t0 = time.perf_counter()
    if not settings.lake_uri.startswith("s3://"):
        raise ConfigurationError(
            f"--executor ray labels one S3 lake from many machines; the lake is "
            f"{settings.lake_uri}",
            "pass --lake s3://bucket/prefix",
        )
    labeler = make_labeler(settings)  # a missing key or bad taxonomy fails here, not in a task
    lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    lake.require("conversations")
    summary = ShardedEnrichSummary(labeler.name, labeler.model)
    stats = summary.stats
    config = labeler.config_hash
    if use_translations:
        from analytics_framework.enrich.stage import translated_config

        config = translated_config(config)
    store = S3StateStore(lake, "enrich", stale_s=settings.lock_stale_s)
    with store.lock(new_load_id(), wait_s=wait_s, command="analytics enrich --executor ray"):
        parts = pending_partitions(lake, config, start, end, force, use_translations)
        if parts:
            ray = init_ray(address)
            budget = None
            if labeler.uses_network and (settings.llm_rpm > 0 or settings.llm_tpm > 0):
                budget = ray.remote(num_cpus=0)(RateBudget).remote(
                    settings.llm_rpm, settings.llm_tpm
                )
            task = ray.remote(num_cpus=1)(label_partition).options(
                max_retries=max_retries, retry_exceptions=[TransientError, LakeError]
            )
            running = {
                task.remote(
                    settings,
                    date(p.year, p.month, p.day),
                    budget,
                    force=force,
                    mongo=mongo,
                    use_translations=use_translations,
                ): str(p)
                for p in parts
            }
            while running:
                ready, _ = ray.wait(list(running), num_returns=1)
                part = running.pop(ready[0])
                try:
                    got = ray.get(ready[0])
                except Exception as exc:  # RayTaskError wraps the task's own exception
                    summary.failed[part] = task_error(exc)
                    continue
                stats.add(**{k: v for k, v in got["stats"].items()})
                summary.partitions.extend(got["partitions"])
                summary.failures.update(got["failures"])
                if on_partition is not None:
                    on_partition(part, int(got["stats"].get("conversations", 0)))
    summary.partitions.sort()
    summary.cost_usd = estimate_cost(stats, labeler, settings.llm_prices)
    summary.seconds = time.perf_counter() - t0
    return summary
