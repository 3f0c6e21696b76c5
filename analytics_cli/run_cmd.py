"""``analytics run``: the main job — collect, label, and the overview report, in one command."""

from __future__ import annotations

from typing import Annotated

import typer

from analytics_cli.collect_cmd import collect_with_progress, source_options
from analytics_cli.common import parse_days
from analytics_cli.enrich_cmd import check_labeler, enrich_with_progress
from analytics_cli.options import (
    SOURCE_HELP,
    AppIdOpt,
    BatchOpt,
    ByOpt,
    ColumnMapOpt,
    EndOpt,
    ForceReprocessOpt,
    FormatOpt,
    FullRefreshOpt,
    IoWorkersOpt,
    LakeOpt,
    MongoUriOpt,
    NoEnrichOpt,
    NoMongoOpt,
    OrgOpt,
    OutputOpt,
    PageNameOpt,
    PeriodOpt,
    ProviderOpt,
    RpsOpt,
    S3StateOpt,
    StartOpt,
    StateFileOpt,
    TaxonomyOpt,
    TzOpt,
    WaitOpt,
    WorkersOpt,
)
from analytics_cli.report_cmd import show_report


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
    days = parse_days(start_date, end_date)
    options = jobs.CollectOptions(
        source=source,
        path=path,
        start=days[0],
        end=days[1],
        source_options=source_options(column_map, app_id, page_name, io_workers),
        state_file=state_file,
        full_refresh=full_refresh,
        wait_s=wait,
        mongo=mongo,
    )
    if not no_enrich:
        check_labeler(settings)  # a missing key or bad taxonomy fails before any work
    collect_with_progress(options, settings)
    if not no_enrich:
        enrich_with_progress(settings, *days, force=force_reprocess, wait=wait, mongo=mongo)
    show_report(settings, "overview", period, days, org, by, fmt, output, save=mongo)
