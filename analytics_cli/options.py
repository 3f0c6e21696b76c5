"""The options the commands share, declared once: flag, metavar, help and default text.

Options whose default comes from the settings (``.env``, ``ANALYTICS_*``) default to None here,
so that "not given" lets the settings decide; their help ends in the same ``[default: …]`` that
click prints for the others, so defaults read one way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from analytics_framework.catalog import PROVIDERS, SOURCE_DESCRIPTIONS

SOURCE_HELP = "Source: " + ", ".join(f"{n} ({d})" for n, d in SOURCE_DESCRIPTIONS.items()) + "."


def default_text(text: str) -> str:
    """Return the ``[default: …]`` suffix of an option whose default comes from the settings."""
    return f"  [default: {text}]"


LakeOpt = Annotated[
    str | None,
    typer.Option(
        "--lake",
        metavar="PATH|S3URI",
        help="Lake folder or s3://bucket/prefix (ANALYTICS_LAKE_URI)." + default_text("./lake"),
    ),
]
TzOpt = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        metavar="ZONE",
        help="IANA zone in which days and periods are cut (ANALYTICS_TIMEZONE)."
        + default_text("UTC"),
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
        "(ANALYTICS_BATCH_SIZE)." + default_text("1000"),
    ),
]
ColumnMapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--column-map",
        metavar="CANONICAL=YOURS",
        help="--source files / nocodb: read column YOURS as CANONICAL; repeatable.",
    ),
]
AppIdOpt = Annotated[
    str | None,
    typer.Option(
        "--app-id",
        metavar="ID",
        help="--source nocodb: only this app's conversations (column app_id, filtered on the "
        "server).",
    ),
]
PageNameOpt = Annotated[
    str | None,
    typer.Option(
        "--page-name",
        metavar="NAME",
        help="--source messenger: the page's own name, whose messages are the agent's."
        + default_text("the participant common to every thread"),
    ),
]
IoWorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--io-workers",
        metavar="N",
        min=1,
        max=64,
        help="API sources: threads fetching pages (ANALYTICS_IO_WORKERS)." + default_text("4"),
    ),
]
RpsOpt = Annotated[
    float | None,
    typer.Option(
        "--rps",
        metavar="N",
        min=0,
        help="API sources: most requests per second to the server, 0 for no limit "
        "(ANALYTICS_RPS)." + default_text("10"),
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
        + default_text("state/<lake>/<source>.json"),
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
        "(ANALYTICS_LOOKBACK)." + default_text("1h"),
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Say what would be read and written; change nothing.")
]


def wait_opt(what: str) -> Any:
    """Return the ``--wait SECONDS`` option, waiting for ``what``."""
    return Annotated[
        float,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            help=f"Wait up to SECONDS for {what} to finish instead of exiting 75."
            + default_text("0: do not wait"),
            show_default=False,
        ),
    ]


WaitOpt = wait_opt("a running collect of the same pipeline (and labeling of the lake)")
EnrichWaitOpt = wait_opt("a labeling run on the same lake")
NoEnrichOpt = Annotated[
    bool, typer.Option("--no-enrich", help="Do not label conversations after loading.")
]
ProviderOpt = Annotated[
    str | None,
    typer.Option(
        "--provider",
        metavar="NAME",
        help="Labeler: "
        + ", ".join(PROVIDERS)
        + " (ANALYTICS_LLM_PROVIDER)."
        + default_text(
            "gemini if GEMINI_API_KEY is set, else openai if OPENAI_API_KEY is, else local"
        ),
    ),
]
TaxonomyOpt = Annotated[
    Path | None,
    typer.Option("--taxonomy", metavar="FILE", help="TOML taxonomy replacing the default."),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        metavar="N",
        help="Threads a stage runs at once: LLM requests while labeling, partitions written "
        "while collecting (ANALYTICS_WORKERS)." + default_text("4"),
    ),
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
        help="MongoDB to write documents to (MONGODB_URI)." + default_text("unset: MongoDB off"),
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
SourceNameOpt = Annotated[
    str, typer.Option("--source", metavar="NAME", help="The pipeline's source.")
]

# ---- a report's own options (each report takes some; the others are refused in one line) ----
CompareOpt = Annotated[
    str | None,
    typer.Option(
        "--compare",
        metavar="previous",
        help="overview: add each metric's previous-period value and its change.",
    ),
]
LimitOpt = Annotated[
    int | None,
    typer.Option("--limit", metavar="N", min=1, help="agents, leaderboard: rows shown."),
]
SortOpt = Annotated[
    str | None,
    typer.Option("--sort", metavar="COLUMN", help="agents, leaderboard: the column ranked by."),
]
PowerThresholdOpt = Annotated[
    int | None,
    typer.Option(
        "--power-threshold",
        metavar="N",
        min=1,
        help="retention: conversations in the range that make a power user." + default_text("10"),
    ),
]
BusinessHoursOpt = Annotated[
    str | None,
    typer.Option(
        "--business-hours",
        metavar="SPEC",
        help='overview, agents: add business-time FRT and response time, e.g. "Mon-Fri '
        '09:00-17:00" (in --timezone).',
    ),
]
HolidaysOpt = Annotated[
    Path | None,
    typer.Option(
        "--holidays",
        metavar="FILE",
        help="with --business-hours: a file of YYYY-MM-DD days that count as closed.",
    ),
]
ExecutorOpt = Annotated[
    str,
    typer.Option(
        "--executor",
        metavar="NAME",
        help="Where the stage runs: local (this process) or ray (tasks on a Ray cluster, "
        "against --lake s3://…; 'uv sync --extra ray'; docs/scale-out.md).",
    ),
]
RayAddressOpt = Annotated[
    str,
    typer.Option(
        "--ray-address",
        metavar="ADDR",
        help="The Ray cluster: auto (the one 'ray start' joined this machine to), host:6379 "
        "or ray://host:10001.",
    ),
]
ShardDaysOpt = Annotated[
    int,
    typer.Option("--shard-days", metavar="N", min=1, help="Days per shard with --executor ray."),
]
MaxRetriesOpt = Annotated[
    int,
    typer.Option(
        "--max-retries",
        metavar="N",
        min=0,
        help="Times Ray retries a shard whose worker died or hit a transient error.",
    ),
]
