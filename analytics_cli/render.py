"""Rendering with rich: progress, the run summary, report tables and the status grid.

Everything fits the console's width (``Console.width``: the terminal's, or ``COLUMNS``):

- a report's columns are packed into as many table sections as the width needs, the row keys
  (period, org, and for rankings dimension, rank and value) repeated in each, so no column is
  dropped or cut; a column that cannot fit even beside the keys alone is left out and one line
  names it and says how to see it (``--format csv`` / ``--format json``);
- paths in narrow cells are shortened from the left (``…/data/twcs_sample.csv.gz``), so the file
  name always shows (:class:`ShortPath`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from analytics_framework.enrich.stage import EnrichSummary
    from analytics_framework.pipeline import BatchReport, RunSummary
    from analytics_framework.storage.lake import Partition


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


ELLIPSIS = "…"


def shorten_left(path: str, width: int) -> str:
    """Shorten ``path`` from the left to at most ``width`` cells, keeping whole trailing parts.

    ``/home/me/project/analytics_framework/sources/data/twcs_sample.csv.gz`` at 26 cells is
    ``…/data/twcs_sample.csv.gz``; a file name longer than the width keeps its last characters
    (``…ple.csv.gz``). Paths that fit are returned unchanged.
    """
    if cell_len(path) <= width:
        return path
    if width <= 1:
        return ELLIPSIS[:width]
    cut = [i for i, ch in enumerate(path) if ch in "/\\"]
    for i in cut:  # the longest tail of whole parts, from its separator on, that fits
        tail = path[i:]
        if cell_len(tail) + 1 <= width:
            return ELLIPSIS + tail
    tail = path
    while tail and cell_len(tail) + 1 > width:
        tail = tail[1:]
    return ELLIPSIS + tail


class ShortPath:
    """A path (or several, one a line) that shortens itself from the left to fit its cell.

    Use it in table cells instead of a plain string: rich would otherwise cut a long path at its
    end (``…/sources/da…``) and hide the file name. It asks for its full width, accepts as
    little as ``…/<file name>``, and renders each line with :func:`shorten_left` at whatever
    width the table gives it.
    """

    def __init__(self, text: str) -> None:
        """Wrap ``text``: one path, or several separated by newlines."""
        self.lines = text.splitlines() or [""]

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        """Widest line at most; at least ``…/`` + the longest file name."""
        longest = max(cell_len(line) for line in self.lines)
        names = max(cell_len(line.replace("\\", "/").rsplit("/", 1)[-1]) for line in self.lines)
        return Measurement(min(longest, names + 2), longest)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Render every line shortened to the width given."""
        width = options.max_width
        yield Text(
            "\n".join(shorten_left(line, width) for line in self.lines),
            no_wrap=True,
            overflow="crop",
        )


def run_summary(console: Console, s: RunSummary) -> None:
    """Print the closing summary of a collect run."""
    if s.recovered_load:
        console.print(f"published the batches staged by interrupted load {s.recovered_load}")
    if s.nothing_to_do:
        console.print(f"collect {s.source}: nothing to do — {s.nothing_to_do}")
        return
    verb = "stopped" if s.stopped else "done"
    table = Table(
        title=f"collect {s.source} ({s.mode}): {verb} in {s.seconds:.2f} s", show_header=False
    )
    table.add_column(style="bold")
    table.add_column(justify="right")
    plan = s.plan
    rows: list[tuple[str, str | ShortPath]] = [
        ("input", ShortPath(s.origin)),
        ("lake", ShortPath(s.lake)),
    ]
    if plan is not None and plan.unchanged:
        rows.append(("unchanged files skipped", f"{len(plan.unchanged):,}"))
    if s.resumed_after >= 0:
        rows.append(("resumed after batch", f"{s.resumed_after + 1:,}"))
    rows += [
        ("batches", f"{s.batches:,}"),
        ("rows read", f"{s.rows_read:,}"),
        ("messages written", f"{s.messages_written:,}"),
        ("conversations written", f"{s.conversations_written:,}"),
        ("quarantined", f"{s.quarantined:,}"),
        ("outside date range", f"{s.out_of_range:,}"),
        ("already collected, skipped", f"{s.skipped:,}"),
        ("moved to an earlier day", f"{s.moved:,}"),
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


def dry_run(console: Console, s: RunSummary) -> None:
    """Print what a collect run would read, skip and write (``--dry-run``)."""
    plan = s.plan
    assert plan is not None
    table = Table(title=f"collect {s.source} ({plan.mode}): dry run", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str | ShortPath]] = [
        ("lake", ShortPath(s.lake)),
        ("load", plan.load_id),
        ("batch size", f"{plan.batch_size:,}"),
    ]
    if plan.recover_load and plan.resume_after < 0:
        rows.append(("first", f"publish what interrupted load {plan.recover_load} staged"))
    if plan.resume_after >= 0:
        rows.append(("resume", f"skip batches 1–{plan.resume_after + 1:,} (committed)"))
    if plan.is_api:
        since = f"changes after {plan.since.isoformat()}" if plan.since else "everything"
        rows.append(("read", f"{since} from {plan.endpoint}"))
        if plan.cursor is not None:
            rows.append(("cursor", f"{plan.cursor.isoformat()} (minus --lookback)"))
        if plan.resume_key:
            rows.append(("resume", f"skip conversations up to {plan.resume_key} (committed)"))
    else:
        rows.append(("read", ShortPath("\n".join(plan.files)) if plan.files else "–"))
    if plan.unchanged:
        rows.append(("skip (unchanged)", ShortPath("\n".join(plan.unchanged))))
    if plan.cutoff is not None:
        rows.append(("skip conversations", f"whose last message is before {plan.cutoff}"))
    if plan.start or plan.end:
        rows.append(("range", f"{plan.start or '…'} to {plan.end or '…'} (end excluded)"))
    if plan.complete_days:
        rows.append(("days already collected", _day_ranges(plan.complete_days)))
    if plan.days is not None:
        rows.append(("days to collect", _day_ranges(plan.days) or "–"))
    rows.append(("write", "nothing" if plan.nothing_to_do else f"{s.lake} partitions, state"))
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    if plan.nothing_to_do:
        console.print(f"nothing to do — {plan.nothing_to_do}")
    console.print("dry run: nothing was read into the lake, written or locked")


def _day_ranges(days: list) -> str:
    """Compress sorted days into ``2024-01-01..2024-01-05, 2024-01-09`` form."""
    out: list[str] = []
    run: list = []
    for d in sorted(days):
        if run and (d - run[-1]).days == 1:
            run.append(d)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}..{run[-1]}")
        run = [d]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}..{run[-1]}")
    return ", ".join(out)


def status(console: Console, st: dict) -> None:
    """Print one pipeline's status (:func:`analytics_framework.status.pipeline_status`)."""
    facts = Table(title=f"pipeline {st['pipeline']}", show_header=False, box=box.SIMPLE)
    facts.add_column(style="bold")
    facts.add_column()
    wm = st["watermark"]
    facts.add_row("state", ShortPath(st["state_file"]))
    facts.add_row("watermark", f"{wm['sent_at']} ({wm['message_id']})" if wm else "–")
    run = st["last_run"]
    if run:
        outcome = run["outcome"]
        colour = {"succeeded": "green", "skipped": "green"}.get(outcome, "red")
        text = (
            f"[{colour}]{outcome}[/] {run['mode'] if 'mode' in run else ''} · "
            f"{run['started_at']} → {run['finished_at']} ({duration(run.get('seconds'))}) · "
            f"{run['rows_read']:,} rows read, {run['messages_written']:,} messages written"
        )
        if run.get("note"):
            text += f" · {run['note']}"
        if run.get("error"):
            text += f" · {run['error']}"
        facts.add_row("last run", text)
    else:
        facts.add_row("last run", "–")
    if st["running"]:
        r = st["running"]
        facts.add_row(
            "running now",
            f"[yellow]pid {r['pid']} on {r['host']} since {r['started_at']}, load "
            f"{r['load_id']}, heartbeat {r['heartbeat_age_s']:.0f} s ago[/]",
        )
    if st["stale_lock"]:
        r = st["stale_lock"]
        facts.add_row(
            "stale lock",
            f"[red]left by pid {r['pid']} on {r['host']} (dead); the next run takes it over[/]",
        )
    if st["interrupted"]:
        i = st["interrupted"]
        facts.add_row(
            "interrupted",
            f"[red]load {i['load_id']} ({i['mode']}), {i['batches_committed']:,} batches "
            f"committed[/] — continue with: {i['resume']}",
        )
    facts.add_row("batches committed", f"{st['batches_committed']:,}")
    facts.add_row("files processed", f"{st['files_processed']:,}")
    facts.add_row("quarantined records", f"{st['quarantined']:,}")
    for plan in st.get("shard_plans", [])[-3:]:  # the latest sharded backfills (Ray)
        failed = plan.get("failed", 0)
        facts.add_row(
            "sharded backfill",
            f"{plan['start']} → {plan['end']} by {plan['shard_days']} days: "
            f"{plan.get('done', 0):,} shards done, {plan.get('pending', 0):,} pending, "
            + (f"[red]{failed:,} failed[/]" if failed else "0 failed")
            + ("" if plan.get("finished_at") else " (not finished: re-run its command)"),
        )
    console.print(facts)
    grid = Table(
        title=f"coverage {st['coverage_range'][0]} to {st['coverage_range'][1]} (excluded)",
        box=box.SIMPLE_HEAD,
    )
    grid.add_column("day")
    grid.add_column("extracted", justify="center")
    grid.add_column("loaded (conversations)", justify="right")
    grid.add_column("labeled", justify="right")
    for row in collapse_empty_days(st["coverage"]):
        if "empty_days" in row:
            grid.add_row(f"[dim]… ({row['empty_days']:,} empty days)[/]", "", "", "")
            continue
        extracted = "[green]✓[/]" if row["extracted"] else "[red]·[/]"
        loaded = f"{row['loaded']:,}" if row["loaded"] else "[dim]0[/]"
        short = row["labeled"] < row["loaded"]
        labeled = f"[{'yellow' if short else 'green'}]{row['labeled']:,}[/]"
        grid.add_row(row["day"], extracted, loaded, labeled)
    console.print(grid)
    hidden = st.get("days_hidden", 0)
    if hidden:
        first = st["data_range"][0]
        console.print(
            f"{hidden:,} earlier day(s) of data, from {first}, are not shown; see them with "
            f"--start-date {first} --end-date {st['coverage_range'][0]}, or --days "
            f"{st.get('days_total', hidden)}",
            soft_wrap=True,
        )


def collapse_empty_days(coverage: list[dict], min_run: int = 2) -> list[dict]:
    """Replace runs of at least ``min_run`` days with nothing at all by one ``{"empty_days": k}``.

    A day has nothing when it was not extracted and has no loaded or labeled conversations.
    Other rows are returned as they are, in order.
    """
    out: list[dict] = []
    run: list[dict] = []

    def flush() -> None:
        out.extend(run if len(run) < min_run else [{"empty_days": len(run)}])
        run.clear()

    for row in coverage:
        if not (row["extracted"] or row["loaded"] or row["labeled"]):
            run.append(row)
            continue
        flush()
        out.append(row)
    flush()
    return out


@contextmanager
def enrich_progress(console: Console, provider: str) -> Iterator[Callable[[Partition, int], None]]:
    """Show a live line while day partitions are labeled; yields the per-partition callback."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.fields[day]} · {task.completed:,.0f} conversations labeled"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task(f"label ({provider})", total=None, day="")

    def on_partition(part: Partition, n: int) -> None:
        progress.update(task, advance=n, day=str(part))

    with progress:
        yield on_partition


def enrich_summary(console: Console, s: EnrichSummary) -> None:
    """Print what labeling did: calls, cache hits, retries, failures, tokens, cost."""
    st = s.stats
    if not s.partitions:
        console.print(f"label ({s.provider}): every conversation already has a current label")
        return
    table = Table(
        title=f"label ({s.provider}, {s.model}): done in {s.seconds:.2f} s", show_header=False
    )
    table.add_column(style="bold")
    table.add_column(justify="right")
    cost = "unknown (no price for this model)" if s.cost_usd is None else f"${s.cost_usd:,.4f}"
    rows = [
        ("day partitions", f"{len(s.partitions):,}"),
        ("conversations", f"{st.conversations:,}"),
        ("labeled", f"{st.labeled:,}"),
        ("cache hits", f"{st.cache_hits:,}"),
        ("calls", f"{st.calls:,}"),
        ("retries", f"{st.retries:,}"),
        ("re-asks (bad output)", f"{st.reasks:,}"),
        ("failures", f"{st.failures:,}"),
        ("input tokens", f"{st.input_tokens:,}"),
        ("output tokens", f"{st.output_tokens:,}"),
        ("estimated cost", cost),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    if s.failures:
        cid, why = next(iter(s.failures.items()))
        console.print(
            f"[yellow]{len(s.failures):,} conversation(s) not labeled (e.g. {cid}: {why}); "
            "they are recorded as failed and retried on the next run[/]"
        )


def doctor(console: Console, checks: list) -> None:
    """Print the doctor's checks: status, detail, seconds, and the fix of each failure."""
    table = Table(title="analytics doctor", box=box.SIMPLE_HEAD)
    table.add_column("check", style="bold")
    table.add_column("", justify="center")
    table.add_column("detail")
    table.add_column("seconds", justify="right")
    for c in checks:
        mark = "[green]ok[/]" if c.ok else "[red]FAIL[/]"
        detail = c.detail if c.ok else f"{c.detail}\n[yellow]fix: {c.fix}[/]"
        table.add_row(c.name, mark, detail, f"{c.seconds:.2f}" if c.seconds else "")
    console.print(table)
    failed = sum(not c.ok for c in checks)
    console.print(
        f"[red]{failed} check(s) failed[/]" if failed else "[green]everything is reachable[/]"
    )
