"""``analytics conversations``: list, filter and export individual conversations, or show one.

The queries and their definitions live in :mod:`analytics_framework.conversations`; here options
are parsed and results rendered with rich, fitting the console's width: the list's columns are
packed into as many tables as the width needs, the conversation id repeated in each (as report
tables do); a transcript wraps each message's text. Durations show as ``13m 46s`` in tables and
stay seconds in JSON and CSV.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from analytics_cli.common import guarded
from analytics_cli.options import EndOpt, FormatOpt, LakeOpt, OrgOpt, StartOpt, TzOpt
from analytics_cli.render import duration
from analytics_cli.report_view import cell, pack_columns
from analytics_framework.catalog import CONVERSATIONS_PAGE
from analytics_framework.dates import parse_day
from analytics_framework.errors import ConfigurationError, LakeError
from analytics_framework.reports.spec import Column

if TYPE_CHECKING:
    from analytics_framework.conversations import ConversationDetail, ConversationPage

conversations_app = typer.Typer(
    help="List, filter and export individual conversations, or show one's transcript.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
out = Console()
err = Console(stderr=True)

ROLE_STYLES = {"customer": "cyan", "agent": "green", "bot": "magenta", "system": "dim"}


AgentOpt = Annotated[
    str | None,
    typer.Option("--agent", metavar="AGENT", help="Only conversations this human replied in."),
]
TopicOpt = Annotated[
    str | None,
    typer.Option("--topic", metavar="TOPIC", help="Only this current topic label (any case)."),
]
IntentOpt = Annotated[
    str | None,
    typer.Option("--intent", metavar="INTENT", help="Only this current intent label (any case)."),
]
SatisfiedOpt = Annotated[
    bool | None,
    typer.Option(
        "--satisfied/--unsatisfied",
        help="Surveyed CSAT 4-5 / 1-3; with no survey, the labeler's predicted satisfaction "
        "(4-5 / 1-3). The survey wins when both exist.",
        show_default=False,
    ),
]
UnansweredOpt = Annotated[
    bool,
    typer.Option("--unanswered", help="Only conversations where the customer got no human reply."),
]
PageLimitOpt = Annotated[
    int,
    typer.Option("--limit", metavar="N", min=0, help="Conversations shown; 0 for every match."),
]
OffsetOpt = Annotated[
    int,
    typer.Option("--offset", metavar="N", min=0, help="Skip the first N matches (paging)."),
]
PageOutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        metavar="FILE",
        help="Write the page to FILE: JSON with --format json, else CSV.",
    ),
]


def _lake(lake: str | None, timezone: str | None) -> tuple[Any, str]:
    from analytics_framework.settings import load_settings
    from analytics_framework.storage.s3 import open_lake

    settings = load_settings(lake_uri=lake, timezone=timezone)
    return open_lake(settings.lake_uri, settings.s3_endpoint_url), settings.timezone


@conversations_app.command("list")
@guarded
def list_cmd(
    org: OrgOpt = None,
    agent: AgentOpt = None,
    topic: TopicOpt = None,
    intent: IntentOpt = None,
    satisfied: SatisfiedOpt = None,
    unanswered: UnansweredOpt = False,
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    limit: PageLimitOpt = CONVERSATIONS_PAGE,
    offset: OffsetOpt = 0,
    fmt: FormatOpt = "table",
    output: PageOutputOpt = None,
    lake: LakeOpt = None,
    timezone: TzOpt = None,
) -> None:
    """List conversations, newest first, with their metrics and current labels.

    Dates select by conversation start, in --timezone (end excluded); started_at is shown in
    --timezone (ISO 8601 with its offset in JSON and CSV). Ordered by started_at (newest
    first), then conversation_id; the last line says N of M matching conversations, so
    page with --offset. --satisfied/--unsatisfied uses the surveyed CSAT rating when there is
    one, else the predicted satisfaction from the labels (the survey wins).

    \b
    Example:
      analytics conversations list --org AppleSupport --unsatisfied --format csv --output x.csv
    """  # noqa: D301 (click's \b keeps these lines unwrapped)
    from analytics_framework.conversations import ConversationFilter, list_conversations

    if fmt not in ("table", "json", "csv"):
        raise ConfigurationError(f"unknown --format {fmt!r}", "use one of: table, json, csv")
    lake_, zone = _lake(lake, timezone)
    filters = ConversationFilter(
        org=org,
        agent=agent,
        topic=topic,
        intent=intent,
        satisfied=satisfied,
        unanswered=unanswered,
        start=parse_day(start_date, "--start-date"),
        end=parse_day(end_date, "--end-date"),
    )
    page = list_conversations(lake_, filters, limit=limit or None, offset=offset, timezone=zone)
    text = {"json": page.to_json, "csv": page.to_csv}.get(fmt)
    if output is not None:
        _write(output, text() if text else page.to_csv())
        err.print(f"{_count(page)}, written to {escape(str(output))}", highlight=False)
    if fmt == "table":
        _list_table(out, page)
        out.print(_count(page), highlight=False)
    elif output is None and text:
        sys.stdout.write(text())
        err.print(_count(page), highlight=False)


@conversations_app.command("show")
@guarded
def show_cmd(
    conversation_id: Annotated[str, typer.Argument(metavar="ID", hidden=True)],
    fmt: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="table or json.")
    ] = "table",
    lake: LakeOpt = None,
    timezone: TzOpt = None,
) -> None:
    """Show one conversation: its messages in order, then its metrics, labels and stages.

    Times are in --timezone. The id may be given without its source prefix (348 for
    twcs:348) when only one source has it.

    \b
    Arguments:
      ID  the conversation id (see analytics conversations list)

    \b
    Example:
      analytics conversations show twcs:348 --timezone Europe/Berlin
    """  # noqa: D301 (click's \b keeps these lines unwrapped)
    from analytics_framework.conversations import show_conversation

    if fmt not in ("table", "json"):
        raise ConfigurationError(f"unknown --format {fmt!r}", "use table or json")
    lake_, zone = _lake(lake, timezone)
    detail = show_conversation(lake_, conversation_id, timezone=zone)
    if fmt == "json":
        sys.stdout.write(detail.to_json())
    else:
        _show(out, detail)


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise LakeError(
            f"cannot write --output {path}: {exc.strerror}", "choose a writable path"
        ) from None


def _count(page: ConversationPage) -> str:
    """``50 of 1,312 conversations (1–50; next: --offset 50)``: what the page holds of all."""
    shown, total, first = len(page.rows), page.total, page.offset + 1
    text = f"{shown:,} of {total:,} conversations"
    if shown:
        nxt = page.offset + shown
        text += f" ({first:,}" + (f"–{nxt:,}" if shown > 1 else "")
        text += f"; next: --offset {nxt})" if nxt < total else ")"
    elif total:
        text += f" (--offset {page.offset:,} is past the last one)"
    return text


def _cell(column: Column, value: Any) -> str:
    if value is None:
        return "–"
    if column.name == "started_at":
        return str(value)[:19].replace("T", " ")
    if isinstance(value, list):
        more = f" +{len(value) - 2}" if len(value) > 2 else ""
        return ", ".join(value[:2]) + more if value else "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return cell(column.unit, value)


def _list_table(console: Console, page: ConversationPage) -> None:
    """Print the page as tables fitting the console, the conversation id in each."""
    from analytics_framework.conversations import COLUMNS

    if not page.rows:
        console.print("[yellow]no conversations match the filters on this page[/]")
        return
    key, *rest = COLUMNS
    cells = {c.name: [_cell(c, row[c.name]) for row in page.rows] for c in COLUMNS}
    widths = {c.name: max(cell_len(c.label), *map(cell_len, cells[c.name])) for c in COLUMNS}
    labels = {c.name: c for c in COLUMNS}

    def table(names: list[str]) -> Table:
        t = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for name in [key.name, *names]:
            numeric = labels[name].unit in ("count", "seconds", "ratio")
            t.add_column(
                labels[name].label,
                justify="right" if numeric else "left",
                no_wrap=True,
                min_width=widths[name],
            )
        return t

    def fits(names: list[str]) -> bool:
        probe = table(names)
        probe.add_row(*("x" * widths[n] for n in [key.name, *names]))
        wide = console.options.update_width(10**6)
        return console.measure(probe, options=wide).maximum <= console.width

    sections, left_out = pack_columns([c.name for c in rest], fits)
    parts = f" · {len(sections)} tables, {key.label} in each" if len(sections) > 1 else ""
    console.print(f"conversations · started in {page.timezone}{parts}", highlight=False)
    for names in sections:
        t = table(names)
        for r in range(len(page.rows)):
            t.add_row(*(Text(cells[n][r]) for n in [key.name, *names]))
        console.print(t)
    if left_out:
        console.print(
            f"[yellow]{len(left_out)} column(s) left out, too wide for {console.width} columns: "
            f"{', '.join(left_out)}; see every column with --format csv or --format json[/]",
            soft_wrap=True,
        )


def _show(console: Console, d: ConversationDetail) -> None:
    """Print the transcript, then the metrics, the labels and the stage history."""
    s, m = d.summary, d.metrics
    head = f"{d.conversation_id} · {s['org_id'] or '–'} · {s['messages']:,} messages"
    transcript = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        title=f"{head} · times in {d.timezone}",
    )
    transcript.add_column("time", no_wrap=True)
    transcript.add_column("role", no_wrap=True)
    transcript.add_column("sender", overflow="fold", max_width=20)
    transcript.add_column("text", overflow="fold")
    for msg in d.messages:
        role = msg["role"] or "–"
        transcript.add_row(
            _time(msg["sent_at"]),
            Text(role, style=ROLE_STYLES.get(role, "")),
            Text(msg["sender_id"] or "–"),
            Text(msg["text"] or ""),
        )
    console.print(transcript)
    replies = m["response_count"]
    facts = [
        ("started", _time(s["started_at"])),
        ("ended", _time(m["ended_at"])),
        ("duration", duration(m["duration_s"])),
        (
            "messages",
            f"{s['messages']:,} ({m['customer_messages']:,} customer, "
            f"{m['agent_messages']:,} agent, {m['bot_messages']:,} bot)",
        ),
        ("customer", s["customer_id"] or "–"),
        ("agents", ", ".join(s["agents"] or []) or "–"),
        ("first response", duration(s["first_response_s"])),
        ("avg response", f"{duration(s['avg_response_s'])} over {replies or 0:,} replies"),
        ("resolution", duration(s["resolution_s"])),
        ("resolved", _plain(s["resolved"])),
        ("status", s["status"] or "–"),
        ("CSAT (surveyed)", _plain(s["csat_rating"])),
    ]
    if m["assigned_agent_id"] or m["stage"]:
        facts += [("assigned to", m["assigned_agent_id"] or "–"), ("stage", m["stage"] or "–")]
    console.print(_facts("metrics", facts))
    if d.labels is None:
        console.print("no labels yet — label the lake with: analytics enrich", highlight=False)
    else:
        lab = d.labels
        sentiment = "–" if lab["sentiment"] is None else f"{lab['sentiment']:+.2f}"
        console.print(
            _facts(
                "labels",
                [
                    ("topic", lab["topic"] or "–"),
                    ("intent", lab["intent"] or "–"),
                    ("sentiment", f"{sentiment} ({lab['sentiment_label'] or '–'})"),
                    ("predicted satisfaction", _plain(lab["satisfaction"])),
                    ("resolved (labeler)", _plain(lab["resolved"])),
                    ("objection", lab["objection"] or "–"),
                    ("confidence", _plain(lab["confidence"])),
                    ("labeler", " ".join(str(lab[k] or "–") for k in ("provider", "model"))),
                    ("labeled at", _time(lab["labeled_at"])),
                ],
            )
        )
    if d.stage_changes:
        stages = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="stage history")
        for name in ("time", "stage", "from", "by"):
            stages.add_column(name, overflow="fold")
        for c in d.stage_changes:
            stages.add_row(
                _time(c["changed_at"]),
                *(Text(v or "–") for v in (c["stage"], c["previous_stage"], c["changed_by"])),
            )
        console.print(stages)


def _facts(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, box=box.SIMPLE, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for k, v in rows:
        table.add_row(k, Text(v))
    return table


def _plain(value: Any) -> str:
    """Format a value for people: ``–`` for none, ``yes``/``no`` for booleans."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _time(iso: str | None) -> str:
    """``2017-10-31 01:57:03`` from an ISO timestamp (already in the zone asked for)."""
    return "–" if iso is None else iso[:19].replace("T", " ")
