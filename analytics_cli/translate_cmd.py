"""``analytics translate``: detect each message's language, translate non-English conversations.

Registered in :mod:`analytics_cli.app`, which wraps it in ``common.guarded`` (one line and an exit
code per error). The work is :func:`analytics_framework.insights.translations.translate_job`;
this module parses the options and renders the summary (a table, JSON or CSV).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from analytics_cli.options import (
    BatchOpt,
    EndOpt,
    FormatOpt,
    LakeOpt,
    MongoUriOpt,
    NoMongoOpt,
    OrgOpt,
    OutputOpt,
    ProviderOpt,
    StartOpt,
    WorkersOpt,
    default_text,
    wait_opt,
)

if TYPE_CHECKING:
    from analytics_framework.insights.translations import TranslateSummary
    from analytics_framework.storage.lake import Partition

LanguagesOpt = Annotated[
    str | None,
    typer.Option(
        "--languages",
        metavar="CODES|all",
        help="Languages the detector tells apart: ISO 639-1 codes separated by commas, or all "
        "(75: about 1.1 GiB of models, 4x slower)." + default_text("25 common languages"),
    ),
]
LowAccuracyOpt = Annotated[
    bool,
    typer.Option(
        "--low-accuracy",
        help="lingua's low-accuracy mode: about 2.5x faster, models an eighth the size, but single "
        "words and very short messages are often missed or misread.",
    ),
]
TranslateForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Detect and translate every conversation in range again, ignoring the cache and "
        "the translations already made.",
    ),
]
TranslateWaitOpt = wait_opt("a translation run on the same lake")
EnrichUseTranslationsOpt = Annotated[
    bool,
    typer.Option(
        "--use-translations",
        help="Labelers read the English text of translated messages (analytics translate), the "
        "original elsewhere; switching it on or off labels again.",
    ),
]
COLUMNS = (
    "language",
    "name",
    "messages",
    "conversations",
    "translated_messages",
    "translated_conversations",
)


@contextmanager
def _progress(console: Console, provider: str) -> Iterator[Callable[[Partition, int], None]]:
    """Show a live line while day partitions are processed; yields the per-partition callback."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.fields[day]} · {task.completed:,.0f} conversations"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task(f"translate ({provider})", total=None, day="")

    def on_partition(part: Partition, n: int) -> None:
        progress.update(task, advance=n, day=str(part))

    with progress:
        yield on_partition


def _csv(summary: TranslateSummary) -> str:
    """Return the per-language rows as CSV (header first)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in summary.languages:
        writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
    return buf.getvalue()


def _table(console: Console, summary: TranslateSummary) -> None:
    """Print the languages of the range and what this run did."""
    s, st = summary, summary.stats
    what = f"{s.provider}, {s.model}" if s.translating else "offline"
    langs = Table(title=f"translate ({what}): languages in range")
    for name, justify in (
        ("language", "left"),
        ("", "left"),
        ("messages", "right"),
        ("conversations", "right"),
        ("translated conversations", "right"),
    ):
        langs.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in s.languages:
        langs.add_row(
            r["language"] or "–",
            r["name"],
            f"{r['messages']:,}",
            f"{r['conversations']:,}",
            f"{r['translated_conversations']:,}",
        )
    totals = s.totals
    langs.add_row(
        "all",
        "",
        f"{totals['messages']:,}",
        f"{totals['conversations']:,}",
        f"{totals['translated_conversations']:,}",
        style="bold",
    )
    console.print(langs)
    run = Table(title=f"this run: {s.seconds:.2f} s", show_header=False)
    run.add_column(style="bold")
    run.add_column(justify="right")
    cost = "unknown (no price for this model)" if s.cost_usd is None else f"${s.cost_usd:,.4f}"
    rows = [
        ("day partitions written", f"{len(s.partitions):,}"),
        ("messages detected", f"{s.detected_messages:,} in {s.detect_seconds:.2f} s"),
        ("detector", s.detector),
        ("conversations translated", f"{s.translated_conversations:,}"),
        ("messages translated", f"{s.translated_messages:,}"),
        ("conversations failed", f"{len(s.failures):,}"),
    ]
    if s.translating:
        rows += [
            ("calls", f"{st.calls:,}"),
            ("cache hits", f"{st.cache_hits:,}"),
            ("retries", f"{st.retries:,}"),
            ("input tokens", f"{st.input_tokens:,}"),
            ("output tokens", f"{st.output_tokens:,}"),
            ("estimated cost", cost),
        ]
    for k, v in rows:
        run.add_row(k, v)
    console.print(run)


def translate(
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    org: OrgOpt = None,
    provider: ProviderOpt = None,
    workers: WorkersOpt = None,
    batch_size: BatchOpt = None,
    languages: LanguagesOpt = None,
    low_accuracy: LowAccuracyOpt = False,
    force: TranslateForceOpt = False,
    fmt: FormatOpt = "table",
    output: OutputOpt = None,
    lake: LakeOpt = None,
    wait: TranslateWaitOpt = 0.0,
    mongodb_uri: MongoUriOpt = None,
    no_mongodb: NoMongoOpt = False,
) -> None:
    """Detect each message's language and translate non-English conversations into English.

    Languages are detected offline (lingua) and stored in the lake's translations table,
    one row per message, with the conversation's language (that of most of its customer's
    letters). With an LLM provider (gemini, openai) every conversation neither English nor
    undetected is translated whole (batched, cached, retried); offline (local) nothing is
    translated. Conversations already done by the same provider and model are skipped
    unless --force. --start-date/--end-date select day partitions, as enrich does. Then
    analytics enrich --use-translations and analytics scripts --use-translations read the
    English text. Example:

    \b
      analytics translate --provider gemini --start-date 2024-01-01 --format json
    """
    from analytics_cli.common import check_format, err, out, parse_days
    from analytics_framework.errors import LakeError
    from analytics_framework.insights.languages import DetectorConfig, parse_languages
    from analytics_framework.insights.translations import translate_job
    from analytics_framework.settings import load_settings

    check_format(fmt)
    config = DetectorConfig(parse_languages(languages), low_accuracy)
    settings = load_settings(
        lake_uri=lake,
        batch_size=batch_size,
        llm_provider=provider,
        workers=workers,
        mongodb_uri=mongodb_uri,
    )
    start, end = parse_days(start_date, end_date)
    from analytics_framework.enrich import choose_provider

    with _progress(err, choose_provider(settings)) as on_partition:
        summary = translate_job(
            settings,
            start=start,
            end=end,
            org=org,
            force=force,
            config=config,
            wait_s=wait,
            mongo=not no_mongodb,
            on_partition=on_partition,
        )
    text = None
    if fmt == "json":
        text = json.dumps(summary.as_dict(), indent=2, default=str) + "\n"
    elif fmt == "csv" or output is not None:
        text = _csv(summary)
    if output is not None and text is not None:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise LakeError(
                f"cannot write --output {output}: {exc.strerror}", "choose a writable path"
            ) from None
        err.print(f"summary written to {output}", highlight=False)
    if fmt == "table":
        _table(out, summary)
    elif output is None and text is not None:
        sys.stdout.write(text)
    if summary.note:
        (out if fmt == "table" else err).print(summary.note, highlight=False, soft_wrap=True)
    if summary.failures:
        cid, why = next(iter(summary.failures.items()))
        err.print(
            f"[yellow]{len(summary.failures):,} conversation(s) not translated (e.g. {cid}: "
            f"{why}); they are recorded as failed and retried on the next run[/]",
            highlight=False,
            soft_wrap=True,
        )
