"""``analytics enrich``: label what needs labels (:func:`analytics_framework.jobs.enrich_job`).

:func:`enrich_with_progress` is shared with ``collect`` and ``run``, which label after loading.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from analytics_cli import render
from analytics_cli.common import err, out, parse_days
from analytics_cli.options import (
    EndOpt,
    EnrichWaitOpt,
    ExecutorOpt,
    ForceReprocessOpt,
    LakeOpt,
    MaxRetriesOpt,
    MongoUriOpt,
    NoMongoOpt,
    ProviderOpt,
    RayAddressOpt,
    StartOpt,
    TaxonomyOpt,
    WorkersOpt,
)
from analytics_cli.translate_cmd import EnrichUseTranslationsOpt
from analytics_framework.errors import ConfigurationError, ServiceError

if TYPE_CHECKING:  # the framework loads in the commands: --help must not pay for it (issue 14)
    from analytics_framework.enrich.stage import EnrichSummary
    from analytics_framework.settings import Settings


def check_labeler(settings: Settings) -> str:
    """Build the labeler the settings choose, before any work; return its name.

    The labelers and their SDKs are imported here, so only commands that label load them.

    Raises:
        ConfigurationError: the provider needs a key and none is set; a bad taxonomy file.
    """
    from analytics_framework.enrich import make_labeler

    return make_labeler(settings).name


def enrich_with_progress(
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

    labeler_name = check_labeler(settings)
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
    start, end = parse_days(start_date, end_date)
    if executor not in ("local", "ray"):
        raise ConfigurationError(f"unknown --executor {executor!r}", "use local or ray")
    enrich_with_progress(
        settings,
        start,
        end,
        force=force_reprocess,
        wait=wait,
        mongo=not no_mongodb,
        use_translations=use_translations,
        ray=(ray_address, max_retries) if executor == "ray" else None,
    )
