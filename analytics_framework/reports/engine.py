"""Running report SQL over the lake's query layer into a :class:`.result.ReportResult`.

Each report is one SQL file in ``reports/sql/``. The engine opens the lake through
:func:`analytics_framework.storage.query.connect` (a DuckDB view per table), fills the SQL's
whitelisted placeholders (period unit, grouping keys) and binds the user's values as parameters,
never as text. With ``--business-hours`` (:mod:`.business_hours`) the placeholder
``{business_hours}`` reads ``TRUE`` and the view ``replies_business`` carries each reply's
business time; without it ``FALSE``, and the report's business-hours columns are left out.

Reports are deterministic: the same lake gives byte-identical JSON, CSV and tables, whatever
DuckDB's thread count or the order in which its threads finish. The SQL is order-independent
(means over exact integers or ``DECIMAL(18, 6)``, percentiles sort, counts are exact, every
``ORDER BY`` a total order), and :class:`~analytics_framework.reports.result.ReportResult`
rounds every float once, by the kind of its column (:mod:`.result`).
"""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from typing import Any

import duckdb

from analytics_framework.errors import ConfigurationError, LakeError
from analytics_framework.model import METRIC_VERSION
from analytics_framework.reports import business_hours, report_sql
from analytics_framework.reports.result import ReportResult
from analytics_framework.reports.spec import Column, Report
from analytics_framework.storage.lake import Lake
from analytics_framework.storage.query import (
    TABLES,
    connect,
    day_filter,
    day_params,
    define_local_time,
    started_in,
)

log = logging.getLogger(__name__)

PERIOD_UNITS = {"daily": "day", "weekly": "week", "monthly": "month"}
"""Report periods → DuckDB ``date_trunc`` units (weeks start on Monday, ISO 8601)."""

GROUPINGS = {None: "period", "org": "period, org_id"}
"""SQL grouping keys per ``--by``; another ``--by X`` groups by ``period, X``."""


def run_report(
    report: Report,
    lake: Lake,
    *,
    period: str = "daily",
    start: date | None = None,
    end: date | None = None,
    org: str | None = None,
    by: str | None = None,
    timezone: str = "UTC",
    options: dict[str, Any] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> ReportResult:
    """Compute ``report`` over ``lake``.

    Args:
        report: the report to run.
        lake: the lake to read.
        period: ``daily``, ``weekly`` (Monday-based) or ``monthly``.
        start: first day included, in ``timezone`` (conversations by start time), or None.
        end: first day excluded (half-open range), or None.
        org: only this org (brand / page / app), or None for all.
        by: a grouping the report accepts (``org``: one row per period and org), or None.
        timezone: IANA zone in which days, weeks and months are cut.
        options: the report's own options (:attr:`Report.options`), by name; missing ones take
            their defaults. They reach the SQL as parameters ``$name``.
        con: a connection from :func:`~analytics_framework.storage.query.connect` to reuse
            (several reports over one lake, as exports run them); None opens and closes one.

    Returns:
        The :class:`ReportResult`.

    Raises:
        ConfigurationError: unknown period, grouping or option value.
        LakeError: the lake is empty or unreadable, or lacks a table the report needs.
    """
    if period not in PERIOD_UNITS:
        raise ConfigurationError(
            f"unknown period {period!r}", f"use one of: {', '.join(PERIOD_UNITS)}"
        )
    if by is not None and by not in report.by:
        choices = " or ".join(f"--by {b}" for b in report.by) or "no --by"
        raise ConfigurationError(
            f"report {report.name} has no --by {by!r}", f"use {choices}, or leave it out"
        )
    values = _option_values(report, options or {})
    hours = business_hours.from_options(report, values, timezone)
    for table in report.requires:
        if not lake.exists(table):
            raise LakeError(
                f"report {report.name} needs {table} and the lake at {lake.uri} has none",
                REQUIRES_FIX.get(table, "collect data that has it first"),
            )
    missing = [t for t in report.optional if not lake.exists(t)]
    note = (report.empty_note or f"no {', '.join(missing)} in the lake") if missing else None
    grouping = GROUPINGS.get(by, "period, " + str(by))
    fill = dict(
        unit=PERIOD_UNITS[period],
        keys=grouping,
        org_expr="org_id" if by == "org" else "CAST(NULL AS VARCHAR)",
        by=by or "",
        metric_version=METRIC_VERSION,
        days=day_filter("conversations", "first", "last"),
        days_ahead=day_filter("", "first", "ahead"),
        business_hours="TRUE" if hours else "FALSE",
    )
    sql = report.sql().format(**fill)
    params = {
        "tz": timezone,
        **started_in(start, end, org, timezone),
        **day_params("ahead", None if end is None else end + timedelta(days=report.lookahead_days)),
        **values,
    }
    # A connection of its own is first opened without reading every file's footer to check
    # that a table's files share one schema (storage.query.connect, check_schema: about 20 ms a
    # table over 90 days): each view then takes its first file's columns, as after a successful
    # check. A lake written before a column was added can fail that read (DuckDB: a column
    # missing from a file, or not bound); the report then runs once more over checked views,
    # which read such files by name.
    tables = tables_of(report)
    for checked in (False, True) if con is None else (None,):
        db = con if checked is None else connect(lake, tables=tables, check_schema=checked)
        try:
            columns, dated, rows = _execute(db, report, sql, fill, params, timezone, hours)
            break
        except duckdb.Error as exc:
            if checked is False:
                log.debug("report %s over unchecked views failed (%s): checking", report.name, exc)
                continue
            raise LakeError(
                f"report {report.name} failed on {lake.uri}: {str(exc).splitlines()[0]}",
                "a lake written by an older version lacks columns this report reads: rewrite it "
                "with analytics collect ... --full-refresh",
            ) from None
        finally:
            if checked is not None:
                db.close()
    for row in rows:  # dates and instants as ISO 8601 text
        for key in dated:
            if row[key] is not None:
                row[key] = row[key].isoformat()
    derived: dict[str, Column] = {}
    if values.get("compare") == "previous":
        columns, rows, derived = compare_previous(report, period, columns, rows)
    return ReportResult(
        report=report.name,
        period=period,
        timezone=timezone,
        filters={
            "start_date": start.isoformat() if start else None,
            "end_date": end.isoformat() if end else None,
            "org": org,
            "by": by,
            **{k: v for k, v in values.items() if k in {o.name for o in report.options}},
        },
        columns=columns,
        rows=rows,
        spec=report,
        derived=derived,
        note=note,
    )


def _execute(
    con: duckdb.DuckDBPyConnection,
    report: Report,
    sql: str,
    fill: dict[str, str],
    bounds: dict[str, Any],
    timezone: str,
    hours: business_hours.BusinessHours | None,
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """Run a report's filled ``sql`` on ``con``; return (columns, dated columns, rows).

    Raises:
        duckdb.Error: the query failed.
    """
    aligned = define_local_time(con, timezone)  # local_ts(): wall-clock time, fast
    if report.fallback_sql_file and not (aligned and _rollup_ready(con, report)):
        sql = report.sql(report.fallback_sql_file).format(**fill)
    business_hours.register(con, hours, bounds)  # the view replies_business
    cur = con.execute(sql, _bound(sql, bounds))
    # without --business-hours, the report's business-time columns are left out
    dropped = business_hours.columns_of(report) if hours is None else set()
    kept = [(i, d) for i, d in enumerate(cur.description) if d[0] not in dropped]
    columns = [d[0] for _, d in kept]
    dated = [d[0] for _, d in kept if _is_dated(d[1])]
    pick = [i for i, _ in kept]
    rows = [dict(zip(columns, [r[i] for i in pick], strict=True)) for r in cur.fetchall()]
    return columns, dated, rows


def tables_of(report: Report) -> list[str]:
    """Return the lake tables ``report`` reads: those its SQL texts name (:func:`report_sql`).

    ``conversations`` is always among them (it bounds the time zone's offsets and proves the
    lake is not empty).
    """
    words = set(re.findall(r"[a-z_]+", report_sql(report)))
    return [t for t in TABLES if t in words or t == "conversations"]


def _is_dated(kind: Any) -> bool:
    """Whether a result column of DuckDB type ``kind`` holds dates or instants (not lists)."""
    return str(kind) == "DATE" or str(kind).startswith("TIMESTAMP")


def _bound(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Return the ``params`` that ``sql`` names outside comments (DuckDB refuses the others)."""
    code = re.sub(r"--[^\n]*", "", sql)
    return {k: v for k, v in params.items() if f"${k}" in code}


def _rollup_ready(con: duckdb.DuckDBPyConnection, report: Report) -> bool:
    """Return whether every conversation carries the rollup :attr:`Report.rollup_check` asks about.

    False when a row predates its columns, or no file has them at all.
    """
    try:
        row = con.execute(report.rollup_check).fetchone()
    except duckdb.Error:
        return False
    return bool(row and row[0])


REQUIRES_FIX = {
    "scripts": "cluster the setters' messages first: analytics scripts",
    "personas": "group the customers first: analytics personas",
    "translations": "detect the languages first: analytics translate",
    "labels": "label the lake first: analytics enrich (or collect without --no-enrich)",
    "stage_changes": "stages come from Mochi: analytics collect --source mochi",
}
"""What to run when a report needs a table the lake lacks."""


def _option_values(report: Report, given: dict[str, Any]) -> dict[str, Any]:
    """Return every option of ``report``: the given values, else the defaults; checked.

    Raises:
        ConfigurationError: an option the report does not take, or a value not in its choices.
    """
    known = {o.name: o for o in report.options}
    unknown = [k for k, v in given.items() if v is not None and k not in known]
    if unknown:
        flag = "--" + unknown[0].replace("_", "-")
        takes = ", ".join("--" + o.replace("_", "-") for o in known) or "no options of its own"
        raise ConfigurationError(
            f"report {report.name} does not take {flag}", f"it takes {takes}; drop it"
        )
    values = {}
    for name, option in known.items():
        value = given.get(name)
        value = option.default if value is None else value
        if option.choices is not None and value not in option.choices:
            raise ConfigurationError(
                f"--{name.replace('_', '-')} {value!r} is not one report {report.name} knows",
                f"use one of: {', '.join(map(str, option.choices))}",
            )
        values[name] = value
    return values


COMPARED_UNITS = ("count", "seconds", "percent", "ratio")


def compare_previous(
    report: Report, period: str, columns: list[str], rows: list[dict[str, Any]]
) -> tuple[list[str], list[dict[str, Any]], dict[str, Column]]:
    """Add each metric's value in the previous period and its change (``--compare previous``).

    For every metric column (unit count, seconds, percent or ratio) it adds ``<name>_prev``,
    the same group's (org's) value in the period just before, and the change: for rates
    (percent, ratio) the absolute difference ``<name>_change`` (in points), for counts and
    durations the relative change ``<name>_change_pct`` = (value − previous) / previous × 100.
    A period whose previous period has no row (the first one, or after a gap) has none, and so
    does a relative change from 0.

    Returns:
        The new column list, the rows with the added values, and the added columns' metadata.
    """
    keys = [k for k in report.keys if k in columns and k != "period"]
    metrics = [
        c
        for c in columns
        if c not in report.keys
        and c != "metric_version"
        and report.column(c).unit in COMPARED_UNITS
    ]
    derived: dict[str, Column] = {}
    added: list[str] = []
    for name in metrics:
        col = report.column(name)
        relative = col.unit in ("count", "seconds")
        change = f"{name}_change_pct" if relative else f"{name}_change"
        derived[f"{name}_prev"] = Column(f"{name}_prev", f"{col.label} prev", col.unit, "compare")
        derived[change] = Column(
            change,
            f"{col.label} Δ%" if relative else f"{col.label} Δ",
            "percent" if relative else col.unit,
            "compare",
        )
        added += [f"{name}_prev", change]
    previous: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        group = tuple(row.get(k) for k in keys)
        start = date.fromisoformat(row["period"]) if row.get("period") else None
        before = previous.get(group)
        adjacent = (
            before is not None
            and start is not None
            and date.fromisoformat(before["period"]) == _period_before(start, period)
        )
        for name in metrics:
            prev = before.get(name) if adjacent else None  # type: ignore[union-attr]
            value = row.get(name)
            row[f"{name}_prev"] = prev
            relative = f"{name}_change_pct" in derived
            if value is None or prev is None:
                delta = None
            elif relative:
                delta = None if prev == 0 else (float(value) - float(prev)) / float(prev) * 100
            else:
                delta = float(value) - float(prev)
            row[f"{name}_change_pct" if relative else f"{name}_change"] = delta
        previous[group] = row
    tail = [c for c in columns if c == "metric_version"]
    return [c for c in columns if c != "metric_version"] + added + tail, rows, derived


def _period_before(start: date, period: str) -> date:
    """Return the first day of the period before the one starting on ``start``."""
    if period == "daily":
        return start - timedelta(days=1)
    if period == "weekly":
        return start - timedelta(days=7)
    year, month = (start.year, start.month - 1) if start.month > 1 else (start.year - 1, 12)
    return date(year, month, 1)
