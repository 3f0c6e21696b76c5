"""The ``analytics`` command line: parses options, calls the framework, renders with rich.

No business logic lives here. This is the one place that turns errors into words: an
:class:`~analytics_framework.errors.AnalyticsError` becomes one line on stderr naming the fix,
with exit code 2 for usage errors and 1 for failures.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from analytics_cli import render
from analytics_framework import pipeline
from analytics_framework.dates import check_range, parse_day
from analytics_framework.enrich import LABELERS, make_labeler
from analytics_framework.enrich.base import LabelCache
from analytics_framework.enrich.stage import EnrichSummary, enrich
from analytics_framework.errors import (
    AnalyticsError,
    ConfigurationError,
    LakeError,
    RunStoppedError,
)
from analytics_framework.reports import REPORTS, ReportResult, get_report, run_report
from analytics_framework.settings import Settings, load_settings
from analytics_framework.sources import SOURCES, get_source
from analytics_framework.status import pipeline_status, s3_state_pipelines, state_files
from analytics_framework.storage.lock import RunLock
from analytics_framework.storage.mongo import open_mongo
from analytics_framework.storage.s3 import open_lake
from analytics_framework.storage.state_store import (
    S3StateStore,
    StateStore,
    default_state_path,
    lake_folder,
    lake_id,
)

app = typer.Typer(
    name="analytics",
    help="Conversation Analytics: collect conversations into a Parquet lake and report on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: no Python types beside flags, brackets are text
)
out = Console()
err = Console(stderr=True)

T = TypeVar("T")

SOURCE_HELP = "Source: " + ", ".join(f"{n} ({c.description})" for n, c in SOURCES.items()) + "."


def _default(text: str) -> str:
    """Return the ``[default: …]`` suffix of an option whose default comes from the settings."""
    return f"  [default: {text}]"


LakeOpt = Annotated[
    str | None,
    typer.Option(
        "--lake",
        metavar="PATH|S3URI",
        help="Lake folder or s3://bucket/prefix (ANALYTICS_LAKE_URI)." + _default("./lake"),
    ),
]
TzOpt = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        metavar="ZONE",
        help="IANA zone in which days and periods are cut (ANALYTICS_TIMEZONE)." + _default("UTC"),
    ),
]
StartOpt = Annotated[
    str | None,
    typer.Option("--start-date", metavar="YYYY-MM-DD", help="First day, inclusive."),
]
EndOpt = Annotated[
    str | None,
    typer.Option("--end-date", metavar="YYYY-MM-DD", help="Day after the last one (excluded)."),
]
BatchOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        metavar="N",
        help="Conversations per batch: the unit of staging, commits and resume "
        "(ANALYTICS_BATCH_SIZE)." + _default("1000"),
    ),
]
ColumnMapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--column-map",
        metavar="CANONICAL=YOURS",
        help="Only for --source files: read column YOURS as CANONICAL; repeatable.",
    ),
]
PeriodOpt = Annotated[
    str, typer.Option("--period", metavar="PERIOD", help="daily, weekly (Monday-based) or monthly.")
]
OrgOpt = Annotated[
    str | None, typer.Option("--org", metavar="ORG", help="Only this org (brand, page, app).")
]
ByOpt = Annotated[
    str | None, typer.Option("--by", metavar="org", help="org: one row per period and org.")
]
FormatOpt = Annotated[str, typer.Option("--format", metavar="FORMAT", help="table, json or csv.")]
OutputOpt = Annotated[
    Path | None,
    typer.Option("--output", metavar="FILE", help="Write the report (CSV or JSON) to this file."),
]
StateFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-file",
        metavar="FILE",
        help="The pipeline's state JSON; it must describe the same lake."
        + _default("state/<lake>/<source>.json"),
    ),
]
FullRefreshOpt = Annotated[
    bool, typer.Option("--full-refresh", help="Ignore the watermark and processed files.")
]
ResumeOpt = Annotated[
    bool,
    typer.Option("--resume", help="Continue the interrupted run after its last committed batch."),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Backfill: collect days already collected again.")
]
LookbackOpt = Annotated[
    str | None,
    typer.Option(
        "--lookback",
        metavar="DURATION",
        help="Incremental runs re-read this far before the watermark: 90s, 30m, 1h, 2d "
        "(ANALYTICS_LOOKBACK)." + _default("1h"),
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Say what would be read and written; change nothing.")
]


def _wait_opt(what: str) -> Any:
    return Annotated[
        float,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            help=f"Wait up to SECONDS for {what} to finish instead of exiting 75."
            + _default("0: do not wait"),
            show_default=False,
        ),
    ]


WaitOpt = _wait_opt("a running collect of the same pipeline (and labeling of the lake)")
EnrichWaitOpt = _wait_opt("a labeling run on the same lake")
NoEnrichOpt = Annotated[
    bool, typer.Option("--no-enrich", help="Do not label conversations after loading.")
]
ProviderOpt = Annotated[
    str | None,
    typer.Option(
        "--provider",
        metavar="NAME",
        help="Labeler: "
        + ", ".join(LABELERS)
        + " (ANALYTICS_LLM_PROVIDER)."
        + _default("gemini if GEMINI_API_KEY is set, else openai if OPENAI_API_KEY is, else local"),
    ),
]
TaxonomyOpt = Annotated[
    Path | None,
    typer.Option("--taxonomy", metavar="FILE", help="TOML taxonomy replacing the default."),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", metavar="N", help="Threads sending LLM requests." + _default("4")),
]
ForceReprocessOpt = Annotated[
    bool,
    typer.Option("--force-reprocess", help="Label again, ignoring the cache and current labels."),
]
MongoUriOpt = Annotated[
    str | None,
    typer.Option(
        "--mongodb-uri",
        metavar="URI",
        help="MongoDB to write documents to (MONGODB_URI)." + _default("unset: MongoDB off"),
    ),
]
NoMongoOpt = Annotated[bool, typer.Option("--no-mongodb", help="Do not write to MongoDB.")]
S3StateOpt = Annotated[
    bool | None,
    typer.Option(
        "--use-s3-state",
        help="Keep the state and its lock on S3 beside the lake (<lake>/_state/).",
    ),
]
ReadS3StateOpt = Annotated[
    bool | None,
    typer.Option(
        "--use-s3-state", help="Read the state kept on S3 beside the lake (<lake>/_state/)."
    ),
]
FORMATS = ("table", "json", "csv")
state_app = typer.Typer(
    help="Inspect or reset a pipeline's processing state.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(state_app, name="state")


def _version(value: bool) -> None:
    if value:
        out.print(f"analytics {package_version('conversation-analytics')}", highlight=False)
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Conversation Analytics: collect conversations into a Parquet lake and report on them."""


def _store(
    settings: Settings, source: str, state_file: Path | None, *, check_lake: bool = True
) -> StateStore | S3StateStore:
    """Return the pipeline's state store: local (``state/<lake>/<source>.json``) or on S3.

    With ``check_lake`` a state that describes another lake than ``settings.lake_uri`` is
    refused when loaded (:class:`~analytics_framework.storage.state_store.StateLakeError`).
    """
    get_source(source)  # an unknown name fails here, before any file is touched
    if settings.use_s3_state:
        if not settings.lake_uri.startswith("s3://"):
            raise ConfigurationError(
                f"--use-s3-state keeps the state beside the lake; the lake is {settings.lake_uri}",
                "pass --lake s3://bucket/prefix, or drop --use-s3-state",
            )
        if state_file is not None:
            raise ConfigurationError(
                "--state-file and --use-s3-state do not go together", "choose one of them"
            )
        lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
        return S3StateStore(lake, source, stale_s=settings.lock_stale_s)
    path = state_file or default_state_path(settings.state_dir, source, settings.lake_uri)
    return StateStore(path, source, lake_id(settings.lake_uri) if check_lake else None)


def _guard(fn: Callable[[], T]) -> T:
    """Run ``fn``; turn framework errors into one line on stderr and an exit code."""
    try:
        return fn()
    except AnalyticsError as exc:
        err.print(f"[bold red]error:[/] {exc.one_line()}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print(
            "aborted; every committed batch is kept and the next run publishes what was "
            "staged — re-run the same command (add --resume to skip the committed batches)",
            highlight=False,
        )
        raise typer.Exit(130) from None


def _settings(**overrides: Any) -> Settings:
    return load_settings(**overrides)


ABORT_GRACE_S = 1.0
"""After a second Ctrl-C, how long the main thread gets to unwind before the process ends."""


@contextmanager
def _graceful_stop() -> Iterator[threading.Event]:
    """Turn the first Ctrl-C / SIGTERM into a request to stop after the current batch.

    A second signal aborts at once. Python runs signal handlers only between bytecodes, so a
    main thread busy in native code (polars sorting a large input) would not notice it: the
    signals are therefore also watched on a wake-up socket by a thread, which prints the
    notice at once and, after a second signal, ends the process with exit code 130 unless the
    main thread has unwound within :data:`ABORT_GRACE_S`. The state stays consistent either way,
    because every state write is atomic and the next run recovers staged batches.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(_signum: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

    def watch() -> None:
        seen = 0
        while True:
            try:
                data = reader.recv(64)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                if signum not in (signal.SIGINT, signal.SIGTERM):
                    continue
                seen += 1
                name = signal.Signals(signum).name
                if seen == 1:
                    err.print(
                        f"{name}: stopping after the current batch is committed "
                        "(press Ctrl-C again to abort now)",
                        highlight=False,
                        soft_wrap=True,
                    )
                    continue
                err.print(
                    f"{name} again: aborting now; every committed batch is kept and the next "
                    "run publishes what was staged — re-run the same command (add --resume "
                    "to skip the committed batches)",
                    highlight=False,
                    soft_wrap=True,
                )
                time.sleep(ABORT_GRACE_S)
                os._exit(130)

    watcher = threading.Thread(target=watch, name="signal-watch", daemon=True)
    watcher.start()
    try:
        yield stop
    finally:
        signal.set_wakeup_fd(old_fd)
        writer.close()
        watcher.join(timeout=ABORT_GRACE_S + 1)
        reader.close()
        for sig, old in previous.items():
            # once a stop was asked for, a further signal while the process winds down ends it
            # with the same exit code; the state is already consistent
            signal.signal(sig, (lambda *_: os._exit(130)) if stop.is_set() else old)


def _resume_command(
    source: str, path: str | None, settings: Settings, state_file: Path | None
) -> str:
    """Return the command continuing an interrupted collect, with every option that matters.

    Paths are made absolute, so the command works when pasted from another folder.
    """
    parts = ["analytics", "collect", "--source", source]
    if path:
        parts.append(path if any(ch in path for ch in "*?[") else str(Path(path).absolute()))
    if settings.lake_uri != Settings.model_fields["lake_uri"].default:
        parts += ["--lake", lake_id(settings.lake_uri)]
    if state_file is not None:
        parts += ["--state-file", str(state_file.absolute())]
    if settings.use_s3_state:
        parts.append("--use-s3-state")
    return shlex.join([*parts, "--resume"])


def _collect(
    source: str,
    path: str | None,
    settings: Settings,
    start: str | None,
    end: str | None,
    column_map: list[str] | None,
    state_file: Path | None = None,
    *,
    full_refresh: bool = False,
    resume: bool = False,
    force: bool = False,
    dry_run: bool = False,
    wait: float = 0.0,
    mongo: bool = True,
) -> pipeline.RunSummary:
    start_d, end_d = parse_day(start, "--start-date"), parse_day(end, "--end-date")
    check_range(start_d, end_d)
    if wait < 0:
        raise ConfigurationError(f"--wait {wait:g} is negative", "pass seconds, e.g. --wait 600")
    src = get_source(source)(path, settings, {"column_map": column_map})  # type: ignore[dict-item]
    lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    store = _store(settings, source, state_file)
    options = {
        "batch_size": settings.batch_size,
        "timezone": settings.timezone,
        "start": start_d,
        "end": end_d,
        "full_refresh": full_refresh,
        "resume": resume,
        "force": force,
        "lookback": settings.lookback,
    }
    if dry_run:
        summary = pipeline.run_collect(src, lake, store, dry_run=True, **options)
        render.dry_run(out, summary)
        return summary
    resume_cmd = _resume_command(source, path, settings, state_file)
    sink = open_mongo(settings, mongo)
    with _graceful_stop() as stop:  # until the last word, so a second Ctrl-C always aborts
        try:
            with render.batch_progress(err, source) as on_batch:
                summary = pipeline.run_collect(
                    src,
                    lake,
                    store,
                    wait_s=wait,
                    on_batch=on_batch,
                    stop=stop,
                    command=" ".join(["analytics", *sys.argv[1:]]),
                    resume_command=resume_cmd,
                    sink=sink,
                    **options,
                )
        finally:
            if sink is not None:
                sink.close()
        render.run_summary(out, summary)
        if summary.stopped:
            raise RunStoppedError(
                f"stopped after batch {summary.resumed_after + summary.batches + 1:,} with "
                f"every batch so far committed (load {summary.load_id})",
                f"continue with: {resume_cmd}",
            )
    return summary


def _enrich(
    settings: Settings,
    start: str | None = None,
    end: str | None = None,
    *,
    force: bool = False,
    wait: float = 0.0,
    mongo: bool = True,
) -> EnrichSummary:
    """Label what needs labels in the lake (under the enrich lock) and print the summary."""
    start_d, end_d = parse_day(start, "--start-date"), parse_day(end, "--end-date")
    check_range(start_d, end_d)
    labeler = make_labeler(settings)
    lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    lake.require("conversations")  # before the lock: a missing lake leaves nothing behind
    state_dir = Path(settings.state_dir)
    lock_path = lake_folder(settings.state_dir, settings.lake_uri) / "enrich.json"
    with RunLock(lock_path, "enrich", wait_s=wait):
        cache = LabelCache(state_dir / "label_cache.sqlite3")
        sink = open_mongo(settings, mongo)
        try:
            with render.enrich_progress(err, labeler.name) as on_partition:
                summary = enrich(
                    lake,
                    labeler,
                    cache=cache,
                    workers=settings.llm_workers,
                    force=force,
                    start=start_d,
                    end=end_d,
                    batch_size=settings.batch_size,
                    budget_tokens=settings.llm_max_input_tokens,
                    prices=settings.llm_prices,
                    on_partition=on_partition,
                    sink=sink,
                )
        finally:
            cache.close()
            if sink is not None:
                sink.close()
    render.enrich_summary(out, summary)
    return summary


def _report(
    settings: Settings,
    name: str,
    period: str,
    start: str | None,
    end: str | None,
    org: str | None,
    by: str | None,
    fmt: str,
    output: Path | None,
    save: bool = False,
) -> ReportResult:
    """Compute a report, print or write it, and store it in MongoDB when ``save`` is set.

    Reading a report touches nothing but the lake; only ``save`` (``--save``, and every
    ``run``) needs MongoDB, and only when one is configured.
    """
    if fmt not in FORMATS:
        raise ConfigurationError(f"unknown --format {fmt!r}", f"use one of: {', '.join(FORMATS)}")
    start_d, end_d = parse_day(start, "--start-date"), parse_day(end, "--end-date")
    check_range(start_d, end_d)
    result = run_report(
        get_report(name),
        open_lake(settings.lake_uri, settings.s3_endpoint_url),
        period=period,
        start=start_d,
        end=end_d,
        org=org,
        by=by,
        timezone=settings.timezone,
    )
    text = {"json": result.to_json, "csv": result.to_csv}.get(fmt)
    if output is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text() if text else result.to_csv(), encoding="utf-8")
        except OSError as exc:
            raise LakeError(
                f"cannot write --output {output}: {exc.strerror}", "choose a writable path"
            ) from None
        err.print(f"report written to {output}", highlight=False)
    if fmt == "table":
        render.report_table(out, result)
    elif output is None and text:
        sys.stdout.write(text())
    if save:
        sink = open_mongo(settings, True)
        if sink is not None:
            try:
                sink.write_report(json.loads(result.to_json()))
            finally:
                sink.close()
            err.print(f"report saved to {sink.where}", highlight=False)
    return result


@app.command()
def collect(
    path: Annotated[str | None, typer.Argument(metavar="PATH", hidden=True)] = None,
    source: Annotated[str, typer.Option("--source", metavar="NAME", help=SOURCE_HELP)] = "twcs",
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    batch_size: BatchOpt = None,
    lake: LakeOpt = None,
    timezone: TzOpt = None,
    column_map: ColumnMapOpt = None,
    state_file: StateFileOpt = None,
    full_refresh: FullRefreshOpt = False,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    lookback: LookbackOpt = None,
    dry_run: DryRunOpt = False,
    wait: WaitOpt = 0.0,
    no_enrich: NoEnrichOpt = False,
    provider: ProviderOpt = None,
    taxonomy: TaxonomyOpt = None,
    workers: WorkersOpt = None,
    force_reprocess: ForceReprocessOpt = False,
    mongodb_uri: MongoUriOpt = None,
    no_mongodb: NoMongoOpt = False,
    use_s3_state: S3StateOpt = None,
) -> None:
    r"""Extract, transform and load conversations into the lake.

    Incremental by default: without dates, reads what is new since the last run (the
    watermark minus --lookback; unchanged files are skipped). With --start-date/--end-date,
    backfills that range, skipping days already collected unless --force. Exit 75 if another
    collect of the pipeline runs.

    \b
    Arguments:
      PATH  input file, folder or glob (twcs without PATH: the bundled sample)

    \b
    Example:
      analytics collect --source files ./exports/ --start-date 2024-01-01
    """

    def go() -> None:
        settings = _settings(
            lake_uri=lake,
            batch_size=batch_size,
            timezone=timezone,
            lookback=lookback,
            llm_provider=provider,
            taxonomy_file=str(taxonomy) if taxonomy else None,
            llm_workers=workers,
            mongodb_uri=mongodb_uri,
            use_s3_state=use_s3_state,
        )
        if not (dry_run or no_enrich):
            make_labeler(settings)  # a missing key or bad taxonomy fails before any work
        _collect(
            source,
            path,
            settings,
            start_date,
            end_date,
            column_map,
            state_file,
            full_refresh=full_refresh,
            resume=resume,
            force=force,
            dry_run=dry_run,
            wait=wait,
            mongo=not no_mongodb,
        )
        if not (dry_run or no_enrich):
            _enrich(
                settings,
                start_date,
                end_date,
                force=force_reprocess,
                wait=wait,
                mongo=not no_mongodb,
            )

    _guard(go)


@app.command()
def report(
    name: Annotated[str, typer.Argument(metavar="NAME", hidden=True)] = "overview",
    period: PeriodOpt = "daily",
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    org: OrgOpt = None,
    by: ByOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    lake: LakeOpt = None,
    timezone: TzOpt = None,
    save: Annotated[
        bool,
        typer.Option("--save", help="Also store the report in MongoDB (analytics_reports)."),
    ] = False,
    mongodb_uri: MongoUriOpt = None,
) -> None:
    r"""Compute a report over the lake with DuckDB.

    Reading a report touches only the lake; --save also stores it in MongoDB (when
    MONGODB_URI or --mongodb-uri is set), replacing the same report, period and filters.

    \b
    Arguments:
      NAME  the report (default: overview): REPORT_NAMES

    \b
    Example:
      analytics report --period weekly --by org --format csv --output weekly.csv
    """
    _guard(
        lambda: _report(
            _settings(lake_uri=lake, timezone=timezone, mongodb_uri=mongodb_uri),
            name,
            period,
            start_date,
            end_date,
            org,
            by,
            fmt,
            output,
            save=save,
        )
    )


report.__doc__ = (report.__doc__ or "").replace("REPORT_NAMES", ", ".join(REPORTS))


@app.command()
def run(
    path: Annotated[
        str | None,
        typer.Argument(metavar="PATH", hidden=True),
    ] = None,
    source: Annotated[str, typer.Option("--source", metavar="NAME", help=SOURCE_HELP)] = "twcs",
    period: PeriodOpt = "monthly",
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    org: OrgOpt = None,
    by: ByOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    batch_size: BatchOpt = None,
    lake: LakeOpt = None,
    timezone: TzOpt = None,
    column_map: ColumnMapOpt = None,
    state_file: StateFileOpt = None,
    full_refresh: FullRefreshOpt = False,
    wait: WaitOpt = 0.0,
    no_enrich: NoEnrichOpt = False,
    provider: ProviderOpt = None,
    taxonomy: TaxonomyOpt = None,
    workers: WorkersOpt = None,
    force_reprocess: ForceReprocessOpt = False,
    mongodb_uri: MongoUriOpt = None,
    no_mongodb: NoMongoOpt = False,
    use_s3_state: S3StateOpt = None,
) -> None:
    r"""Collect, label, then report (default input: the bundled sample).

    \b
    Arguments:
      PATH  input file, folder or glob (twcs without PATH: the bundled sample)

    \b
    Example:
      analytics run            (real Twitter support threads, no settings needed)
    """

    def go() -> None:
        settings = _settings(
            lake_uri=lake,
            batch_size=batch_size,
            timezone=timezone,
            llm_provider=provider,
            taxonomy_file=str(taxonomy) if taxonomy else None,
            llm_workers=workers,
            mongodb_uri=mongodb_uri,
            use_s3_state=use_s3_state,
        )
        mongo = not no_mongodb
        if not no_enrich:
            make_labeler(settings)
        _collect(
            source,
            path,
            settings,
            start_date,
            end_date,
            column_map,
            state_file,
            full_refresh=full_refresh,
            wait=wait,
            mongo=mongo,
        )
        if not no_enrich:
            _enrich(settings, start_date, end_date, force=force_reprocess, wait=wait, mongo=mongo)
        _report(
            settings, "overview", period, start_date, end_date, org, by, fmt, output, save=mongo
        )

    _guard(go)


@app.command("enrich")
def enrich_cmd(
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    provider: ProviderOpt = None,
    taxonomy: TaxonomyOpt = None,
    workers: WorkersOpt = None,
    force_reprocess: ForceReprocessOpt = False,
    lake: LakeOpt = None,
    wait: EnrichWaitOpt = 0.0,
    mongodb_uri: MongoUriOpt = None,
    no_mongodb: NoMongoOpt = False,
) -> None:
    r"""Label the lake's conversations that have no current label.

    Failed labels are retried; --force-reprocess labels everything again.

    \b
    Example:
      analytics enrich --provider gemini --workers 8 --start-date 2024-01-01
    """

    def go() -> None:
        settings = _settings(
            lake_uri=lake,
            llm_provider=provider,
            taxonomy_file=str(taxonomy) if taxonomy else None,
            llm_workers=workers,
            mongodb_uri=mongodb_uri,
        )
        _enrich(
            settings, start_date, end_date, force=force_reprocess, wait=wait, mongo=not no_mongodb
        )

    _guard(go)


@app.command()
def status(
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            metavar="NAME",
            help="Only this pipeline." + _default("every pipeline of the lake"),
        ),
    ] = None,
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            metavar="N",
            min=1,
            help="Without dates, show the last N days of the data in the coverage grid."
            + _default("31"),
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="table or json.")
    ] = "table",
    lake: LakeOpt = None,
    state_file: StateFileOpt = None,
    use_s3_state: ReadS3StateOpt = None,
) -> None:
    r"""Show where each pipeline stands: runs, lock, watermark, coverage.

    The pipelines of one lake (--lake); the grid shows the days its data covers.

    \b
    Example:
      analytics status --start-date 2017-10-01 --end-date 2017-11-01 --format json
    """

    def go() -> None:
        if fmt not in ("table", "json"):
            raise ConfigurationError(f"unknown --format {fmt!r}", "use table or json")
        settings = _settings(lake_uri=lake, use_s3_state=use_s3_state)
        start_d, end_d = parse_day(start_date, "--start-date"), parse_day(end_date, "--end-date")
        check_range(start_d, end_d)
        lake_ = open_lake(settings.lake_uri, settings.s3_endpoint_url)
        ident = lake_id(settings.lake_uri)
        folder = lake_folder(settings.state_dir, settings.lake_uri)
        stores: list[StateStore | S3StateStore]
        if state_file is not None and source is None:
            stores = [StateStore(state_file, state_file.stem, ident)]
        elif state_file is not None or source is not None:
            stores = [_store(settings, source or "twcs", state_file)]
        elif settings.use_s3_state:
            stores = [_store(settings, name, None) for name in s3_state_pipelines(lake_)]
        else:
            stores = [StateStore(p, p.stem, ident) for p in state_files(str(folder))]
        stores = [s for s in stores if s.exists()]
        if not stores:
            where = f"{lake_.uri}/_state/" if settings.use_s3_state else f"{folder}/"
            raise ConfigurationError(
                f"no pipeline state for the lake {ident} in {where}: nothing has been "
                "collected into it yet",
                "run 'analytics collect' first, or pass the --lake (or --state-file) you "
                "collected with",
            )
        found = [pipeline_status(s, lake_, start_d, end_d, days=days) for s in stores]
        if fmt == "json":
            sys.stdout.write(json.dumps({"pipelines": found}, indent=2, default=str) + "\n")
        else:
            for one in found:
                render.status(out, one)

    _guard(go)


@app.command()
def doctor(
    lake: LakeOpt = None,
    provider: ProviderOpt = None,
    mongodb_uri: MongoUriOpt = None,
) -> None:
    r"""Check the settings, credentials and every configured service.

    Exits 1 if any check fails; each failure comes with its fix.

    \b
    Example:
      AWS_ENDPOINT_URL=http://127.0.0.1:9000 analytics doctor --lake s3://bucket/lake
    """
    from analytics_framework.doctor import Check, run_checks

    try:
        settings = _settings(lake_uri=lake, llm_provider=provider, mongodb_uri=mongodb_uri)
        checks = run_checks(settings)
    except AnalyticsError as exc:
        checks = [Check("settings", False, exc.message, fix=exc.fix or "")]
    render.doctor(out, checks)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


SourceNameOpt = Annotated[
    str, typer.Option("--source", metavar="NAME", help="The pipeline's source.")
]


@state_app.command("show")
def state_show(
    source: SourceNameOpt = "twcs",
    state_file: StateFileOpt = None,
    lake: LakeOpt = None,
    use_s3_state: ReadS3StateOpt = None,
) -> None:
    r"""Print a pipeline's state document as JSON.

    \b
    Example:
      analytics state show --source files
    """

    def go() -> None:
        settings = _settings(lake_uri=lake, use_s3_state=use_s3_state)
        store = _store(settings, source, state_file, check_lake=False)
        if not store.exists():
            err.print(
                f"no state yet at {store.path}: nothing has been collected for {source} into "
                f"{lake_id(settings.lake_uri)}",
                highlight=False,
            )
            return
        sys.stdout.write(json.dumps(store.load(), indent=2) + "\n")

    _guard(go)


@state_app.command("reset")
def state_reset(
    source: SourceNameOpt = "twcs",
    state_file: StateFileOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: delete the state.")] = False,
    lake: LakeOpt = None,
    use_s3_state: Annotated[
        bool | None,
        typer.Option("--use-s3-state", help="The state to delete is on S3 beside the lake."),
    ] = None,
) -> None:
    r"""Delete a pipeline's state, so the next collect starts from scratch (the lake is kept).

    \b
    Example:
      analytics state reset --source twcs --yes
    """

    def go() -> None:
        settings = _settings(lake_uri=lake, use_s3_state=use_s3_state)
        store = _store(settings, source, state_file, check_lake=False)
        if not yes:
            raise ConfigurationError(f"state reset deletes {store.path}", "add --yes to confirm")
        removed = store.reset()
        err.print(
            f"state {'deleted' if removed else 'was already absent'}: {store.path}",
            highlight=False,
        )

    _guard(go)


def main() -> None:
    """Run the app (the console script goes through :func:`analytics_cli.entry.main`)."""
    app()
