"""The ``analytics`` command line: parses options, calls the framework's jobs, renders with rich.

No business logic lives here: :mod:`analytics_framework.jobs` opens sources, lakes, state stores,
sinks and locks. This is the one place that turns errors into words: :func:`guarded` makes an
:class:`~analytics_framework.errors.AnalyticsError` one line on stderr naming the fix, with its
exit code (2 usage, 1 failure, 75 locked, 130 stopped); anything else is a bug, shown as one
line too (``ANALYTICS_DEBUG=1`` shows its traceback).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console

from analytics_cli import render, report_view
from analytics_cli.conversations_cmd import conversations_app
from analytics_cli.digest_cmd import digest
from analytics_cli.insights_cmd import objections, scripts
from analytics_cli.options import (
    SOURCE_HELP,
    AppIdOpt,
    BatchOpt,
    BusinessHoursOpt,
    ByOpt,
    ColumnMapOpt,
    CompareOpt,
    DryRunOpt,
    EndOpt,
    EnrichWaitOpt,
    ExecutorOpt,
    ForceOpt,
    ForceReprocessOpt,
    FormatOpt,
    FullRefreshOpt,
    HolidaysOpt,
    IoWorkersOpt,
    LakeOpt,
    LimitOpt,
    LookbackOpt,
    MaxRetriesOpt,
    MongoUriOpt,
    NoEnrichOpt,
    NoMongoOpt,
    OrgOpt,
    OutputOpt,
    PageNameOpt,
    PeriodOpt,
    PowerThresholdOpt,
    ProviderOpt,
    RayAddressOpt,
    ReadS3StateOpt,
    ResumeOpt,
    RpsOpt,
    S3StateOpt,
    ShardDaysOpt,
    SortOpt,
    SourceNameOpt,
    StartOpt,
    StateFileOpt,
    TaxonomyOpt,
    TzOpt,
    WaitOpt,
    WorkersOpt,
    default_text,
)
from analytics_cli.personas_cmd import personas
from analytics_cli.signals import ABORT_NOTICE, graceful_stop
from analytics_cli.translate_cmd import EnrichUseTranslationsOpt, translate
from analytics_framework.dates import check_range, parse_day
from analytics_framework.errors import (
    AnalyticsError,
    ConfigurationError,
    LakeError,
    RunStoppedError,
    ServiceError,
)
from analytics_framework.reports import REPORTS

if TYPE_CHECKING:  # the framework loads in the commands: --help must not pay for it (issue 14)
    from analytics_framework import jobs
    from analytics_framework.enrich.stage import EnrichSummary
    from analytics_framework.pipeline import RunSummary
    from analytics_framework.reports import ReportResult
    from analytics_framework.settings import Settings

app = typer.Typer(
    name="analytics",
    help="Conversation Analytics: collect conversations into a Parquet lake and report on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: no Python types beside flags, brackets are text
)
state_app = typer.Typer(
    help="Inspect or reset a pipeline's processing state.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(state_app, name="state")
app.add_typer(conversations_app, name="conversations")
out = Console()
err = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("table", "json", "csv")


def guarded(fn: F) -> F:
    """Run a command; turn framework errors into one line on stderr and their exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AnalyticsError as exc:
            err.print(f"[bold red]error:[/] {exc.one_line()}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print(f"aborted; {ABORT_NOTICE}", highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None
        except Exception as exc:  # a bug: one line, the traceback on request
            if os.environ.get("ANALYTICS_DEBUG"):
                raise
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            err.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {first} — this is a bug; "
                "re-run with ANALYTICS_DEBUG=1 to see the traceback, and report it",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version as package_version

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


def _days(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    return parse_day(start, "--start-date"), parse_day(end, "--end-date")


def _source_options(
    column_map: list[str] | None, app_id: str | None, page_name: str | None, io_workers: int | None
) -> dict[str, Any]:
    """Return the source's own options, by name (a source refuses those it does not take)."""
    return {
        "column_map": column_map,
        "app_id": app_id,
        "page_name": page_name,
        "io_workers": io_workers,
    }


def _collect(options: jobs.CollectOptions, settings: Settings) -> RunSummary:
    """Run (or dry-run) a collect with progress, the summary, and Ctrl-C handling."""
    from analytics_framework import jobs

    if options.dry_run:
        summary = jobs.collect_job(options, settings)
        render.dry_run(out, summary)
        return summary
    with graceful_stop(err) as stop:  # until the last word, so a second Ctrl-C always aborts
        with render.batch_progress(err, options.source) as on_batch:
            summary = jobs.collect_job(
                options,
                settings,
                on_batch=on_batch,
                stop=stop,
                command=" ".join(["analytics", *sys.argv[1:]]),
            )
        render.run_summary(out, summary)
        if summary.stopped:
            raise RunStoppedError(
                f"stopped after batch {summary.resumed_after + summary.batches + 1:,} with "
                f"every batch so far committed (load {summary.load_id})",
                f"continue with: {jobs.resume_command(options, settings)}",
            )
    return summary


def _collect_sharded(
    options: jobs.CollectOptions,
    settings: Settings,
    address: str,
    shard_days: int,
    max_retries: int,
) -> None:
    """Run a backfill as Ray shards, a line per shard, then the totals; exit 1 if one failed."""
    from analytics_framework.distributed.collect import check_options, run_sharded_collect

    check_options(options, settings)
    if options.dry_run:
        raise ConfigurationError(
            "--dry-run plans a local collect", "drop --executor ray to see the plan"
        )

    def line(o: Any) -> None:
        where = f" on {o.node}" if o.node else ""
        if o.status == "failed":
            err.print(f"shard {o.start}..{o.end} failed: {o.error}", markup=False, soft_wrap=True)
        else:
            err.print(
                f"shard {o.start}..{o.end}: {o.conversations:,} conversations, "
                f"{o.messages:,} messages in {o.seconds:.1f} s{where}",
                markup=False,
                soft_wrap=True,
            )

    summary = run_sharded_collect(
        options,
        settings,
        address=address,
        shard_days=shard_days,
        max_retries=max_retries,
        on_shard=line,
        command=" ".join(["analytics", *sys.argv[1:]]),
    )
    out.print(
        f"{summary.count('done')} shards collected, {summary.count('skipped')} already done, "
        f"{len(summary.failed)} failed: {summary.conversations:,} conversations and "
        f"{summary.messages:,} messages into {summary.lake} in {summary.seconds:.1f} s "
        f"({summary.quarantined:,} records quarantined)",
        markup=False,
        soft_wrap=True,
    )
    if summary.failed:
        first = summary.failed[0]
        raise ServiceError(
            f"{len(summary.failed)} of {len(summary.outcomes)} shards failed; the first, "
            f"{first.start}..{first.end}: {first.error}",
            "fix it and re-run the same command: the shards already done are skipped",
        )


def _enrich(
    settings: Settings,
    start: date | None,
    end: date | None,
    *,
    force: bool,
    wait: float,
    mongo: bool,
    use_translations: bool = False,
    ray: tuple[str, int] | None = None,
) -> EnrichSummary | None:
    """Label what needs labels, with progress, and print the summary.

    With ``ray`` (the cluster's address and the retries), day partitions are labeled as Ray
    tasks instead, a line each; exit 1 if one failed for good.
    """
    from analytics_framework import jobs
    from analytics_framework.enrich import make_labeler

    if ray is not None:
        from analytics_framework.distributed.enrich import run_sharded_enrich

        sharded = run_sharded_enrich(
            settings,
            start,
            end,
            address=ray[0],
            max_retries=ray[1],
            force=force,
            wait_s=wait,
            mongo=mongo,
            use_translations=use_translations,
            on_partition=lambda part, n: err.print(
                f"day {part} labeled: {n:,} conversations", markup=False, soft_wrap=True
            ),
        )
        if sharded.partitions or not sharded.failed:
            render.enrich_summary(out, sharded)
        if sharded.failed:
            part, why = next(iter(sharded.failed.items()))
            raise ServiceError(
                f"{len(sharded.failed)} day partitions failed to label; the first, {part}: {why}",
                "fix it and re-run: the days already labeled are skipped",
            )
        return None

    labeler_name = make_labeler(settings).name
    with render.enrich_progress(err, labeler_name) as on_partition:
        summary = jobs.enrich_job(
            settings,
            start,
            end,
            force=force,
            wait_s=wait,
            mongo=mongo,
            on_partition=on_partition,
            use_translations=use_translations,
        )
    render.enrich_summary(out, summary)
    return summary


def check_format(fmt: str) -> None:
    """Refuse an unknown ``--format`` (before a command that builds something starts).

    Raises:
        ConfigurationError: not one of :data:`FORMATS`.
    """
    if fmt not in FORMATS:
        raise ConfigurationError(f"unknown --format {fmt!r}", f"use one of: {', '.join(FORMATS)}")


def _report(
    settings: Settings,
    name: str,
    period: str,
    days: tuple[date | None, date | None],
    org: str | None,
    by: str | None,
    fmt: str,
    output: Path | None,
    save: bool = False,
    options: dict[str, Any] | None = None,
) -> ReportResult:
    """Compute a report, print or write it, then store it in MongoDB when ``save`` is set."""
    from analytics_framework import jobs

    check_format(fmt)
    result = jobs.report_job(
        settings,
        name,
        period=period,
        start=days[0],
        end=days[1],
        org=org,
        by=by,
        options={k: v for k, v in (options or {}).items() if v is not None},
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
        report_view.report_table(out, result)
    elif output is None and text:
        sys.stdout.write(text())
    if save:
        for where in jobs.save_report(settings, result):
            err.print(f"report saved to {where}", highlight=False)
    return result


@app.command()
@guarded
def collect(
    path: Annotated[str | None, typer.Argument(metavar="PATH", hidden=True)] = None,
    source: Annotated[str, typer.Option("--source", metavar="NAME", help=SOURCE_HELP)] = "twcs",
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    batch_size: BatchOpt = None,
    lake: LakeOpt = None,
    timezone: TzOpt = None,
    column_map: ColumnMapOpt = None,
    app_id: AppIdOpt = None,
    page_name: PageNameOpt = None,
    io_workers: IoWorkersOpt = None,
    rps: RpsOpt = None,
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
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = "auto",
    shard_days: ShardDaysOpt = 7,
    max_retries: MaxRetriesOpt = 3,
) -> None:
    """Extract, transform and load conversations into the lake.

    Incremental by default: without dates, reads what is new since the last run (the
    watermark minus --lookback; unchanged files are skipped). With --start-date/--end-date,
    backfills that range, skipping days already collected unless --force. Exit 75 if another
    collect of the pipeline runs.

    \b
    Arguments:
      PATH  input file, folder or glob (twcs without PATH: the bundled sample)

    With --executor ray, a backfill runs as day-range shards on a Ray cluster (an S3 lake,
    state on S3); re-running the same command skips the shards already done.

    \b
    Example:
      analytics collect --source files ./exports/ --start-date 2024-01-01
      analytics collect --source files /shared/export.jsonl --lake s3://b/lake \\
        --start-date 2024-01-01 --end-date 2025-01-01 --executor ray --shard-days 7
    """
    from analytics_framework import jobs
    from analytics_framework.settings import load_settings

    settings = load_settings(
        lake_uri=lake,
        batch_size=batch_size,
        timezone=timezone,
        lookback=lookback,
        llm_provider=provider,
        taxonomy_file=str(taxonomy) if taxonomy else None,
        workers=workers,
        mongodb_uri=mongodb_uri,
        use_s3_state=use_s3_state,
        rps=rps,
    )
    start, end = _days(start_date, end_date)
    options = jobs.CollectOptions(
        source=source,
        path=path,
        start=start,
        end=end,
        source_options=_source_options(column_map, app_id, page_name, io_workers),
        state_file=state_file,
        full_refresh=full_refresh,
        resume=resume,
        force=force,
        dry_run=dry_run,
        wait_s=wait,
        mongo=not no_mongodb,
    )
    label = not (dry_run or no_enrich)
    if executor not in ("local", "ray"):
        raise ConfigurationError(f"unknown --executor {executor!r}", "use local or ray")
    if label:  # the labelers (and their SDKs) load only when labeling follows
        from analytics_framework.enrich import make_labeler

        make_labeler(settings)  # a missing key or bad taxonomy fails before any work
    ray = (ray_address, max_retries) if executor == "ray" else None
    if ray:
        _collect_sharded(options, settings, ray_address, shard_days, max_retries)
    else:
        _collect(options, settings)
    if label:
        _enrich(
            settings, start, end, force=force_reprocess, wait=wait, mongo=not no_mongodb, ray=ray
        )


@app.command()
@guarded
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
        typer.Option(
            "--save",
            help="Also store the report: <lake>/reports/<name>/<period>/ and MongoDB "
            "analytics_reports (when configured), replacing the same report and filters.",
        ),
    ] = False,
    mongodb_uri: MongoUriOpt = None,
    compare: CompareOpt = None,
    limit: LimitOpt = None,
    sort: SortOpt = None,
    power_threshold: PowerThresholdOpt = None,
    business_hours: BusinessHoursOpt = None,
    holidays: HolidaysOpt = None,
) -> None:
    """Compute a report over the lake with DuckDB.

    Reading a report writes nothing; --save stores it in the lake (reports/<name>/<period>/)
    and in MongoDB when MONGODB_URI or --mongodb-uri is set, replacing the same report,
    period and filters.

    \b
    Arguments:
      NAME  the report (default: overview), one of:
    REPORT_LIST
    """
    from analytics_framework.settings import load_settings

    settings = load_settings(lake_uri=lake, timezone=timezone, mongodb_uri=mongodb_uri)
    options = {
        "compare": compare,
        "limit": limit,
        "sort": sort,
        "power_threshold": power_threshold,
        "business_hours": business_hours,
        "holidays": str(holidays) if holidays else None,
    }
    _report(
        settings, name, period, _days(start_date, end_date), org, by, fmt, output, save, options
    )


def _report_list() -> str:
    """Each report with its description and example, for ``report --help``."""
    lines = []
    for spec in REPORTS.values():
        lines.append(f"      {spec.name}: {spec.description}")
        if spec.example:
            lines.append(f"        e.g. {spec.example}")
    return "\n".join(lines)


report.__doc__ = (report.__doc__ or "").replace("    REPORT_LIST", _report_list())


@app.command()
@guarded
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
    app_id: AppIdOpt = None,
    page_name: PageNameOpt = None,
    io_workers: IoWorkersOpt = None,
    rps: RpsOpt = None,
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
    """Collect, label, then report (default input: the bundled sample).

    \b
    Arguments:
      PATH  input file, folder or glob (twcs without PATH: the bundled sample)

    \b
    Example:
      analytics run            (real Twitter support threads, no settings needed)
    """
    from analytics_framework import jobs
    from analytics_framework.settings import load_settings

    settings = load_settings(
        lake_uri=lake,
        batch_size=batch_size,
        timezone=timezone,
        llm_provider=provider,
        taxonomy_file=str(taxonomy) if taxonomy else None,
        workers=workers,
        mongodb_uri=mongodb_uri,
        use_s3_state=use_s3_state,
        rps=rps,
    )
    mongo = not no_mongodb
    days = _days(start_date, end_date)
    options = jobs.CollectOptions(
        source=source,
        path=path,
        start=days[0],
        end=days[1],
        source_options=_source_options(column_map, app_id, page_name, io_workers),
        state_file=state_file,
        full_refresh=full_refresh,
        wait_s=wait,
        mongo=mongo,
    )
    if not no_enrich:
        from analytics_framework.enrich import make_labeler

        make_labeler(settings)  # a missing key or bad taxonomy fails before any work
    _collect(options, settings)
    if not no_enrich:
        _enrich(settings, *days, force=force_reprocess, wait=wait, mongo=mongo)
    _report(settings, "overview", period, days, org, by, fmt, output, save=mongo)


@app.command("enrich")
@guarded
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
    use_translations: EnrichUseTranslationsOpt = False,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = "auto",
    max_retries: MaxRetriesOpt = 3,
) -> None:
    """Label the lake's conversations that have no current label.

    Failed labels are retried; --force-reprocess labels everything again; --use-translations
    labels the English text of translated messages (analytics translate). With --executor ray,
    day partitions are labeled as tasks on a Ray cluster under one shared rate limit, with the
    label cache in the lake.

    \b
    Example:
      analytics enrich --provider gemini --workers 8 --start-date 2024-01-01
      analytics enrich --lake s3://b/lake --executor ray --ray-address auto
    """
    from analytics_framework.settings import load_settings

    settings = load_settings(
        lake_uri=lake,
        llm_provider=provider,
        taxonomy_file=str(taxonomy) if taxonomy else None,
        workers=workers,
        mongodb_uri=mongodb_uri,
    )
    start, end = _days(start_date, end_date)
    if executor not in ("local", "ray"):
        raise ConfigurationError(f"unknown --executor {executor!r}", "use local or ray")
    _enrich(
        settings,
        start,
        end,
        force=force_reprocess,
        wait=wait,
        mongo=not no_mongodb,
        use_translations=use_translations,
        ray=(ray_address, max_retries) if executor == "ray" else None,
    )


@app.command()
@guarded
def status(
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            metavar="NAME",
            help="Only this pipeline." + default_text("every pipeline of the lake"),
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
            + default_text("31"),
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="table or json.")
    ] = "table",
    lake: LakeOpt = None,
    state_file: StateFileOpt = None,
    use_s3_state: ReadS3StateOpt = None,
) -> None:
    """Show where each pipeline stands: runs, lock, watermark, coverage.

    The pipelines of one lake (--lake); the grid shows the days its data covers.

    \b
    Example:
      analytics status --start-date 2017-10-01 --end-date 2017-11-01 --format json
    """
    from analytics_framework.settings import load_settings
    from analytics_framework.status import pipeline_status, s3_state_pipelines, state_files
    from analytics_framework.storage.s3 import open_lake
    from analytics_framework.storage.state_store import (
        S3StateStore,
        StateStore,
        lake_folder,
        lake_id,
        open_store,
    )

    if fmt not in ("table", "json"):
        raise ConfigurationError(f"unknown --format {fmt!r}", "use table or json")
    settings = load_settings(lake_uri=lake, use_s3_state=use_s3_state)
    start, end = _days(start_date, end_date)
    check_range(start, end)
    lake_ = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    ident = lake_id(settings.lake_uri)
    folder = lake_folder(settings.state_dir, settings.lake_uri)
    stores: list[StateStore | S3StateStore]
    if state_file is not None and source is None:
        stores = [StateStore(state_file, state_file.stem, ident)]
    elif state_file is not None or source is not None:
        stores = [open_store(settings, source or "twcs", state_file)]
    elif settings.use_s3_state:
        stores = [open_store(settings, name, None) for name in s3_state_pipelines(lake_)]
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
    found = [pipeline_status(s, lake_, start, end, days=days) for s in stores]
    if fmt == "json":
        sys.stdout.write(json.dumps({"pipelines": found}, indent=2, default=str) + "\n")
    else:
        for one in found:
            render.status(out, one)


@app.command()
@guarded
def export(
    fmt: Annotated[
        str,
        typer.Option("--format", metavar="FORMAT", help="html, zip, png, svg or framer-csv."),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output", metavar="PATH|S3URI", help="The folder (or s3://bucket/prefix) to write to."
        ),
    ] = "exports",
    period: PeriodOpt = "weekly",
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    org: OrgOpt = None,
    by: ByOpt = None,
    compare: CompareOpt = None,
    dpi: Annotated[
        int,
        typer.Option(
            "--dpi", metavar="N", min=20, max=600, help="Chart resolution (1600x900 at 100)."
        ),
    ] = 100,
    lake: LakeOpt = None,
    timezone: TzOpt = None,
) -> None:
    """Write the reports as charts, an HTML report, a ZIP bundle or a Framer CMS CSV.

    Each report is computed once and drawn by the format; a report with no rows (or whose lake
    lacks what it needs) is skipped with a note. Cron can drop bundles next to the lake with an
    s3:// --output.

    \b
    Example:
      analytics export --format zip --period daily --start-date 2024-01-01 --output s3://b/exports
    """
    from analytics_framework import jobs
    from analytics_framework.settings import load_settings

    settings = load_settings(lake_uri=lake, timezone=timezone)
    start, end = _days(start_date, end_date)
    outcome = jobs.export_job(
        settings,
        fmt,
        output,
        period=period,
        start=start,
        end=end,
        org=org,
        by=by,
        compare=compare,
        dpi=dpi,
    )
    for note in outcome.notes:
        err.print(f"[yellow]{note}[/]", highlight=False, soft_wrap=True)
    for path in outcome.written:
        out.print(path, highlight=False, soft_wrap=True)
    err.print(f"{len(outcome.written):,} file(s) written to {output}", highlight=False)


@app.command()
def doctor(
    lake: LakeOpt = None,
    provider: ProviderOpt = None,
    mongodb_uri: MongoUriOpt = None,
) -> None:
    """Check the settings, credentials and every configured service.

    Exits 1 if any check fails; each failure comes with its fix.

    \b
    Example:
      AWS_ENDPOINT_URL=http://127.0.0.1:9000 analytics doctor --lake s3://bucket/lake
    """
    from analytics_framework.doctor import Check, run_checks
    from analytics_framework.settings import load_settings

    try:
        settings = load_settings(lake_uri=lake, llm_provider=provider, mongodb_uri=mongodb_uri)
        checks = run_checks(settings)
    except AnalyticsError as exc:
        checks = [Check("settings", False, exc.message, fix=exc.fix or "")]
    render.doctor(out, checks)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


@state_app.command("show")
@guarded
def state_show(
    source: SourceNameOpt = "twcs",
    state_file: StateFileOpt = None,
    lake: LakeOpt = None,
    use_s3_state: ReadS3StateOpt = None,
) -> None:
    """Print a pipeline's state document as JSON.

    \b
    Example:
      analytics state show --source files
    """
    from analytics_framework.settings import load_settings
    from analytics_framework.storage.state_store import lake_id, open_store

    settings = load_settings(lake_uri=lake, use_s3_state=use_s3_state)
    store = open_store(settings, source, state_file, check_lake=False)
    if not store.exists():
        err.print(
            f"no state yet at {store.path}: nothing has been collected for {source} into "
            f"{lake_id(settings.lake_uri)}",
            highlight=False,
        )
        return
    sys.stdout.write(json.dumps(store.load(), indent=2) + "\n")


@state_app.command("reset")
@guarded
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
    """Delete a pipeline's state, so the next collect starts from scratch (the lake is kept).

    \b
    Example:
      analytics state reset --source twcs --yes
    """
    from analytics_framework.settings import load_settings
    from analytics_framework.storage.state_store import open_store

    settings = load_settings(lake_uri=lake, use_s3_state=use_s3_state)
    store = open_store(settings, source, state_file, check_lake=False)
    if not yes:
        raise ConfigurationError(f"state reset deletes {store.path}", "add --yes to confirm")
    removed = store.reset()
    err.print(
        f"state {'deleted' if removed else 'was already absent'}: {store.path}",
        highlight=False,
    )
    if settings.use_s3_state:  # the Ray shards' own documents (collect --executor ray)
        from analytics_framework.distributed.shards import delete_shard_states
        from analytics_framework.storage.s3 import open_lake

        lake_ = open_lake(settings.lake_uri, settings.s3_endpoint_url)
        if shards := delete_shard_states(lake_, source):
            err.print(f"and {shards} shard state files of {source}", highlight=False)


app.command()(guarded(digest))
app.command()(guarded(objections))
app.command()(guarded(scripts))
app.command()(guarded(personas))
app.command()(guarded(translate))


def main() -> None:
    """Run the app (the console script goes through :func:`analytics_cli.entry.main`)."""
    app()
