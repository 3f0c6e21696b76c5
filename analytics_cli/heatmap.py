"""The ``activity`` report as a heatmap in the terminal: weekday x hour of day, shaded cells.

:func:`render` draws the report's ``heatmap`` rows (weekday Mon..Sun x hour 0..23, in the report's
time zone) as two 7 x 24 grids, customer messages then agent messages, each cell shaded by the
quartile of its count among the grid's non-empty cells, then the ``daily`` rows (active customers
and their 7-day mean) as a table with a bar per day. Only the presentation lives here: the
numbers are the report's, and JSON and CSV keep them all.

Which reports draw this way is declared here, in :data:`LAYOUTS`; the sections table
(:func:`analytics_cli.report_view.report_table`) hands a result over when :func:`handles` says so.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from analytics_framework.reports import ReportResult

LAYOUTS = {"activity": "heatmap"}
"""Report name → its terminal layout, for the reports that are not drawn as section tables."""

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOURS = range(24)

SHADES = ("·", "░", "▒", "▓", "█")
"""Level 0 (no messages) to 4 (top quartile), readable without colour."""

STYLES = ("dim", "white on #0e4429", "white on #006d32", "black on #26a641", "black on #39d353")
"""Level 0 to 4 as rich styles (a green ramp; rich downgrades it to what the terminal shows)."""

DAILY_SHOWN = 31
"""The daily table shows at most this many days (the last ones); CSV and JSON have every day."""

BARS = "▁▂▃▄▅▆▇█"
BAR_CELLS = 12
"""The longest bar in the daily table (the busiest day shown), in characters."""


def handles(result: ReportResult) -> bool:
    """Whether ``result`` is drawn by :func:`render` rather than as section tables."""
    return LAYOUTS.get(result.report) == "heatmap"


def quartiles(values: list[int]) -> tuple[int, ...]:
    """Return the cut points between the four shading levels of the non-zero ``values``.

    The cuts are the 25th, 50th and 75th percentiles by nearest rank (a value, never an
    interpolation), so a cell's level depends only on the counts, not on float rounding.

    Returns:
        Three ascending counts; empty when no value is above zero.
    """
    nonzero = sorted(v for v in values if v > 0)
    if not nonzero:
        return ()
    return tuple(nonzero[max(0, -(-len(nonzero) * q // 4) - 1)] for q in (1, 2, 3))


def level(value: int, cuts: tuple[int, ...]) -> int:
    """Return the shading level of ``value``: 0 for none, else 1..4 by quartile (:func:`quartiles`).

    A value on a cut belongs to the level below it, so a grid of equal counts is all level 1.
    """
    if value <= 0 or not cuts:
        return 0
    return 1 + bisect_left(cuts, value)


def compact(value: int, width: int) -> str:
    """Write a count in at most ``width`` characters: ``987``, ``12k``, ``3M``; ``+`` when none fit.

    Thousands and millions are rounded to the nearest (``1,499`` is ``1k``): a cell is read for
    its shade first; JSON and CSV keep the exact counts.
    """
    text = str(value)
    if len(text) <= width:
        return text
    for divisor, suffix in ((1_000, "k"), (1_000_000, "M")):
        short = f"{round(value / divisor)}{suffix}"
        if value >= divisor and len(short) <= width:
            return short
    return "+" * width


def cell_width(console_width: int) -> tuple[int, bool]:
    """Return the characters per hour cell and whether it shows numbers.

    A cell with a number is 4 characters (3 for the count, 1 space), which needs 100 columns; a
    narrower console gets shades only, 3 or 2 characters a cell.
    """
    if 4 + 24 * 4 <= console_width:
        return 4, True
    return (3 if 4 + 24 * 3 <= console_width else 2), False


def grid(
    rows: list[dict[str, Any]], metric: str, width: int, numbers: bool
) -> tuple[Text, tuple[int, ...]]:
    """Draw one 7 x 24 grid of ``metric`` from the heatmap rows.

    Args:
        rows: the report's ``heatmap`` rows (``weekday``, ``hour`` and the metric).
        metric: ``customer_messages`` or ``agent_messages``.
        width: characters per cell (:func:`cell_width`).
        numbers: whether cells show their counts (else shades only).

    Returns:
        The grid as text (a header of hours, then one line per weekday) and its quartile cuts.
    """
    counts = {(r["weekday"], r["hour"]): int(r[metric] or 0) for r in rows}
    cuts = quartiles(list(counts.values()))
    text = Text()
    text.append("    ")
    for hour in HOURS:
        if width > 2:
            label = f"{hour:>{width - 1}} "
        else:
            label = f"{hour:<2}" if hour % 3 == 0 else "  "
        text.append(label, style="bold")
    for day in WEEKDAYS:
        text.append(f"\n{day} ", style="bold")
        for hour in HOURS:
            value = counts.get((day, hour), 0)
            lvl = level(value, cuts)
            if numbers:
                shown = f"{compact(value, width - 1):>{width - 1}} "
            else:
                shown = SHADES[lvl] * 2 + " " * (width - 2)
            text.append(shown, style=STYLES[lvl])
    return text, cuts


def legend(cuts: tuple[int, ...]) -> Text:
    """Return one line naming what each shade holds (counts per cell)."""
    text = Text("shade: ")
    text.append(f" {SHADES[0]} 0 ", style=STYLES[0])
    if cuts:
        bounds = [1, *(c + 1 for c in cuts)]
        tops = [*cuts, None]
        for lvl, (lo, hi) in enumerate(zip(bounds, tops, strict=True), start=1):
            if hi is not None and hi < lo:
                continue  # an empty quartile (many equal counts)
            span = f"{lo}+" if hi is None else (f"{lo}" if hi == lo else f"{lo}-{hi}")
            text.append(" ")
            text.append(f" {SHADES[lvl]} {span} ", style=STYLES[lvl])
    return text


def busiest(rows: list[dict[str, Any]], metric: str, per_day: str) -> str:
    """Return a line naming the busiest weekday-hour of ``metric`` and its mean per such day."""
    top = max(rows, key=lambda r: (r[metric] or 0, -WEEKDAYS.index(r["weekday"]), -r["hour"]))
    if not top[metric]:
        return "no messages"
    mean = top[per_day]
    return f"busiest: {top['weekday']} {top['hour']:02d}:00, {top[metric]:,} messages" + (
        f" ({mean:,.2f} per {top['weekday']})" if mean is not None else ""
    )


def sparkbar(value: int, top: int) -> str:
    """Return a bar of up to :data:`BAR_CELLS` cells for ``value`` out of ``top``."""
    if top <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / top * BAR_CELLS * 8))
    return "█" * (eighths // 8) + (BARS[eighths % 8 - 1] if eighths % 8 else "")


def daily_table(result: ReportResult, rows: list[dict[str, Any]]) -> Table:
    """Return the daily rows (the last :data:`DAILY_SHOWN`) as a table with a bar per day."""
    shown = rows[-DAILY_SHOWN:]
    title = f"activity · daily active customers · {result.timezone}"
    if len(shown) < len(rows):
        title += f" · last {len(shown)} of {len(rows)} days"
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, title=title)
    for header in ("day", "weekday", "customer msgs", "agent msgs", "active", "7-day avg"):
        left = header in ("day", "weekday")
        table.add_column(header, justify="left" if left else "right", no_wrap=left)
    table.add_column("", no_wrap=True, min_width=BAR_CELLS)
    top = max((r["active_customers"] or 0 for r in shown), default=0)
    for r in shown:
        rolling = r["rolling_7d"]
        table.add_row(
            str(r["period"]),
            str(r["weekday"]),
            f"{r['customer_messages']:,}",
            f"{r['agent_messages']:,}",
            f"{r['active_customers']:,}",
            "–" if rolling is None else f"{rolling:,.2f}",
            sparkbar(r["active_customers"] or 0, top),
        )
    return table


def render(console: Console, result: ReportResult) -> None:
    """Print an activity result: two shaded weekday x hour grids, then the daily table.

    Args:
        console: where to print; its width picks numbers (100 columns or more) or shades only
            (:func:`cell_width`), so the grid fits.
        result: an ``activity`` result (rows with ``section`` heatmap / daily).
    """
    heat = [r for r in result.rows if r.get("section") == "heatmap"]
    daily = [r for r in result.rows if r.get("section") == "daily"]
    if not heat:
        console.print(f"[yellow]{result.report}: no messages match the filters[/]")
        return
    first = heat[0]["period"]
    last = daily[-1]["period"] if daily else first
    width, numbers = cell_width(console.width)
    for metric, per_day, label in (
        ("customer_messages", "customer_per_day", "customer messages"),
        ("agent_messages", "agent_per_day", "agent messages"),
    ):
        console.print(
            Text(
                f"activity · {label} by weekday × hour · {result.timezone} · {first} to {last}"
                f" · metric definitions v{result.metric_version}",
                style="bold",
            )
        )
        drawn, cuts = grid(heat, metric, width, numbers)
        console.print(drawn, soft_wrap=True, highlight=False)
        console.print(legend(cuts), soft_wrap=True, highlight=False)
        console.print(busiest(heat, metric, per_day), highlight=False)
        console.print()
    if daily:
        console.print(daily_table(result, daily))
        if len(daily) > DAILY_SHOWN:
            console.print(
                f"[yellow]{result.report}: {len(daily) - DAILY_SHOWN} earlier day(s) not shown; "
                "see every day with --format csv or --format json[/]",
                soft_wrap=True,
            )
