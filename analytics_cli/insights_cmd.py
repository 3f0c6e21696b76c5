"""Sales-insight commands: ``analytics objections`` and ``analytics scripts``.

Registered in :mod:`analytics_cli.app`, which wraps each in ``common.guarded`` (one line and an exit
code per error). ``objections`` is the catalogue's ``objections`` report under its own name, so
``analytics objections --by setter`` and ``analytics report objections --by setter`` print the
same rows; ``scripts`` clusters setters' messages first (:mod:`analytics_framework.insights`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from analytics_cli.options import (
    EndOpt,
    FormatOpt,
    LakeOpt,
    OrgOpt,
    OutputOpt,
    PeriodOpt,
    ProviderOpt,
    StartOpt,
    TzOpt,
    WorkersOpt,
)

ObjectionsByOpt = Annotated[
    str | None,
    typer.Option(
        "--by",
        metavar="org|setter",
        help="org: one row per period, org and objection; setter: per setter (the assigned "
        "agent, else the human who wrote most).",
    ),
]


def objections(
    period: PeriodOpt = "monthly",
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    org: OrgOpt = None,
    by: ObjectionsByOpt = None,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    lake: LakeOpt = None,
    timezone: TzOpt = None,
) -> None:
    """Why leads say no: per objection class, how often, in whose words, and what came next.

    Each class's count, share and rate, the customer's words (the latest objection_quote),
    and what happened next (resolved, won, top stage). Reads the labels (run analytics
    enrich first). Example:

    \b
      analytics objections --period monthly --by setter --start-date 2024-01-01
    """
    from analytics_cli.common import parse_days
    from analytics_cli.report_cmd import show_report
    from analytics_framework.settings import load_settings

    settings = load_settings(lake_uri=lake, timezone=timezone)
    show_report(
        settings, "objections", period, parse_days(start_date, end_date), org, by, fmt, output
    )


SimilarityOpt = Annotated[
    float | None,
    typer.Option(
        "--similarity",
        metavar="SCORE",
        help="Least rapidfuzz score (0-100) for two normalised messages to be one script "
        "(default 80).",
    ),
]
ScorerOpt = Annotated[
    str,
    typer.Option(
        "--scorer",
        metavar="NAME",
        help="rapidfuzz scorer: token_set_ratio (word order and added words free), "
        "token_sort_ratio or ratio.",
    ),
]
ScriptSortOpt = Annotated[
    str,
    typer.Option(
        "--sort", metavar="uses|reply_rate_pct", help="Rank scripts by use or reply rate."
    ),
]
ScriptLimitOpt = Annotated[int, typer.Option("--limit", metavar="N", help="Scripts shown.")]
UseTranslationsOpt = Annotated[
    bool,
    typer.Option(
        "--use-translations",
        help="Use the English text of translated messages (run analytics translate first).",
    ),
]


def scripts(
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    org: OrgOpt = None,
    similarity: SimilarityOpt = None,
    scorer: ScorerOpt = "token_set_ratio",
    sort: ScriptSortOpt = "uses",
    limit: ScriptLimitOpt = 20,
    provider: ProviderOpt = None,
    workers: WorkersOpt = None,
    use_translations: UseTranslationsOpt = False,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    lake: LakeOpt = None,
    timezone: TzOpt = None,
) -> None:
    """Which scripts setters send: their messages clustered with rapidfuzz, then ranked.

    Normalises the setters' (role agent) messages of the conversations started in the range
    (names, links, numbers become placeholders), groups them into scripts, stores them in the
    lake (scripts/, replacing the last build) and prints each script's uses, setters, reply
    rate within 24 h, median time to the lead's reply and stage conversion. Scripts are named
    by their most distinctive words, or by the LLM provider when one is set (the most used
    200, cached). analytics report scripts reads the stored build again. Example:

    \b
      analytics scripts --start-date 2024-01-01 --sort reply_rate_pct --limit 10
    """
    from analytics_cli.common import check_format, err, parse_days
    from analytics_cli.report_cmd import show_report
    from analytics_framework.enrich.base import LabelStats
    from analytics_framework.enrich.tasks import api_labeler, llm_cache
    from analytics_framework.errors import ConfigurationError
    from analytics_framework.insights.clustering import DEFAULT_SIMILARITY
    from analytics_framework.insights.scripts import build, llm_namer, store
    from analytics_framework.reports.defs.scripts import SORTS
    from analytics_framework.settings import load_settings
    from analytics_framework.storage.s3 import open_lake

    if sort not in SORTS:  # checked before the build replaces the stored one
        raise ConfigurationError(f"unknown --sort {sort!r}", f"use one of: {', '.join(SORTS)}")
    if limit < 1:
        raise ConfigurationError(f"--limit {limit} shows nothing", "give 1 or more, e.g. 20")
    check_format(fmt)
    settings = load_settings(
        lake_uri=lake, timezone=timezone, llm_provider=provider, workers=workers
    )
    days = parse_days(start_date, end_date)
    target = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    labeler = api_labeler(settings)
    namer, named_by, stats, cache = None, "local", LabelStats(), None
    if labeler is not None:
        cache = llm_cache(settings)
        namer = llm_namer(labeler, cache=cache, workers=settings.workers, stats=stats)
        named_by = f"{labeler.name}:{labeler.model}"
    try:
        result = build(
            target,
            start=days[0],
            end=days[1],
            org=org,
            timezone=settings.timezone,
            similarity=DEFAULT_SIMILARITY if similarity is None else similarity,
            scorer=scorer,
            namer=namer,
            named_by=named_by,
            use_translations=use_translations,
        )
    finally:
        if cache is not None:
            cache.close()
    store(target, result)
    naming = "named by their distinctive words"
    if labeler is not None:
        kept = f", {stats.failures} kept their offline names" if stats.failures else ""
        naming = (
            f"named by {named_by} (requests {stats.calls}, cached {stats.cache_hits}, "
            f"tokens {stats.input_tokens + stats.output_tokens:,}{kept})"
        )
    err.print(
        f"{result.messages:,} setter messages in {result.scripts:,} scripts "
        f"({result.seconds:.1f} s), {naming}, stored in {settings.lake_uri}/scripts",
        highlight=False,
    )
    options = {"sort": sort, "limit": limit}
    show_report(settings, "scripts", "daily", days, org, None, fmt, output, options=options)
