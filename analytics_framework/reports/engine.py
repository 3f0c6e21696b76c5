"""Running report SQL over the lake's query layer, and the results.

Each report is one SQL file in ``reports/sql/``. The engine opens the lake through
:func:`analytics_framework.storage.query.connect` (a DuckDB view per table), fills the SQL's
whitelisted placeholders (period unit, grouping keys) and binds the user's values as parameters,
never as text.

Reports are deterministic: the same lake gives byte-identical JSON, CSV and tables, whatever
DuckDB's thread count or the order in which its threads finish. Two things make it so:

- the SQL is order-independent: means are taken over values cast to ``DECIMAL(18, 6)``
  (microseconds for durations), whose sums are exact integers, instead of over doubles, whose
  parallel sums differ in their last digits from run to run; percentiles sort; counts are exact;
  every ``ORDER BY`` is a total order;
- :class:`ReportResult` rounds every float once, by the kind of its column (:data:`PRECISION`),
  and JSON, CSV, tables and MongoDB all show those rounded values:

  ========================  ==========  ==============================================
  column                    decimals    unit
  ========================  ==========  ==============================================
  ``*_s`` (durations)       3           seconds, to the millisecond
  ``*_pct`` (percentages)   2           percent (0-100), to a hundredth of a point
  other floats              4           sentiment (-1..1), ratios
  ========================  ==========  ==============================================

  Rounding is Python's ``round`` (half to even on the binary value); ``-0.0`` is written ``0.0``.
  Integers (counts) are never rounded.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

import duckdb

from analytics_framework.dates import day_range_utc
from analytics_framework.errors import ConfigurationError, LakeError
from analytics_framework.model import METRIC_VERSION
from analytics_framework.storage.lake import Lake
from analytics_framework.storage.query import connect, day_filter, day_params

log = logging.getLogger(__name__)

PERIOD_UNITS = {"daily": "day", "weekly": "week", "monthly": "month"}
"""Report periods → DuckDB ``date_trunc`` units (weeks start on Monday, ISO 8601)."""

GROUPINGS = {None: "period", "org": "period, org_id"}

PRECISION = {"_s": 3, "_pct": 2}
"""Decimals kept per column-name suffix: durations (``*_s``, seconds) to the millisecond,
percentages (``*_pct``) to 2 decimals; any other float column keeps :data:`OTHER_PRECISION`."""

OTHER_PRECISION = 4
"""Decimals kept in float columns that are neither durations nor percentages (sentiment…)."""


def decimals_for(column: str) -> int:
    """Return how many decimals a float in ``column`` keeps (see :data:`PRECISION`)."""
    for suffix, places in PRECISION.items():
        if column.endswith(suffix):
            return places
    return OTHER_PRECISION


def round_value(column: str, value: Any) -> Any:
    """Round one report value to its column's precision; non-floats are returned unchanged.

    Args:
        column: the column's name (its suffix picks the precision, :func:`decimals_for`).
        value: the value from DuckDB: a float or ``Decimal`` is rounded (and returned as a
            float), anything else (ints, strings, dates, None) passes through.

    Returns:
        The rounded float (``-0.0`` normalised to ``0.0``), or ``value`` itself.
    """
    if isinstance(value, bool) or not isinstance(value, float | Decimal):
        return value
    return round(float(value), decimals_for(column)) + 0.0


@dataclass(frozen=True)
class Report:
    """A named report: its SQL file and a one-line description."""

    name: str
    sql_file: str
    description: str

    def sql(self) -> str:
        """Return the report's SQL text, from the package."""
        sql_dir = resources.files("analytics_framework.reports").joinpath("sql")
        return sql_dir.joinpath(self.sql_file).read_text()


@dataclass
class ReportResult:
    """A computed report.

    Attributes:
        rows: one dict per period (and org), durations in seconds, ``period`` an ISO date;
            floats rounded by column kind on construction (:data:`PRECISION`), so that every
            output of the same lake is byte-identical.
    """

    report: str
    period: str
    timezone: str
    filters: dict[str, Any]
    columns: list[str]
    rows: list[dict[str, Any]]
    metric_version: int = METRIC_VERSION

    def __post_init__(self) -> None:
        """Round every float once, by column kind (:data:`PRECISION`), for every output."""
        self.rows = [{k: round_value(k, v) for k, v in row.items()} for row in self.rows]

    def to_json(self) -> str:
        """Return the report as a JSON document carrying the metric-definition version."""
        doc = {
            "report": self.report,
            "metric_version": self.metric_version,
            "period": self.period,
            "timezone": self.timezone,
            "filters": self.filters,
            "rows": self.rows,
        }
        return json.dumps(doc, indent=2, default=str) + "\n"

    def to_csv(self) -> str:
        """Return the report as CSV; every row carries ``metric_version``."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        return buf.getvalue()


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
) -> ReportResult:
    """Compute ``report`` over ``lake``.

    Args:
        report: the report to run.
        lake: the lake to read.
        period: ``daily``, ``weekly`` (Monday-based) or ``monthly``.
        start: first day included, in ``timezone`` (conversations by start time), or None.
        end: first day excluded (half-open range), or None.
        org: only this org (brand / page / app), or None for all.
        by: ``org`` for one row per period and org, or None.
        timezone: IANA zone in which days, weeks and months are cut.

    Returns:
        The :class:`ReportResult`.

    Raises:
        ConfigurationError: unknown period or grouping.
        LakeError: the lake is empty or unreadable.
    """
    if period not in PERIOD_UNITS:
        raise ConfigurationError(
            f"unknown period {period!r}", f"use one of: {', '.join(PERIOD_UNITS)}"
        )
    if by not in GROUPINGS:
        raise ConfigurationError(f"unknown --by {by!r}", "use --by org, or leave it out")
    keys = GROUPINGS[by]
    sql = report.sql().format(
        unit=PERIOD_UNITS[period],
        keys=keys,
        org_expr="org_id" if by == "org" else "CAST(NULL AS VARCHAR)",
        metric_version=METRIC_VERSION,
        days=day_filter("conversations", "first", "last"),
        days_ahead=day_filter("", "first", "ahead"),
    )
    t_start, t_end = day_range_utc(start, end, timezone)
    params = {
        "tz": timezone,
        "start": t_start,
        "end": t_end,
        "org": org,
        **day_params("first", None if start is None else start - timedelta(days=1)),
        **day_params("last", None if end is None else end + timedelta(days=1)),
        **day_params("ahead", None if end is None else end + timedelta(days=9)),
    }
    params = {k: v for k, v in params.items() if f"${k}" in sql}
    con = connect(lake)
    try:
        cur = con.execute(sql, params)
        columns = [d[0] for d in cur.description]
        rows = [dict(zip(columns, r, strict=True)) for r in cur.fetchall()]
    except duckdb.Error as exc:
        raise LakeError(
            f"report {report.name} failed on {lake.uri}: {str(exc).splitlines()[0]}",
            "check that the lake was written by this version of analytics (re-run collect)",
        ) from None
    finally:
        con.close()
    for row in rows:
        row["period"] = row["period"].isoformat() if row.get("period") else None
    return ReportResult(
        report=report.name,
        period=period,
        timezone=timezone,
        filters={
            "start_date": start.isoformat() if start else None,
            "end_date": end.isoformat() if end else None,
            "org": org,
            "by": by,
        },
        columns=columns,
        rows=rows,
    )
