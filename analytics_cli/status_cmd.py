"""``analytics status``, ``analytics doctor`` and ``analytics state show|reset``."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from analytics_cli import render
from analytics_cli.common import err, guarded, out, parse_days
from analytics_cli.options import (
    EndOpt,
    LakeOpt,
    MongoUriOpt,
    ProviderOpt,
    ReadS3StateOpt,
    SourceNameOpt,
    StartOpt,
    StateFileOpt,
    default_text,
)
from analytics_framework.dates import check_range
from analytics_framework.errors import AnalyticsError, ConfigurationError

state_app = typer.Typer(
    help="Inspect or reset a pipeline's processing state.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


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
    from analytics_framework.storage.counts import CountCache, cache_path
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
    start, end = parse_days(start_date, end_date)
    check_range(start, end)
    ident = lake_id(settings.lake_uri)
    folder = lake_folder(settings.state_dir, settings.lake_uri)
    stores: list[StateStore | S3StateStore]
    if state_file is not None and source is None:
        stores = [StateStore(state_file, state_file.stem, ident)]
    elif state_file is not None or source is not None:
        stores = [open_store(settings, source or "twcs", state_file)]
    elif settings.use_s3_state:
        from analytics_framework.storage.s3 import open_lake

        lake_ = open_lake(settings.lake_uri, settings.s3_endpoint_url)
        stores = [open_store(settings, name, None) for name in s3_state_pipelines(lake_)]
    else:
        stores = [StateStore(p, p.stem, ident) for p in state_files(str(folder))]
    stores = [s for s in stores if s.exists()]
    if not stores:
        where = f"{settings.lake_uri}/_state/" if settings.use_s3_state else f"{folder}/"
        raise ConfigurationError(
            f"no pipeline state for the lake {ident} in {where}: nothing has been "
            "collected into it yet",
            "run 'analytics collect' first, or pass the --lake (or --state-file) you "
            "collected with",
        )
    from analytics_framework.storage.s3 import open_lake  # pyarrow: only once there is state

    lake_ = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    cache = CountCache(cache_path(folder), lake_.uri)
    found = [pipeline_status(s, lake_, start, end, days=days, cache=cache) for s in stores]
    cache.save()
    if fmt == "json":
        sys.stdout.write(json.dumps({"pipelines": found}, indent=2, default=str) + "\n")
    else:
        for one in found:
            render.status(out, one)


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
