"""The enrich stage: label the lake's conversations that lack a current label.

A conversation needs labeling when it has no row in ``labels``, its row is ``failed``, its row
was made with another labeler configuration (provider, model, prompt version, taxonomy: the
``config_hash``), or it gained messages since (``message_count`` differs). So ``collect`` labels
what it just loaded, a failed conversation is retried on the next run, and switching provider
re-labels. ``force`` re-labels everything in range and bypasses the cache.

Work goes day partition by day partition: read the day's conversations and messages, label the
ones that need it in chunks of ``batch_size`` conversations, upsert the day's ``labels`` file
atomically. A crash loses at most the day in progress, and its successful labels are in the
cache, so the re-run makes no call for them.

``labels`` columns (DESIGN.md, plus ``status``/``error``/``message_count``/``config_hash``):
conversation_id, topic, intent, sentiment (−1…1), sentiment_label, satisfaction (1–5,
predicted), resolved, objection, confidence (0–1, how sure the labeler is of topic and intent),
provider, model, prompt_version, input_hash, input_tokens, output_tokens (the request's tokens
shared evenly by its conversations), labeled_at, status (``labeled``/``failed``), error,
message_count, config_hash. Rows kept from a file written before a column existed (confidence
before prompt version v2) get it as null.

``use_translations`` (``analytics enrich --use-translations``): labelers read each message's
``text_en`` from the lake's ``translations`` table (``analytics translate``) where it has one,
the original text elsewhere. Labels made so have their own ``config_hash``
(:func:`translated_config`), so switching it on or off relabels, and a conversation translated
after its label was made is labeled again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from analytics_framework.enrich.base import (
    PROMPT_VERSION,
    LabelCache,
    Labeler,
    LabelStats,
    sentiment_label,
)
from analytics_framework.enrich.transcript import LabelRequest, build_requests
from analytics_framework.model import LABEL_SCHEMA
from analytics_framework.storage.lake import Lake, Partition
from analytics_framework.storage.query import connect, day_filter, day_params


@dataclass
class EnrichSummary:
    """What one enrich run did.

    Attributes:
        partitions: day partitions whose labels were (re)written.
        stats: calls, cache hits, retries, failures, tokens (:class:`LabelStats`).
        cost_usd: estimated cost from the price table, or None for an unpriced model.
    """

    provider: str
    model: str
    partitions: list[str] = field(default_factory=list)
    stats: LabelStats = field(default_factory=LabelStats)
    cost_usd: float | None = 0.0
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)


def pending_partitions(
    lake: Lake,
    config_hash: str,
    start: date | None = None,
    end: date | None = None,
    force: bool = False,
    use_translations: bool = False,
) -> list[Partition]:
    """Return the day partitions holding conversations that need labels, sorted.

    ``start``/``end`` bound the partition days (half-open). With ``force``, every partition in
    range. With ``use_translations``, also those whose label is older than the conversation's
    newest translation.
    """
    if not lake.exists("conversations"):
        return []
    where = [day_filter("c", "lo", "hi")]
    join = ""
    if not force and lake.exists("labels"):
        join = "LEFT JOIN labels l USING (conversation_id)"
        where.append(
            "(l.conversation_id IS NULL OR l.status <> 'labeled' OR l.config_hash <> $hash "
            "OR l.message_count <> c.message_count)"
        )
        if use_translations and lake.exists("translations"):
            join += (
                " LEFT JOIN (SELECT conversation_id, max(translated_at) AS translated_at "
                "FROM translations GROUP BY 1) t USING (conversation_id)"
            )
            where[-1] = f"({where[-1]} OR t.translated_at > l.labeled_at)"
    sql = (
        f"SELECT DISTINCT c.year, c.month, c.day FROM conversations c {join} "
        f"WHERE {' AND '.join(where)} ORDER BY 1, 2, 3"
    )
    params = {
        **day_params("lo", start),
        **day_params("hi", end - timedelta(days=1) if end else None),
        "hash": config_hash,
    }
    params = {k: v for k, v in params.items() if f"${k}" in sql}
    con = connect(lake)
    try:
        return [Partition(*row) for row in con.execute(sql, params).fetchall()]
    finally:
        con.close()


def enrich(
    lake: Lake,
    labeler: Labeler,
    *,
    cache: LabelCache | None = None,
    workers: int = 1,
    force: bool = False,
    start: date | None = None,
    end: date | None = None,
    batch_size: int = 1000,
    budget_tokens: int = 3000,
    prices: dict[str, tuple[float, float]] | None = None,
    on_partition: Callable[[Partition, int], None] | None = None,
    sink: Any = None,
    use_translations: bool = False,
) -> EnrichSummary:
    """Label every conversation in ``[start, end)`` that needs it; see the module docstring.

    Args:
        lake: the lake (its ``conversations`` and ``messages``; ``labels`` is written).
        labeler: the provider.
        cache: the label cache (None: no cache).
        workers: threads sending requests.
        force: re-label everything in range, ignoring the cache.
        start: first partition day, or None.
        end: day after the last partition day, or None.
        batch_size: conversations labeled per chunk (bounds memory).
        budget_tokens: token budget of one transcript.
        prices: USD per million (input, output) tokens by model.
        on_partition: called with each partition done and its labels written.
        sink: a :class:`~analytics_framework.storage.mongo.MongoSink` also given the new labels.
        use_translations: labelers read ``text_en`` where the ``translations`` table has it.

    Returns:
        The :class:`EnrichSummary`.

    Raises:
        ProviderAuthError: the provider refused the key.
        LakeError: the lake cannot be read or written.
    """
    t0 = time.perf_counter()
    summary = EnrichSummary(provider=labeler.name, model=labeler.model)
    config = labeler.config_hash
    if use_translations:
        config = translated_config(config)
    # Partitions are gathered until about ``batch_size`` conversations need labels, then
    # labeled in one go (so the workers stay busy across small days), then each is written.
    group: list[Chunk] = []
    rows: dict[Partition, list[dict]] = {}
    waiting = 0

    def label_group(chunks: list[Chunk]) -> None:
        _label_group(
            lake,
            labeler,
            chunks,
            rows,
            cache,
            workers,
            force,
            summary,
            on_partition,
            sink,
            config_hash=config,
        )

    for part in pending_partitions(lake, config, start, end, force, use_translations):
        conv = lake.read_partition("conversations", part)
        msgs = lake.read_partition("messages", part)
        if conv is None or msgs is None:
            continue
        translated = None
        if use_translations:
            from analytics_framework.insights.translations import with_english

            translated = lake.read_partition("translations", part)
            msgs = with_english(msgs, translated)
        old = lake.read_partition("labels", part)
        need = conv.select("conversation_id", "message_count")
        if old is not None and old.height and not force:
            current = old.filter(
                (pl.col("status") == "labeled") & (pl.col("config_hash") == config)
            ).select("conversation_id", "message_count")
            need = need.join(current, on=["conversation_id", "message_count"], how="anti")
            if translated is not None and translated.height:
                need = pl.concat([need, _translated_since(conv, old, translated)]).unique(
                    maintain_order=True
                )
        ids = need["conversation_id"]
        for i in range(0, max(len(ids), 1), batch_size):
            chunk = ids[i : i + batch_size]
            requests = build_requests(
                msgs.filter(pl.col("conversation_id").is_in(chunk.implode())), budget_tokens
            )
            group.append(Chunk(part, conv, old, requests, last=i + batch_size >= len(ids)))
            waiting += len(requests)
            if waiting >= batch_size:
                label_group(group)
                group, waiting = [], 0
    if group:
        label_group(group)
    summary.seconds = time.perf_counter() - t0
    summary.cost_usd = estimate_cost(summary.stats, labeler, prices or {})
    return summary


@dataclass
class Chunk:
    """Up to ``batch_size`` conversations of one partition waiting for labels."""

    part: Partition
    conv: pl.DataFrame
    old: pl.DataFrame | None
    requests: list[LabelRequest]
    last: bool


def _label_group(
    lake: Lake,
    labeler: Labeler,
    group: list[Chunk],
    pending: dict[Partition, list[dict]],
    cache: LabelCache | None,
    workers: int,
    force: bool,
    summary: EnrichSummary,
    on_partition: Callable[[Partition, int], None] | None,
    sink: Any = None,
    config_hash: str | None = None,
) -> None:
    """Label the requests of several partition chunks at once, then upsert each partition.

    A partition split over several chunks collects its rows in ``pending`` and is written once,
    with its last chunk.
    """
    requests = [r for chunk in group for r in chunk.requests]
    outcome = labeler.label(
        requests, cache=cache, workers=workers, force=force, stats=summary.stats
    )
    now = datetime.now(UTC)
    config = config_hash or labeler.config_hash
    for chunk in group:
        part, conv, old = chunk.part, chunk.conv, chunk.old
        rows = pending.setdefault(part, [])
        for req in chunk.requests:
            base = {
                "conversation_id": req.conversation_id,
                "provider": labeler.name,
                "model": labeler.model,
                "prompt_version": PROMPT_VERSION,
                "input_hash": req.input_hash,
                "labeled_at": now,
                "message_count": req.message_count,
                "config_hash": config,
            }
            label = outcome.labels.get(req.conversation_id)
            if label is not None:
                rows.append(
                    {
                        **base,
                        **{k: label.get(k) for k in LABEL_SCHEMA if k in label},
                        "sentiment_label": sentiment_label(label.get("sentiment")),
                        "status": "labeled",
                    }
                )
            else:
                reason = outcome.failures.get(req.conversation_id, "not labeled")
                summary.failures[req.conversation_id] = reason
                rows.append(
                    {
                        **base,
                        "input_tokens": 0,
                        "output_tokens": 0,
                        "status": "failed",
                        "error": reason,
                    }
                )
        if not chunk.last:
            continue  # more chunks of this partition follow
        del pending[part]
        new = pl.DataFrame(rows, schema=LABEL_SCHEMA)
        if old is not None and old.height:
            keep = old.join(new.select("conversation_id"), on="conversation_id", how="anti")
            keep = keep.with_columns(  # a file from before a column existed (confidence)
                pl.lit(None, dtype).alias(name)
                for name, dtype in LABEL_SCHEMA.items()
                if name not in keep.columns
            )
            new = pl.concat([keep.select(list(LABEL_SCHEMA)).cast(LABEL_SCHEMA), new])  # type: ignore[arg-type]
        new = new.join(conv.select("conversation_id"), on="conversation_id", how="semi")
        lake.write_partition("labels", part, new.sort("conversation_id"))
        if sink is not None:
            sink.write_labels(pl.DataFrame(rows, schema=LABEL_SCHEMA))
        summary.partitions.append(str(part))
        if on_partition:
            on_partition(part, len(rows))


def translated_config(config_hash: str) -> str:
    """Return the ``config_hash`` of labels made from translated text (``use_translations``)."""
    return hashlib.sha256(f"{config_hash}|text_en".encode()).hexdigest()[:16]


def _translated_since(
    conv: pl.DataFrame, old: pl.DataFrame, translated: pl.DataFrame
) -> pl.DataFrame:
    """Return ``conversation_id, message_count`` of conversations translated after labeling."""
    newest = translated.group_by("conversation_id").agg(pl.col("translated_at").max())
    later = newest.join(old.select("conversation_id", "labeled_at"), on="conversation_id").filter(
        pl.col("translated_at") > pl.col("labeled_at")
    )
    return conv.select("conversation_id", "message_count").join(
        later, on="conversation_id", how="semi"
    )


def estimate_cost(
    stats: LabelStats, labeler: Labeler, prices: dict[str, tuple[float, float]]
) -> float | None:
    """Return the USD cost of the tokens spent, or None when the model has no price.

    Offline labelers cost 0.
    """
    if not labeler.uses_network:
        return 0.0
    price = prices.get(labeler.model)
    if price is None:
        return None
    return (stats.input_tokens * price[0] + stats.output_tokens * price[1]) / 1_000_000
