"""The commands' jobs, without the CLI: open what a run needs, run it, close it.

A job takes typed options and the settings, opens the source, the lake, the state store (local
or on S3), the MongoDB sink and the locks, runs the stage, and closes everything whatever
happens. The CLI (:mod:`analytics_cli.app`) only parses options into these objects and renders
what comes back; a library user calls the same functions.

- :func:`collect_job` — one collect of a pipeline (``analytics collect``), under its lock;
- :func:`enrich_job` — label what needs labels in a lake (``analytics enrich``), under the
  lake's labeling lock;
- :func:`report_job` — compute a report; :func:`save_report` stores one in the lake's
  ``reports/`` and in MongoDB.
"""

from __future__ import annotations

import json
import shlex
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analytics_framework.dates import check_range
from analytics_framework.errors import ConfigurationError
from analytics_framework.reports import ReportResult, get_report, run_report
from analytics_framework.settings import Settings
from analytics_framework.storage.lock import RunLock
from analytics_framework.storage.s3 import open_lake
from analytics_framework.storage.state_store import (
    lake_folder,
    lake_id,
    open_store,
)

if TYPE_CHECKING:  # collecting, labeling and reporting each load their own stack when they run
    from analytics_framework import pipeline
    from analytics_framework.enrich.stage import EnrichSummary
    from analytics_framework.sources.base import Source
    from analytics_framework.storage.lake import Partition


@dataclass(frozen=True)
class CollectOptions:
    """What one ``collect`` is asked to do (the settings carry lake, batch size, zone, lookback).

    Attributes:
        source: the source's registry name.
        path: the input path, folder or glob (file sources), or None.
        start / end: a backfill's half-open day range, or None.
        source_options: options of the source itself (``column_map``, ``app_id``, …); None
            values count as not given.
        state_file: the state document to use instead of ``state/<lake>/<source>.json``.
        full_refresh / resume / force / dry_run: the planning switches (see
            :mod:`analytics_framework.planning`).
        wait_s: seconds to wait for another run's lock before giving up.
        mongo: write to MongoDB when a URI is configured.
        state_name: the S3 state document's name instead of the source's (a Ray shard's own
            state and lock, :mod:`analytics_framework.distributed.collect`), or None.
    """

    source: str
    path: str | None = None
    start: date | None = None
    end: date | None = None
    source_options: dict[str, Any] = field(default_factory=dict)
    state_file: Path | None = None
    full_refresh: bool = False
    resume: bool = False
    force: bool = False
    dry_run: bool = False
    wait_s: float = 0.0
    mongo: bool = True
    state_name: str | None = None


def resume_command(options: CollectOptions, settings: Settings) -> str:
    """Return the command that continues an interrupted collect, every option that matters in.

    Paths are made absolute, so the command works when pasted from another folder; the
    source's own options (``--app-id``, ``--column-map``, …) are repeated as given.
    """
    parts = ["analytics", "collect", "--source", options.source]
    path = options.path
    if path:
        parts.append(path if any(ch in path for ch in "*?[") else str(Path(path).absolute()))
    for name, value in sorted(options.source_options.items()):
        flag = "--" + name.replace("_", "-")
        for one in value if isinstance(value, list | tuple) else [value]:
            if one is not None and one is not False:
                parts += [flag] if one is True else [flag, str(one)]
    if settings.lake_uri != Settings.model_fields["lake_uri"].default:
        parts += ["--lake", lake_id(settings.lake_uri)]
    if options.state_file is not None:
        parts += ["--state-file", str(options.state_file.absolute())]
    if settings.use_s3_state:
        parts.append("--use-s3-state")
    return shlex.join([*parts, "--resume"])


def collect_job(
    options: CollectOptions,
    settings: Settings,
    *,
    on_batch: Callable[[pipeline.BatchReport], None] | None = None,
    stop: threading.Event | None = None,
    command: str = "",
    source: Source | None = None,
) -> pipeline.RunSummary:
    """Run one collect as ``options`` say (a dry run plans only), under the pipeline's lock.

    Args:
        options: what to collect and how.
        settings: lake, state, batch size, zone, lookback, MongoDB.
        on_batch: called after each committed batch.
        stop: set it to stop after the batch in progress (Ctrl-C, SIGTERM).
        command: the command line, recorded in the lock for ``analytics status``.
        source: the opened source to read instead of opening ``options.source`` (a Ray
            shard's :class:`~analytics_framework.distributed.staged.StagedSource`).

    Returns:
        The run's summary; ``summary.stopped`` when ``stop`` ended it early (continue with
        :func:`resume_command`).

    Raises:
        ConfigurationError: bad options, an unknown source, nothing to resume.
        LockHeldError: another run of the pipeline holds the lock after ``wait_s``.
        InputError / LakeError / MongoError / ServiceError: the run failed; every committed
            batch is kept.
    """
    from analytics_framework import pipeline
    from analytics_framework.sources import get_source

    check_range(options.start, options.end)
    if options.wait_s < 0:
        raise ConfigurationError(
            f"--wait {options.wait_s:g} is negative", "pass seconds, e.g. --wait 600"
        )
    src = source or get_source(options.source)(options.path, settings, dict(options.source_options))
    lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    store = open_store(settings, options.source, options.state_file, name=options.state_name)
    plan_options: dict[str, Any] = {
        "batch_size": settings.batch_size,
        "timezone": settings.timezone,
        "start": options.start,
        "end": options.end,
        "full_refresh": options.full_refresh,
        "resume": options.resume,
        "force": options.force,
        "lookback": settings.lookback,
    }
    if options.dry_run:
        return pipeline.run_collect(src, lake, store, dry_run=True, **plan_options)
    from analytics_framework.storage.sinks import open_mongo  # pymongo only when used

    sink = open_mongo(settings, options.mongo)
    try:
        return pipeline.run_collect(
            src,
            lake,
            store,
            wait_s=options.wait_s,
            on_batch=on_batch,
            stop=stop,
            command=command,
            resume_command=resume_command(options, settings),
            sink=sink,
            **plan_options,
        )
    finally:
        if sink is not None:
            sink.close()


def enrich_job(
    settings: Settings,
    start: date | None = None,
    end: date | None = None,
    *,
    force: bool = False,
    wait_s: float = 0.0,
    mongo: bool = True,
    on_partition: Callable[[Partition, int], None] | None = None,
    use_translations: bool = False,
) -> EnrichSummary:
    """Label what needs labels in the settings' lake, under the lake's labeling lock.

    The lock is ``state/<lake>/enrich.json.lock`` (one labeling run per lake); the label cache
    is ``state/label_cache.sqlite3``, shared by every lake since it is keyed by content.
    ``use_translations``: labelers read the English text of translated messages
    (:func:`~analytics_framework.enrich.stage.enrich`).

    Raises:
        LakeError: the lake has no conversations (checked before anything is created).
        ConfigurationError: a missing API key, a bad taxonomy.
        LockHeldError: another labeling run holds the lake's lock after ``wait_s``.
        ProviderAuthError / MongoError: the run failed; labels written so far are kept.
    """
    from analytics_framework.enrich import make_labeler
    from analytics_framework.enrich.base import LabelCache
    from analytics_framework.enrich.stage import enrich

    check_range(start, end)
    labeler = make_labeler(settings)
    lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    lake.require("conversations")  # before the lock: a missing lake leaves nothing behind
    lock_path = lake_folder(settings.state_dir, settings.lake_uri) / "enrich.json"
    with RunLock(lock_path, "enrich", wait_s=wait_s):
        cache = LabelCache(Path(settings.state_dir) / "label_cache.sqlite3")
        from analytics_framework.storage.sinks import open_mongo

        sink = open_mongo(settings, mongo)
        try:
            return enrich(
                lake,
                labeler,
                cache=cache,
                workers=settings.workers,
                force=force,
                start=start,
                end=end,
                batch_size=settings.batch_size,
                budget_tokens=settings.llm_max_input_tokens,
                prices=settings.llm_prices,
                on_partition=on_partition,
                sink=sink,
                use_translations=use_translations,
            )
        finally:
            cache.close()
            if sink is not None:
                sink.close()


def report_job(
    settings: Settings,
    name: str,
    *,
    period: str = "daily",
    start: date | None = None,
    end: date | None = None,
    org: str | None = None,
    by: str | None = None,
    options: dict[str, Any] | None = None,
) -> ReportResult:
    """Compute report ``name`` over the settings' lake; reading touches nothing but the lake.

    ``options`` are the report's own (``limit``, ``sort``, ``compare`` …), checked against its
    declaration.

    Raises:
        UnknownNameError / ConfigurationError: unknown report, period or grouping.
        LakeError: the lake is empty or unreadable.
    """
    check_range(start, end)
    return run_report(
        get_report(name),
        open_lake(settings.lake_uri, settings.s3_endpoint_url),
        period=period,
        start=start,
        end=end,
        org=org,
        by=by,
        timezone=settings.timezone,
        options=options,
    )


def save_report(settings: Settings, result: ReportResult) -> list[str]:
    """Store ``result``, replacing the same report, period, zone and filters.

    It goes to the lake as ``<lake>/reports/<name>/<period>/<key>.parquet`` (the rows, each with
    the report's name, zone and filters; :attr:`ReportResult.key`), as the Framework keeps
    ``analytics_reports/daily|weekly|monthly`` on S3, and to MongoDB's ``analytics_reports``
    when a URI is configured.

    Returns:
        Where it was stored, for the user.

    Raises:
        LakeError: the lake cannot be written.
        MongoError: MongoDB cannot be reached or refused the write (the lake copy is kept).
    """
    lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    path = lake.path("reports", result.report, result.period, f"{result.key}.parquet")
    lake.write_parquet(path, result.to_frame())
    where = [path if lake.is_s3 else str(Path(path))]
    from analytics_framework.storage.sinks import open_mongo

    sink = open_mongo(settings, True)
    if sink is not None:
        try:
            sink.write_report(json.loads(result.to_json()))
        finally:
            sink.close()
        where.append(sink.where)
    return where


@dataclass
class ExportOutcome:
    """What :func:`export_job` wrote: the paths, and the notes on skipped or empty reports."""

    written: list[str]
    notes: list[str]


def export_job(
    settings: Settings,
    fmt: str,
    output: str,
    *,
    period: str = "weekly",
    start: date | None = None,
    end: date | None = None,
    org: str | None = None,
    by: str | None = None,
    compare: str | None = None,
    dpi: int = 100,
) -> ExportOutcome:
    """Compute the reports a format draws from, once each, and write the format's files.

    Args:
        settings: lake, zone, S3 endpoint.
        fmt: an export format (:data:`analytics_framework.exports.EXPORTERS`).
        output: the folder or ``s3://bucket/prefix`` the files go to.
        period: ``daily``, ``weekly`` or ``monthly``, for every report.
        start: first day (conversation start, in the settings' zone), or None.
        end: the day after the last, or None.
        org: only this org, or None.
        by: a grouping, given to the reports that take it (``org``).
        compare: ``previous`` to give every report that takes it its previous-period values.
        dpi: chart resolution; 100 gives 1600×900 pixels.

    Returns:
        The files written and one note per report skipped (a lake without the table it needs)
        or with no rows.

    Raises:
        UnknownNameError: an unknown format.
        LakeError: the lake has no conversations, or the output cannot be written.
    """
    from datetime import UTC, datetime

    from analytics_framework.exports import Destination, ExportContext, get_exporter
    from analytics_framework.exports.ahead import ChartsAhead, start_worker, worth_a_worker
    from analytics_framework.reports import sql_of
    from analytics_framework.storage.query import connect

    exporter = get_exporter(fmt)  # an unknown format is refused first
    check_range(start, end)
    lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    lake.require("conversations")
    # a big lake's charts are drawn in a second process, forked now, before the lake is read:
    # it imports matplotlib while this process reads the lake (exports.ahead)
    worker = None
    if exporter.chart_format and worth_a_worker(lake.table_bytes("conversations")):
        worker = start_worker()
    ahead = None
    try:
        ctx = ExportContext(
            results={},
            lake_uri=lake_id(settings.lake_uri),
            generated_at=datetime.now(UTC),
            filters={
                "period": period,
                "timezone": settings.timezone,
                "start_date": start.isoformat() if start else None,
                "end_date": end.isoformat() if end else None,
                "org": org,
                "by": by,
                "compare": compare,
            },
            dpi=dpi,
        )
        if exporter.chart_format:
            ahead = ChartsAhead(ctx, exporter.chart_format, worker=worker)
        # one connection for every report: the views are built (or a small lake read) once
        con = connect(lake, keep_for=sql_of(list(exporter.reports)))
        try:
            _run_export_reports(
                exporter.reports,
                ctx,
                con,
                lake,
                settings,
                (period, start, end, org, by, compare),
                ahead.report_done if ahead else None,
            )
        finally:
            con.close()
        written = exporter().export(ctx, Destination(output, settings.s3_endpoint_url))
    except BaseException:
        if ahead:
            ahead.abort()  # an error or Ctrl-C: stop drawing, at once
        elif worker is not None:
            worker.stop()
        raise
    if ahead:
        ahead.finish()  # done already, unless the format drew no chart
    return ExportOutcome(written, ctx.notes)


def _run_export_reports(
    reports: dict[str, dict[str, Any]],
    ctx: Any,
    con: Any,
    lake: Any,
    settings: Settings,
    shared: tuple[str, date | None, date | None, str | None, str | None, str | None],
    done: Callable[[str], None] | None,
) -> None:
    """Run each report an export draws from over one connection into ``ctx.results``.

    Args:
        reports: report name → its own options (the exporter's ``reports``).
        ctx: the export's context; skipped reports are noted in ``ctx.notes``.
        con: the connection every report runs over.
        lake: the lake.
        settings: the zone.
        shared: (period, start, end, org, by, compare), the same for every report.
        done: called with each report's name once its result is stored, or None.
    """
    from analytics_framework.errors import LakeError
    from analytics_framework.exports.base import RUN_FIRST
    from analytics_framework.reports import get_report

    period, start, end, org, by, compare = shared
    first = {name: i for i, name in enumerate(RUN_FIRST)}
    for name, extra in sorted(reports.items(), key=lambda kv: first.get(kv[0], len(first))):
        spec = get_report(name)
        options = dict(extra)
        if compare and spec.option("compare") is not None:
            options["compare"] = compare
        try:
            ctx.results[name] = run_report(
                spec,
                lake,
                period=period,
                start=start,
                end=end,
                org=org,
                by=by if by in spec.by else None,
                timezone=settings.timezone,
                options=options,
                con=con,
            )
            if done is not None:
                done(name)
        except LakeError as exc:
            if not any(t in exc.message for t in spec.requires):
                raise
            ctx.notes.append(f"{name}: skipped — {exc.one_line()}")
