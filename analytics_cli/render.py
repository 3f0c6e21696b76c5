"""Rendering with rich: progress, the run summary and report tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from analytics_framework.pipeline import BatchReport, RunSummary
from analytics_framework.reports import ReportResult


@contextmanager
def batch_progress(console: Console, source: str) -> Iterator[Callable[[BatchReport], None]]:
    """Show a live progress line while batches load; yields the per-batch callback."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=None),
        TextColumn(
            "batch {task.fields[batch]} · {task.completed:,.0f} messages · "
            "{task.fields[conversations]:,} conversations · "
            "{task.fields[quarantined]:,} quarantined"
        ),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task(
        f"collect {source}", total=None, batch=0, conversations=0, quarantined=0
    )
    totals = {"conversations": 0, "quarantined": 0}

    def on_batch(b: BatchReport) -> None:
        totals["conversations"] += b.conversations_written
        totals["quarantined"] += b.quarantined
        progress.update(task, advance=b.messages_read + b.quarantined, batch=b.seq + 1, **totals)

    with progress:
        yield on_batch


def run_summary(console: Console, s: RunSummary) -> None:
    """Print the closing summary of a collect run."""
    table = Table(title=f"collect {s.source}: done in {s.seconds:.2f} s", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("input", s.origin),
        ("lake", s.lake),
        ("batches", f"{s.batches:,}"),
        ("rows read", f"{s.rows_read:,}"),
        ("messages written", f"{s.messages_written:,}"),
        ("conversations written", f"{s.conversations_written:,}"),
        ("quarantined", f"{s.quarantined:,}"),
        ("outside date range", f"{s.out_of_range:,}"),
        ("partitions written", f"{len(s.partitions):,}"),
        ("seconds", f"{s.seconds:.2f}"),
        ("messages/s", f"{s.messages_per_s:,.0f}"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    if s.quarantined:
        where = s.rejected_files[0].rsplit("/", 1)[0]
        console.print(f"[yellow]{s.quarantined:,} malformed record(s) quarantined in {where}[/]")


def duration(seconds: float | None) -> str:
    """Format seconds compactly for people: ``45s``, ``13m 46s``, ``5h 47m``, ``3d 4h``."""
    if seconds is None:
        return "–"
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s < 10 * 86400:
        return f"{s // 86400}d {s % 86400 // 3600:02d}h"
    return f"{s // 86400:,}d"


def _fmt(column: str, value: object) -> str:
    if value is None:
        return "–"
    if column.endswith("_s") and isinstance(value, int | float):
        return duration(float(value))
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


VOLUME = ("conversations", "messages", "customers", "unanswered", "answered")
HEADERS = {
    "conversations": "conversations",
    "frt_mean_s": "FRT avg",
    "frt_median_s": "FRT p50",
    "frt_p90_s": "FRT p90",
    "response_mean_s": "resp avg",
    "response_median_s": "resp p50",
    "response_p90_s": "resp p90",
}


def report_table(console: Console, r: ReportResult) -> None:
    """Print a report as two tables (volume, then speed) that fit an 80-column terminal.

    Durations are shown as ``13m 46s``; JSON and CSV exports keep seconds.
    """
    if not r.rows:
        console.print(f"[yellow]{r.report}: no conversations match the filters[/]")
        return
    keys = [c for c in ("period", "org_id") if c in r.columns]
    rest = [c for c in r.columns if c not in keys and c != "metric_version"]
    groups = [
        ("volume", [c for c in rest if c in VOLUME]),
        ("speed", [c for c in rest if c not in VOLUME]),
    ]
    for label, columns in groups:
        table = Table(
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            collapse_padding=True,
            title=f"{r.report} · {label} · {r.period} · {r.timezone} · "
            f"metric definitions v{r.metric_version}",
        )
        cells = [[_fmt(c, row[c]) for c in keys + columns] for row in r.rows]
        for i, c in enumerate(keys + columns):
            header = HEADERS.get(c, c)
            width = max(len(header), *(len(line[i]) for line in cells))
            table.add_column(
                header, justify="left" if c in keys else "right", no_wrap=True, min_width=width
            )
        for line in cells:
            table.add_row(*line)
        console.print(table)
