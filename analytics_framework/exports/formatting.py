"""Report values and periods written for people, for the formats that show them (HTML, Framer).

JSON and CSV keep the report's numbers; these helpers only present them, by the column's declared
unit (:class:`~analytics_framework.reports.spec.Column`), the way the terminal table does:

=========  =================  ==============================================
unit       example            rule
=========  =================  ==============================================
seconds    ``13m 46s``        :func:`duration`
percent    ``42.5 %``         one decimal; a change is signed (``+3.0 %``)
ratio      ``0.13``           two decimals; a change is signed
count      ``1,234``          thousands separated
date/text  as is
=========  =================  ==============================================
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date

from analytics_framework.reports import ReportResult
from analytics_framework.reports.spec import Column

MISSING = "–"
"""What a missing value (None: no conversations to average over) shows as in a table."""


def duration(seconds: float | None) -> str:
    """Format seconds compactly: ``45s``, ``13m 46s``, ``5h 47m``, ``3d 4h``, ``120d``.

    The same rule as the terminal's tables (``analytics_cli.render.duration``), kept here so the
    framework never imports the CLI.
    """
    if seconds is None:
        return MISSING
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    s = int(round(seconds))
    if s < 60:
        text = f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    elif s < 3600:
        text = f"{s // 60}m {s % 60:02d}s"
    elif s < 86400:
        text = f"{s // 3600}h {s % 3600 // 60:02d}m"
    elif s < 10 * 86400:
        text = f"{s // 86400}d {s % 86400 // 3600:02d}h"
    else:
        text = f"{s // 86400:,}d"
    return sign + text


def is_change(column: Column) -> bool:
    """Whether ``column`` is a change (``--compare previous``'s Δ columns), shown signed."""
    return column.section == "compare" and not column.name.endswith("_prev")


def format_value(column: Column, value: object, missing: str = MISSING) -> str:
    """Return ``value`` of ``column`` as people read it (see the module's table).

    Args:
        column: the column's metadata; its unit picks the rule.
        value: the report's value (int, float, str, bool or None).
        missing: what None shows as.
    """
    return formatter(column, missing)(value)


def formatter(column: Column, missing: str = MISSING) -> Callable[[object], str]:
    """Return :func:`format_value` for one column: the rule chosen once, for a table's cells."""
    signed = "+" if is_change(column) else ""
    seconds = column.unit == "seconds"
    suffix = " %" if column.unit == "percent" else ""
    spec = {"percent": f"{signed},.1f", "ratio": f"{signed},.2f"}.get(column.unit)
    whole, decimal = f"{signed},", f"{signed},.1f"

    def show(value: object) -> str:
        if value is None:
            return missing
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int | float):
            if seconds:
                return duration(float(value))
            if spec is not None:
                return format(value, spec) + suffix
            return format(value, whole if isinstance(value, int) else decimal)
        return str(value)

    return show


def period_title(period: str, start: str) -> str:
    """Name a report period for people: ``Week of 4 Mar 2024``, ``Mon 4 Mar 2024``, ``March 2024``.

    Args:
        period: ``daily``, ``weekly`` or ``monthly``.
        start: the period's first day, an ISO date (a report row's ``period``).
    """
    day = date.fromisoformat(start)
    if period == "monthly":
        return f"{day:%B %Y}"
    if period == "weekly":
        return f"Week of {day.day} {day:%b %Y}"
    return f"{day:%a} {day.day} {day:%b %Y}"


def slugify(text: str) -> str:
    """Return ``text`` lowercase, ASCII, with runs of anything else as one hyphen.

    ``"Beta Co."`` → ``beta-co``; ``"Café Noir"`` → ``cafe-noir``. May return ``""``.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def shown_columns(result: ReportResult, rows: list[dict] | None = None) -> list[str]:
    """Return the columns a table of ``result`` shows: keys, then metrics, in report order.

    ``metric_version`` is left out (the page says it once), and so is a key column with no value
    in any of ``rows`` (``org_id`` without ``--by org``).
    """
    rows = result.rows if rows is None else rows
    keys = [k for k in result.keys if any(r.get(k) is not None for r in rows)]
    rest = [c for c in result.columns if c not in result.keys and c != "metric_version"]
    return keys + rest
