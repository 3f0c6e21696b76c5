"""Translations: non-English conversations in English, the ``translations`` table, its readers.

Languages are detected by :mod:`analytics_framework.insights.languages` (offline, always).

**Translation** (with an LLM provider, ``gemini`` or ``openai``): every conversation whose
language is neither English nor NULL is translated whole (the model copies messages already in
English) through :func:`analytics_framework.enrich.tasks.translate` — batched, cached in
``state/label_cache.sqlite3`` (keyed by content, provider and model), retried, rate limited,
tokens counted. A conversation longer than :data:`PIECE_CHARS` characters goes in pieces of
whole messages. The offline provider (``local``) translates nothing: languages are detected and
recorded, and the summary says so.

**The table** ``translations`` (:data:`~analytics_framework.model.TRANSLATION_SCHEMA`): one row
per message of the conversations processed, partitioned like the conversation. A run processes,
in the day partitions of ``[start, end)`` (partition days, as ``analytics enrich`` selects
them), the conversations with a message that has no row yet (new, or grown since) and — with a
provider — those not English whose rows are not all ``translated`` by the same provider and
model (never translated, offline, failed, or another model); ``force`` redoes every conversation
in range and bypasses the cache. Each partition is rewritten whole (its other conversations'
rows kept), so a re-run never duplicates a row; groups of about ``batch_size`` conversations
are translated, then their partitions written, so a killed run keeps what it wrote and its
translations are in the cache for the re-run.

**MongoDB** ``conversation_translations``: one document per processed conversation
(:meth:`~analytics_framework.storage.mongo.MongoSink.write_translations`), written before the
partition, so a failure leaves the partition to redo.

**English text for other stages**: :func:`english_text` puts ``text_en`` in place of ``text``
where a translation exists (script clustering); the enrich stage does the same per partition
with ``--use-translations``.

"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from analytics_framework.enrich.base import ApiLabeler, LabelCache, Labeler, LabelStats
from analytics_framework.insights.languages import (
    DEFAULT_DETECTOR,
    ENGLISH,
    DetectorConfig,
    clean,
    conversation_languages,
    detect_languages,
    detector,
    language_name,
    letters,
)
from analytics_framework.model import TRANSLATION_SCHEMA
from analytics_framework.storage.lake import Lake, Partition
from analytics_framework.storage.query import connect, day_filter, day_params

PIECE_CHARS = 2500
"""A conversation longer than this (characters) is sent in pieces of whole messages."""


@dataclass
class TranslateSummary:
    """What one translate run did, and where the range stands after it.

    Attributes:
        provider / model: the LLM provider and model (``local``: nothing translated).
        translating: whether the provider translates (an API provider).
        detector: the detector's name (:attr:`DetectorConfig.name`).
        partitions: day partitions rewritten.
        detected_messages: messages whose language this run detected.
        translated_conversations / translated_messages: translated by this run.
        failures: conversation id → why it could not be translated (retried next run).
        stats: calls, cache hits, retries, tokens (:class:`LabelStats`).
        cost_usd: estimated USD cost, None when the model has no price.
        seconds: the run's wall time; ``detect_seconds`` the part spent detecting.
        languages: per language over the range after the run: ``language`` (code or None),
            ``name``, ``messages``, ``conversations``, ``translated_messages``,
            ``translated_conversations``.
    """

    provider: str
    model: str | None
    translating: bool
    detector: str
    partitions: list[str] = field(default_factory=list)
    detected_messages: int = 0
    translated_conversations: int = 0
    translated_messages: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    stats: LabelStats = field(default_factory=LabelStats)
    cost_usd: float | None = 0.0
    seconds: float = 0.0
    detect_seconds: float = 0.0
    languages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        """Messages, conversations and translated ones over the range (from ``languages``)."""
        keys = ("messages", "conversations", "translated_messages", "translated_conversations")
        out = {k: sum(int(r[k]) for r in self.languages) for k in keys}
        out["non_english_conversations"] = sum(
            int(r["conversations"]) for r in self.languages if r["language"] not in (None, ENGLISH)
        )
        return out

    @property
    def note(self) -> str | None:
        """The line saying why nothing was translated, offline; None with a provider."""
        if self.translating:
            return None
        return (
            "offline: languages detected, nothing translated; set GEMINI_API_KEY or "
            "OPENAI_API_KEY to translate"
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as plain JSON-able values (``--format json``)."""
        st = self.stats
        return {
            "provider": self.provider,
            "model": self.model,
            "offline": not self.translating,
            "note": self.note,
            "detector": self.detector,
            "run": {
                "partitions": len(self.partitions),
                "detected_messages": self.detected_messages,
                "translated_conversations": self.translated_conversations,
                "translated_messages": self.translated_messages,
                "failed_conversations": len(self.failures),
                "calls": st.calls,
                "cache_hits": st.cache_hits,
                "retries": st.retries,
                "input_tokens": st.input_tokens,
                "output_tokens": st.output_tokens,
                "cost_usd": self.cost_usd,
                "seconds": round(self.seconds, 3),
                "detect_seconds": round(self.detect_seconds, 3),
            },
            "totals": self.totals,
            "rows": self.languages,
        }


def _range_sql(org: str | None) -> tuple[str, dict[str, Any]]:
    """Return the CTE ``c`` of the range's conversations, and its parameter names."""
    sql = (
        "c AS (SELECT conversation_id, year, month, day FROM conversations "
        f"WHERE {day_filter('', 'lo', 'hi')} AND ($org IS NULL OR org_id = $org))"
    )
    return sql, {"org": org}


def _params(start: date | None, end: date | None, **more: Any) -> dict[str, Any]:
    return {
        **day_params("lo", start),
        **day_params("hi", end - timedelta(days=1) if end else None),
        **more,
    }


def pending_partitions(
    lake: Lake,
    *,
    start: date | None = None,
    end: date | None = None,
    org: str | None = None,
    provider: str | None = None,
    model: str | None = None,
    force: bool = False,
) -> list[Partition]:
    """Return the day partitions holding work for a run, sorted (see the module docstring).

    Args:
        lake: the lake.
        start: first partition day (None: open).
        end: the day after the last partition day (None: open).
        org: only this organisation's conversations.
        provider: the translating provider; None: offline (detection only).
        model: the translating model.
        force: every partition in range with conversations of ``org``.
    """
    if not lake.exists("conversations") or not lake.exists("messages"):
        return []
    cte, extra = _range_sql(org)
    df = day_filter("", "lo", "hi")
    if force:
        body = "SELECT year, month, day FROM c"
    else:
        body = f"""
            SELECT m.year, m.month, m.day
            FROM (SELECT conversation_id, message_id, year, month, day FROM messages
                  WHERE {df}) m
            JOIN c USING (conversation_id, year, month, day)
            ANTI JOIN (SELECT message_id, year, month, day FROM translations WHERE {df}) t
                USING (message_id, year, month, day)
            UNION ALL
            SELECT t.year, t.month, t.day FROM (SELECT * FROM translations WHERE {df}) t
            ANTI JOIN (SELECT conversation_id, year, month, day FROM conversations WHERE {df})
                USING (conversation_id, year, month, day)
        """
        if provider is not None:
            body += f"""
            UNION ALL
            SELECT t.year, t.month, t.day FROM (SELECT * FROM translations WHERE {df}) t
            JOIN c USING (conversation_id, year, month, day)
            WHERE t.conversation_language IS NOT NULL AND t.conversation_language <> 'en'
              AND (t.status IS DISTINCT FROM 'translated' OR t.provider IS DISTINCT FROM $p
                   OR t.model IS DISTINCT FROM $m)
            """
            extra = {**extra, "p": provider, "m": model}
    sql = f"WITH {cte} SELECT DISTINCT year, month, day FROM ({body}) ORDER BY 1, 2, 3"
    con = connect(lake)
    try:
        return [Partition(*r) for r in con.execute(sql, _params(start, end, **extra)).fetchall()]
    finally:
        con.close()


@dataclass
class _Work:
    """One partition's conversations to (re)process: their new rows, and what to translate."""

    part: Partition
    conversation_ids: pl.Series  # every conversation of the partition (rows of others are gone)
    old: pl.DataFrame | None
    rows: pl.DataFrame  # TRANSLATION_SCHEMA rows of the conversations processed
    texts: dict[str, list[tuple[str, str, str | None]]]  # to translate: cid → messages


def _prepare(
    lake: Lake,
    part: Partition,
    org: str | None,
    translating: bool,
    provider: str,
    model: str | None,
    force: bool,
    config: DetectorConfig,
) -> tuple[_Work | None, int, float]:
    """Detect the languages of a partition's conversations that need work.

    Returns:
        (the work, or None when the partition has no conversations; messages detected; seconds
        spent detecting).
    """
    conv = lake.read_partition("conversations", part)
    msgs = lake.read_partition("messages", part)
    if conv is None or msgs is None:
        return None, 0, 0.0
    old = lake.read_partition("translations", part)
    scope = conv if org is None else conv.filter(pl.col("org_id") == org)
    msgs = msgs.join(conv.select("conversation_id"), on="conversation_id", how="semi")
    mine = msgs.join(scope.select("conversation_id"), on="conversation_id", how="semi")
    if force or old is None or old.height == 0:
        need = mine["conversation_id"].unique()
    else:
        grown = mine.join(old.select("message_id"), on="message_id", how="anti")
        need = grown["conversation_id"].unique()
        if translating:
            stale = old.filter(
                pl.col("conversation_language").is_not_null()
                & (pl.col("conversation_language") != ENGLISH)
                & (
                    pl.col("status").ne_missing("translated")
                    | pl.col("provider").ne_missing(provider)
                    | pl.col("model").ne_missing(model)
                )
            ).join(scope.select("conversation_id"), on="conversation_id", how="semi")
            need = pl.concat([need, stale["conversation_id"]]).unique()
    todo = mine.filter(pl.col("conversation_id").is_in(need.implode())).sort(
        "conversation_id", "sent_at", "message_id"
    )
    t0 = time.perf_counter()
    languages = detect_languages(todo["text"].to_list(), config)
    seconds = time.perf_counter() - t0
    todo = todo.with_columns(
        language=pl.Series(languages, dtype=pl.String),
        letters=pl.Series([letters(clean(t)) for t in todo["text"]], dtype=pl.Int64),
    )
    by_conv = conversation_languages(todo)
    todo = todo.with_columns(
        conversation_language=pl.col("conversation_id").replace_strict(
            by_conv, default=None, return_dtype=pl.String
        )
    )
    status = (
        pl.when(pl.col("conversation_language").is_null())
        .then(pl.lit("undetected"))
        .when(pl.col("conversation_language") == ENGLISH)
        .then(pl.lit("english"))
        .otherwise(pl.lit("pending"))
    )
    rows = todo.select(
        "conversation_id",
        "message_id",
        "language",
        "conversation_language",
        pl.lit(None, pl.String).alias("text_en"),
        status.alias("status"),
        pl.lit(None, pl.String).alias("error"),
        pl.lit(None, pl.String).alias("provider"),
        pl.lit(None, pl.String).alias("model"),
        pl.lit(config.name).alias("detector"),
        pl.lit(None, TRANSLATION_SCHEMA["translated_at"]).alias("translated_at"),
    )
    if old is not None and old.height and not translating:
        rows = _keep_translated(rows, old)
    texts: dict[str, list[tuple[str, str, str | None]]] = {}
    if translating:
        for cid, mid, text, lang, conv_lang in todo.select(
            "conversation_id", "message_id", "text", "language", "conversation_language"
        ).iter_rows():
            if conv_lang is not None and conv_lang != ENGLISH:
                texts.setdefault(cid, []).append((mid, text or "", lang))
    work = _Work(part, conv["conversation_id"], old, rows.cast(TRANSLATION_SCHEMA), texts)  # type: ignore[arg-type]
    return work, todo.height, seconds


def _keep_translated(rows: pl.DataFrame, old: pl.DataFrame) -> pl.DataFrame:
    """Keep an earlier translation of a message still in a non-English conversation.

    Offline runs (and failed translations) redetect a conversation that grew, but cannot
    translate: the messages translated before keep their ``text_en`` and its provenance.
    """
    kept = old.filter(pl.col("text_en").is_not_null()).select(
        "message_id",
        *(
            pl.col(c).alias(f"{c}_old")
            for c in ("text_en", "status", "error", "provider", "model", "translated_at")
        ),
    )
    merged = rows.join(kept, on="message_id", how="left", maintain_order="left")
    use = pl.col("text_en_old").is_not_null() & pl.col("status").is_in(["pending", "failed"])
    return (
        merged.with_columns(
            pl.when(use).then(pl.col(f"{c}_old")).otherwise(pl.col(c)).alias(c)
            for c in ("text_en", "provider", "model", "translated_at")
        )
        .with_columns(
            status=pl.when(use & (pl.col("status") == "pending"))
            .then(pl.col("status_old"))
            .otherwise(pl.col("status"))
        )
        .select(list(TRANSLATION_SCHEMA))
    )


def _pieces(
    texts: dict[str, list[tuple[str, str, str | None]]],
) -> tuple[dict[str, list[tuple[str, str, str | None]]], dict[str, str]]:
    """Split conversations longer than :data:`PIECE_CHARS` into pieces of whole messages.

    Returns:
        (piece id → its messages, piece id → its conversation id); a conversation that fits
        is one piece under its own id.
    """
    pieces: dict[str, list[tuple[str, str, str | None]]] = {}
    owner: dict[str, str] = {}

    def add(pid: str, part: list[tuple[str, str, str | None]], cid: str) -> None:
        while pid in pieces:  # a real id such as "x#0" beside a piece of "x"
            pid += "#"
        pieces[pid], owner[pid] = part, cid

    for cid, messages in texts.items():
        if sum(len(t) for _, t, _ in messages) <= PIECE_CHARS:
            add(cid, messages, cid)
            continue
        part: list[tuple[str, str, str | None]] = []
        size, k = 0, 0
        for message in messages:
            if part and size + len(message[1]) > PIECE_CHARS:
                add(f"{cid}#{k}", part, cid)
                part, size, k = [], 0, k + 1
            part.append(message)
            size += len(message[1])
        add(f"{cid}#{k}", part, cid)
    return pieces, owner


def _per_request(labeler: Labeler) -> int:
    """Return conversations (pieces) per request: what fits the output token limit, 1 to 5."""
    chars_out = getattr(labeler, "max_output_tokens", 4096) * 4
    return max(1, min(5, chars_out // (2 * PIECE_CHARS)))


def _finish(
    lake: Lake,
    labeler: Labeler,
    group: list[_Work],
    summary: TranslateSummary,
    *,
    cache: LabelCache | None,
    workers: int,
    force: bool,
    sink: Any,
    on_partition: Callable[[Partition, int], None] | None,
) -> None:
    """Translate a group's conversations in one go, then write each partition (and MongoDB)."""
    from analytics_framework.enrich.tasks import translate

    wanted = {cid: msgs for work in group for cid, msgs in work.texts.items()}
    done: dict[str, dict[str, str]] = {}
    failed: dict[str, str] = {}
    if wanted:
        pieces, owner = _pieces(wanted)
        answers, failures = translate(
            labeler,  # type: ignore[arg-type]
            pieces,
            cache=None if force else cache,
            workers=workers,
            stats=summary.stats,
            batch_size=_per_request(labeler),
        )
        for pid, why in failures.items():
            failed.setdefault(owner[pid], why)
        for pid, texts in answers.items():
            if owner[pid] not in failed:
                done.setdefault(owner[pid], {}).update(texts)
        for cid in failed:
            done.pop(cid, None)
    now = datetime.now(UTC)
    for work in group:
        rows = work.rows
        if work.texts:
            ids = [cid for cid in work.texts if cid in done]
            english = {mid: text for cid in ids for mid, text in done[cid].items()}
            bad = {cid: failed[cid] for cid in work.texts if cid in failed}
            translated = pl.col("conversation_id").is_in(ids)
            broke = pl.col("conversation_id").is_in(list(bad))
            rows = rows.with_columns(
                text_en=pl.when(translated)
                .then(pl.col("message_id").replace_strict(english, default=None))
                .otherwise(pl.col("text_en")),
                status=pl.when(translated)
                .then(pl.lit("translated"))
                .when(broke)
                .then(pl.lit("failed"))
                .otherwise(pl.col("status")),
                error=pl.when(broke)
                .then(pl.col("conversation_id").replace_strict(bad, default=None))
                .otherwise(pl.col("error")),
                provider=pl.when(translated | broke)
                .then(pl.lit(labeler.name))
                .otherwise(pl.col("provider")),
                model=pl.when(translated | broke)
                .then(pl.lit(labeler.model))
                .otherwise(pl.col("model")),
                translated_at=pl.when(translated)
                .then(pl.lit(now, TRANSLATION_SCHEMA["translated_at"]))
                .otherwise(pl.col("translated_at")),
            )
            if bad and work.old is not None and work.old.height:
                rows = _keep_translated(rows, work.old)
            summary.translated_conversations += len(ids)
            summary.translated_messages += len(english)
            summary.failures.update(bad)
        rows = rows.cast(TRANSLATION_SCHEMA)  # type: ignore[arg-type]
        new = rows
        if work.old is not None and work.old.height:
            keep = work.old.join(
                rows.select("conversation_id").unique(), on="conversation_id", how="anti"
            )
            new = pl.concat([keep.select(list(TRANSLATION_SCHEMA)).cast(TRANSLATION_SCHEMA), rows])  # type: ignore[arg-type]
        new = new.filter(pl.col("conversation_id").is_in(work.conversation_ids.implode()))
        if sink is not None and rows.height:
            sink.write_translations(rows)
        if new.height or work.old is not None:
            lake.write_partition(
                "translations", work.part, new.sort("conversation_id", "message_id")
            )
            summary.partitions.append(str(work.part))
        if on_partition:
            on_partition(work.part, rows["conversation_id"].n_unique())


def language_counts(
    lake: Lake, start: date | None = None, end: date | None = None, org: str | None = None
) -> list[dict[str, Any]]:
    """Return per language, over the range's translations rows, what the summary shows.

    Returns:
        Dicts ``language`` (code or None), ``name``, ``messages`` (detected in it),
        ``conversations`` (whose language it is), ``translated_messages``,
        ``translated_conversations`` (every message translated), most conversations first.
    """
    if not lake.exists("translations") or not lake.exists("conversations"):
        return []
    cte, extra = _range_sql(org)
    df = day_filter("", "lo", "hi")
    sql = f"""
        WITH {cte},
        t AS (SELECT t.* FROM (SELECT * FROM translations WHERE {df}) t
              JOIN c USING (conversation_id, year, month, day)),
        msg AS (SELECT language, count(*) AS messages,
                       count(*) FILTER (WHERE status = 'translated') AS translated_messages
                FROM t GROUP BY 1),
        per AS (SELECT conversation_id, any_value(conversation_language) AS language,
                       bool_and(status = 'translated') AS translated
                FROM t GROUP BY 1),
        conv AS (SELECT language, count(*) AS conversations,
                        count(*) FILTER (WHERE translated) AS translated_conversations
                 FROM per GROUP BY 1)
        SELECT coalesce(msg.language, conv.language) AS language,
               coalesce(messages, 0) AS messages, coalesce(conversations, 0) AS conversations,
               coalesce(translated_messages, 0) AS translated_messages,
               coalesce(translated_conversations, 0) AS translated_conversations
        FROM msg FULL OUTER JOIN conv ON msg.language IS NOT DISTINCT FROM conv.language
        ORDER BY conversations DESC, messages DESC, language NULLS LAST
    """
    con = connect(lake)
    try:
        rows = con.execute(sql, _params(start, end, **extra)).pl().to_dicts()
    finally:
        con.close()
    return [{"language": r["language"], "name": language_name(r["language"]), **r} for r in rows]


def translate_lake(
    lake: Lake,
    labeler: Labeler,
    *,
    cache: LabelCache | None = None,
    workers: int = 1,
    start: date | None = None,
    end: date | None = None,
    org: str | None = None,
    force: bool = False,
    batch_size: int = 1000,
    config: DetectorConfig = DEFAULT_DETECTOR,
    prices: dict[str, tuple[float, float]] | None = None,
    sink: Any = None,
    on_partition: Callable[[Partition, int], None] | None = None,
) -> TranslateSummary:
    """Detect languages and (with an API labeler) translate the range; see the module docstring.

    Args:
        lake: the lake (``conversations``, ``messages`` read; ``translations`` written).
        labeler: the provider; an offline one (``local``) only detects.
        cache: the LLM cache (None: none).
        workers: threads sending requests.
        start: first partition day (None: open).
        end: the day after the last partition day (None: open).
        org: only this organisation's conversations.
        force: redo every conversation in range, bypassing the cache.
        batch_size: conversations translated per group before their partitions are written.
        config: the detector's languages and mode.
        prices: USD per million (input, output) tokens by model.
        sink: a :class:`~analytics_framework.storage.mongo.MongoSink` also given the rows.
        on_partition: called with each partition written and its conversations processed.

    Returns:
        The :class:`TranslateSummary`, ``languages`` counted over the range after the run.

    Raises:
        LakeError: no conversations in the lake, or it cannot be read or written.
        ProviderAuthError: the provider refused the key (partitions written so far are kept).
        MongoError: MongoDB failed (the partition in progress is not written).
    """
    from analytics_framework.enrich.stage import estimate_cost

    lake.require("conversations")
    t0 = time.perf_counter()
    translating = isinstance(labeler, ApiLabeler)
    provider = labeler.name
    model = labeler.model if translating else None
    summary = TranslateSummary(provider, model, translating, config.name)
    detector(config)  # built (and its errors raised) before any partition is read
    group: list[_Work] = []
    waiting = 0

    def finish(works: list[_Work]) -> None:
        _finish(
            lake,
            labeler,
            works,
            summary,
            cache=cache,
            workers=workers,
            force=force,
            sink=sink,
            on_partition=on_partition,
        )

    parts = pending_partitions(
        lake,
        start=start,
        end=end,
        org=org,
        provider=provider if translating else None,
        model=model,
        force=force,
    )
    for part in parts:
        work, detected, seconds = _prepare(
            lake, part, org, translating, provider, model, force, config
        )
        summary.detected_messages += detected
        summary.detect_seconds += seconds
        if work is None:
            continue
        group.append(work)
        waiting += len(work.texts)
        if waiting >= batch_size or not translating:  # offline: nothing to wait for
            finish(group)
            group, waiting = [], 0
    if group:
        finish(group)
    summary.cost_usd = estimate_cost(summary.stats, labeler, prices or {})
    summary.languages = language_counts(lake, start, end, org)
    summary.seconds = time.perf_counter() - t0
    return summary


def translate_job(
    settings: Any,
    *,
    provider: str | None = None,
    start: date | None = None,
    end: date | None = None,
    org: str | None = None,
    force: bool = False,
    config: DetectorConfig = DEFAULT_DETECTOR,
    wait_s: float = 0.0,
    mongo: bool = True,
    on_partition: Callable[[Partition, int], None] | None = None,
) -> TranslateSummary:
    """Run :func:`translate_lake` on the settings' lake, under the lake's translation lock.

    The lock is ``state/<lake>/translate.json.lock`` (one translation run per lake); the LLM
    cache is ``state/label_cache.sqlite3``; MongoDB is written when ``MONGODB_URI`` is set and
    ``mongo`` is true.

    Raises:
        LakeError: the lake has no conversations (checked before anything is created).
        UnknownNameError / ConfigurationError: an unknown provider, a missing key, a bad range.
        LockHeldError: another translation run holds the lake's lock after ``wait_s``.
        ProviderAuthError / MongoError: the run failed; partitions written so far are kept.
    """
    from analytics_framework.dates import check_range
    from analytics_framework.enrich import make_labeler
    from analytics_framework.storage.lock import RunLock
    from analytics_framework.storage.s3 import open_lake
    from analytics_framework.storage.state_store import lake_folder

    check_range(start, end)
    labeler = make_labeler(settings, provider)
    lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    lake.require("conversations")
    lock_path = lake_folder(settings.state_dir, settings.lake_uri) / "translate.json"
    with RunLock(lock_path, "translate", wait_s=wait_s):
        cache = LabelCache(Path(settings.state_dir) / "label_cache.sqlite3")
        from analytics_framework.storage.sinks import open_mongo  # pymongo only with a URI

        sink = open_mongo(settings, mongo)
        try:
            return translate_lake(
                lake,
                labeler,
                cache=cache,
                workers=settings.workers,
                start=start,
                end=end,
                org=org,
                force=force,
                batch_size=settings.batch_size,
                config=config,
                prices=settings.llm_prices,
                sink=sink,
                on_partition=on_partition,
            )
        finally:
            cache.close()
            if sink is not None:
                sink.close()


def english_text(lake: Lake, messages: pl.DataFrame) -> pl.DataFrame:
    """Return ``messages`` with ``text`` replaced by ``text_en`` where a translation exists.

    Args:
        lake: the lake whose ``translations`` table is read (through DuckDB).
        messages: rows with ``message_id`` and ``text``; with ``year``/``month``/``day`` (the
            conversation's partition, as :func:`analytics_framework.insights.scripts.
            read_messages` gives them) only those partitions of ``translations`` are read,
            else every partition is scanned for the ids.

    Returns:
        The same rows, columns and order; ``text`` is the English text of every message with a
        non-null ``text_en``, unchanged for the others. ``messages`` itself when the lake has
        no translations.

    Raises:
        LakeError: the lake cannot be read.
    """
    if messages.height == 0 or not lake.exists("translations"):
        return messages
    con = connect(lake, require=False)
    try:
        con.register("wanted", messages.select("message_id").unique().to_arrow())
        if all(c in messages.columns for c in ("year", "month", "day")):
            days = messages.select(pl.col("year", "month", "day").cast(pl.Int32)).unique()
            con.register("wanted_days", days.to_arrow())
            sql = (
                "SELECT t.message_id, t.text_en FROM translations t "
                "JOIN wanted_days USING (year, month, day) "
                "SEMI JOIN wanted USING (message_id) WHERE t.text_en IS NOT NULL"
            )
        else:
            sql = (
                "SELECT t.message_id, t.text_en FROM translations t "
                "SEMI JOIN wanted USING (message_id) WHERE t.text_en IS NOT NULL"
            )
        found = con.execute(sql).pl()
    finally:
        con.close()
    if found.height == 0:
        return messages
    found = found.unique("message_id", keep="first")
    columns = messages.columns
    return (
        messages.join(found, on="message_id", how="left", maintain_order="left")
        .with_columns(text=pl.coalesce("text_en", "text"))
        .select(columns)
    )


def with_english(messages: pl.DataFrame, translations: pl.DataFrame | None) -> pl.DataFrame:
    """Return ``messages`` with ``text`` replaced by ``text_en`` from a translations partition.

    The enrich stage's ``--use-translations``: ``translations`` is the partition's rows
    (:data:`~analytics_framework.model.TRANSLATION_SCHEMA`), or None when it has none.
    """
    if translations is None or translations.height == 0:
        return messages
    found = translations.filter(pl.col("text_en").is_not_null()).select("message_id", "text_en")
    return (
        messages.join(found, on="message_id", how="left", maintain_order="left")
        .with_columns(text=pl.coalesce("text_en", "text"))
        .select(messages.columns)
    )
