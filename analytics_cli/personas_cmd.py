"""``analytics personas``: customers grouped into personas, stored, then reported.

Registered in :mod:`analytics_cli.app`, which wraps it in ``common.guarded`` (one line and an exit
code per error). The build is :mod:`analytics_framework.insights.personas`; the report it prints
is the catalogue's ``personas`` (``analytics report personas`` reads the stored build again).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from analytics_cli.insights_cmd import UseTranslationsOpt
from analytics_cli.options import (
    EndOpt,
    FormatOpt,
    LakeOpt,
    MongoUriOpt,
    NoMongoOpt,
    OrgOpt,
    OutputOpt,
    ProviderOpt,
    StartOpt,
    TzOpt,
    WorkersOpt,
)

KOpt = Annotated[
    str,
    typer.Option(
        "--k",
        metavar="N|auto",
        help="Personas wanted, or auto: the k of 2-8 with the best silhouette score.",
    ),
]
EmbedModelOpt = Annotated[
    str | None,
    typer.Option(
        "--embed-model",
        metavar="MODEL",
        help="Embeddings model (ANALYTICS_GEMINI_EMBED_MODEL / ANALYTICS_OPENAI_EMBED_MODEL)."
        " Default: gemini-embedding-001 or text-embedding-3-small.",
    ),
]
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        metavar="auto|cpu",
        help="auto: K-means on a CUDA GPU where cuML sees one, else the CPU; cpu: always CPU.",
    ),
]


class _Embedder:
    """``(texts) -> unit vectors`` through a provider's embeddings, with its model's name."""

    def __init__(self, labeler: Any, model: str, **task: Any) -> None:
        self.labeler, self.task = labeler, task
        self.model = model

    def __call__(self, texts: list[str]) -> Any:
        from analytics_framework.enrich.tasks import embed_texts

        return embed_texts(self.labeler, texts, model=self.model, **self.task)


def personas(
    k: KOpt = "5",
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    org: OrgOpt = None,
    provider: ProviderOpt = None,
    embed_model: EmbedModelOpt = None,
    workers: WorkersOpt = None,
    device: DeviceOpt = "auto",
    use_translations: UseTranslationsOpt = False,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    lake: LakeOpt = None,
    timezone: TzOpt = None,
    mongodb_uri: MongoUriOpt = None,
    no_mongodb: NoMongoOpt = False,
) -> None:
    """Who the customers are: one vector per customer, K-means into k personas.

    Vectors come from the LLM provider's embeddings when one is set, else offline from
    TF-IDF + SVD of each customer's messages; K-means is seeded, so the same lake gives the
    same personas. Each persona gets a name and a line (the provider's, or its top terms);
    each customer's persona goes to the lake (personas/, replacing the last build) and to
    MongoDB user_analytics. Then prints each persona's size, topics, objections, sentiment,
    conversion and quotes (from the labels: run analytics enrich for those). Example:

    \b
      analytics personas --k auto --start-date 2024-01-01
    """
    from analytics_cli.common import check_format, err, parse_days
    from analytics_cli.report_cmd import show_report
    from analytics_framework.enrich.base import LabelStats
    from analytics_framework.enrich.stage import estimate_cost
    from analytics_framework.enrich.tasks import api_labeler, llm_cache, name_clusters
    from analytics_framework.insights.personas import build, parse_k, store
    from analytics_framework.settings import load_settings
    from analytics_framework.storage.s3 import open_lake
    from analytics_framework.storage.sinks import open_mongo

    wanted = parse_k(k)
    check_format(fmt)  # before the build replaces the stored one
    settings = load_settings(
        lake_uri=lake,
        timezone=timezone,
        llm_provider=provider,
        workers=workers,
        mongodb_uri=mongodb_uri,
    )
    days = parse_days(start_date, end_date)
    target = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    labeler = api_labeler(settings)
    embed = namer = None
    embed_stats, name_stats = LabelStats(), LabelStats()
    named_by = "local"
    cache = None
    if labeler is not None:
        cache = llm_cache(settings)
        model = embed_model or getattr(settings, f"{labeler.name}_embed_model")
        embed = _Embedder(labeler, model, cache=cache, workers=settings.workers, stats=embed_stats)

        def namer(clusters: dict[str, Any]) -> dict[str, Any]:
            named, _ = name_clusters(
                labeler,
                clusters,
                "persona",
                cache=cache,
                workers=settings.workers,
                stats=name_stats,
            )
            return named

        named_by = f"{labeler.name}:{labeler.model}"
    elif embed_model:
        err.print(
            "note: --embed-model is for a provider's embeddings; offline vectors are used",
            highlight=False,
        )
    sink = open_mongo(settings, not no_mongodb)  # unreachable: one line before any work
    where = f"{settings.lake_uri}/personas"
    try:
        result = build(
            target,
            start=days[0],
            end=days[1],
            org=org,
            timezone=settings.timezone,
            k=wanted,
            embed=embed,
            namer=namer,
            named_by=named_by,
            device=device,
            use_translations=use_translations,
        )
        store(target, result)
        if sink is not None:
            sink.write_personas(result.rows)
            where += " and MongoDB user_analytics"
    finally:
        if cache is not None:
            cache.close()
        if sink is not None:
            sink.close()
    chosen = f"k {result.k}"
    if wanted is None:
        tried = ", ".join(f"{c}: {s:.3f}" for c, s in result.scores.items())
        chosen = f"k {result.k} by silhouette ({tried})"
    vectors = result.model
    if labeler is not None:
        prices = settings.llm_prices
        price = prices.get(embed.model) if embed is not None else None
        cost: float | None = None
        name_cost = estimate_cost(name_stats, labeler, prices)
        if price is not None and name_cost is not None:
            cost = embed_stats.input_tokens * price[0] / 1_000_000 + name_cost
        kept = f", {result.unnamed} kept their offline names" if result.unnamed else ""
        vectors = (
            f"{labeler.name} {result.model} (requests {embed_stats.calls}, cached "
            f"{embed_stats.cache_hits}, tokens {embed_stats.input_tokens:,}); names by "
            f"{named_by} (tokens {name_stats.input_tokens + name_stats.output_tokens:,}{kept}); "
            + ("cost unknown" if cost is None else f"cost ${cost:.4f}")
        )
    skipped = f", {result.skipped} without words left out" if result.skipped else ""
    err.print(
        f"{result.rows.height:,} customers in {result.k} personas{skipped}: {chosen}, "
        f"silhouette {result.silhouette:.3f}; vectors {vectors}; K-means on {result.device}; "
        f"{result.seconds:.1f} s; stored in {where}",
        highlight=False,
    )
    show_report(settings, "personas", "daily", days, org, None, fmt, output)
