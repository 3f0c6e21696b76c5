"""``analytics collect`` and the collect run shared with ``analytics run``.

A collect runs locally with progress and Ctrl-C handling (:func:`collect_with_progress`), or as
Ray shards (:func:`collect_on_ray`); labeling follows unless ``--no-enrich``
(:func:`analytics_cli.enrich_cmd.enrich_with_progress`). The work is
:func:`analytics_framework.jobs.collect_job`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from analytics_cli import render
from analytics_cli.common import err, out, parse_days
from analytics_cli.enrich_cmd import check_labeler, enrich_with_progress
from analytics_cli.options import (
    SOURCE_HELP,
    AppIdOpt,
    BatchOpt,
    ColumnMapOpt,
    DryRunOpt,
    EndOpt,
    ExecutorOpt,
    ForceOpt,
    ForceReprocessOpt,
    FullRefreshOpt,
    IoWorkersOpt,
    LakeOpt,
    LookbackOpt,
    MaxRetriesOpt,
    MongoUriOpt,
    NoEnrichOpt,
    NoMongoOpt,
    PageNameOpt,
    ProviderOpt,
    RayAddressOpt,
    ResumeOpt,
    RpsOpt,
    S3StateOpt,
    ShardDaysOpt,
    StartOpt,
    StateFileOpt,
    TaxonomyOpt,
    TzOpt,
    WaitOpt,
    WorkersOpt,
)
from analytics_cli.signals import graceful_stop
from analytics_framework.errors import ConfigurationError, RunStoppedError, ServiceError

if TYPE_CHECKING:  # the framework loads in the commands: --help must not pay for it (issue 14)
    from analytics_framework import jobs
    from analytics_framework.pipeline import RunSummary
    from analytics_framework.settings import Settings


def source_options(
    column_map: list[str] | None, app_id: str | None, page_name: str | None, io_workers: int | None
) -> dict[str, Any]:
    """Return the source's own options, by name (a source refuses those it does not take)."""
    return {
        "column_map": column_map,
        "app_id": app_id,
        "page_name": page_name,
        "io_workers": io_workers,
    }


def collect_with_progress(options: jobs.CollectOptions, settings: Settings) -> RunSummary:
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


def collect_on_ray(
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
    start, end = parse_days(start_date, end_date)
    options = jobs.CollectOptions(
        source=source,
        path=path,
        start=start,
        end=end,
        source_options=source_options(column_map, app_id, page_name, io_workers),
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
    if label:
        check_labeler(settings)  # a missing key or bad taxonomy fails before any work
    ray = (ray_address, max_retries) if executor == "ray" else None
    if ray:
        collect_on_ray(options, settings, ray_address, shard_days, max_retries)
    else:
        collect_with_progress(options, settings)
    if label:
        enrich_with_progress(
            settings, start, end, force=force_reprocess, wait=wait, mongo=not no_mongodb, ray=ray
        )
