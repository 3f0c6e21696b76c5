"""Reports as terminal tables, from each report's column metadata.

Nothing here names a report's columns: labels, units and sections come from the report's
declaration (:mod:`analytics_framework.reports.catalog`). Seconds show as ``13m 46s``,
percentages with one decimal, ratios with two; JSON and CSV keep the numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from analytics_cli import heatmap
from analytics_cli.render import duration

if TYPE_CHECKING:
    from analytics_framework.reports import ReportResult


def cell(unit: str, value: object) -> str:
    """Format one value for a table by its unit (seconds, percent, ratio, count, text)."""
    if value is None:
        return "–"
    if unit == "seconds" and isinstance(value, int | float):
        return duration(float(value))
    if unit == "ratio" and isinstance(value, float):
        return f"{value:+.2f}" if value < 0 or value <= 1 else f"{value:,.2f}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _table(
    r: ReportResult, title: str, columns: list[str], keys: list[str], cells: dict[str, list[str]]
) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, title=title)
    for c in keys + columns:
        header = r.column(c).label
        table.add_column(
            header,
            justify="left" if c in keys else "right",
            no_wrap=True,
            width=_width(header, cells[c]),
        )
    for i in range(len(r.rows)):
        if all(r.rows[i][c] is None for c in columns):
            continue  # a row of another shape (a report with sections): nothing to show here
        table.add_row(*(Text(cells[c][i]) for c in keys + columns))
    return table


def _width(header: str, cells: list[str]) -> int:
    return max(cell_len(header), *(cell_len(one) for one in cells))


def pack_columns(
    columns: list[str], fits: Callable[[list[str]], bool]
) -> tuple[list[list[str]], list[str]]:
    """Split ``columns`` greedily, in order, into sections that each ``fits`` the width.

    Args:
        columns: the columns to show, in report order (the row keys not included).
        fits: whether a section with these columns (beside the keys) fits the console.

    Returns:
        ``(sections, left_out)``: non-empty lists of columns that fit, and the columns that do not
        fit even alone beside the keys.
    """
    sections: list[list[str]] = []
    left_out: list[str] = []
    current: list[str] = []
    for c in columns:
        if fits([*current, c]):
            current.append(c)
            continue
        if current:
            sections.append(current)
            current = []
        if fits([c]):
            current = [c]
        else:
            left_out.append(c)
    if current:
        sections.append(current)
    return sections, left_out


def report_table(console: Console, r: ReportResult) -> None:
    """Print a report as tables, one per declared section, each fitting the console.

    Each section is split into as many parts as the console's width needs, the row keys
    repeated in each, so every column shows whole. A column too wide to fit even beside the keys
    alone is left out, and one line names it and says how to see it.
    """
    if not r.rows:
        console.print(f"[yellow]{r.report}: {r.note or 'no conversations match the filters'}[/]")
        return
    if heatmap.handles(r):
        heatmap.render(console, r)
        return
    keys = r.keys
    rest = [c for c in r.columns if c not in keys and c != "metric_version"]
    order: dict[str, list[str]] = {}
    for c in rest:
        order.setdefault(r.column(c).section or "values", []).append(c)
    groups = list(order.items())

    def title(label: str) -> str:
        return (
            f"{r.report} · {label} · {r.period} · {r.timezone} · "
            f"metric definitions v{r.metric_version}"
        )

    cells = {c: [cell(r.column(c).unit, row[c]) for row in r.rows] for c in keys + rest}
    widths = {c: _width(r.column(c).label, cells[c]) for c in keys + rest}

    def fits(columns: list[str]) -> bool:
        # a one-row stand-in with the same column widths measures like the real table
        probe = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for c in keys + columns:
            probe.add_column(no_wrap=True, min_width=widths[c])
        probe.add_row(*("x" * widths[c] for c in keys + columns))
        wide = console.options.update_width(10**6)
        return console.measure(probe, options=wide).maximum <= console.width

    left_out: list[str] = []
    for label, columns in groups:
        sections, dropped = pack_columns(columns, fits)
        left_out += dropped
        for i, section in enumerate(sections, 1):
            part = f"{label} {i}/{len(sections)}" if len(sections) > 1 else label
            console.print(_table(r, title(part), section, keys, cells))
    if left_out:
        console.print(
            f"[yellow]{r.report}: {len(left_out)} column(s) left out, too wide for "
            f"{console.width} columns beside {', '.join(keys)}: {', '.join(left_out)}; "
            "see every column with --format csv or --format json[/]",
            soft_wrap=True,
        )
