"""A computed report (:class:`ReportResult`) and how its values are rounded.

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
import hashlib
import io
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from analytics_framework.model import METRIC_VERSION
from analytics_framework.reports.spec import Column, Report

if TYPE_CHECKING:
    import polars as pl

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


def round_value(column: str, value: Any, places: int | None = None) -> Any:
    """Round one report value to its column's precision; non-floats are returned unchanged.

    Args:
        column: the column's name (its suffix picks the precision, :func:`decimals_for`).
        places: decimals to keep instead (from the column's declared unit).
        value: the value from DuckDB: a float or ``Decimal`` is rounded (and returned as a
            float), anything else (ints, strings, dates, None) passes through.

    Returns:
        The rounded float (``-0.0`` normalised to ``0.0``), or ``value`` itself.
    """
    if isinstance(value, bool) or not isinstance(value, float | Decimal):
        return value
    keep = decimals_for(column) if places is None else places
    return round(float(value), keep) + 0.0


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
    spec: Report | None = None
    derived: dict[str, Column] = field(default_factory=dict)
    note: str | None = None

    def __post_init__(self) -> None:
        """Round every float once, by its column's unit (or name), for every output.

        The rows are copied; only the float and ``Decimal`` cells go through
        :func:`round_value` (a year of daily reports has about 250,000 cells, 40 % of them
        floats).
        """
        places = {c: self._decimals(c) for c in self.columns}
        rows = []
        for source in self.rows:
            row = dict(source)
            for key, value in source.items():
                if isinstance(value, float | Decimal):
                    row[key] = round_value(key, value, places.get(key))
            rows.append(row)
        self.rows = rows

    def _decimals(self, column: str) -> int:
        if column in self.derived and self.derived[column].decimals is not None:
            return self.derived[column].decimals  # type: ignore[return-value]
        if self.spec is not None:
            declared = self.spec.column(column)
            if declared.decimals is not None:
                return declared.decimals
        return decimals_for(column)

    def column(self, name: str) -> Column:
        """Return the display metadata of column ``name`` (label, unit, section)."""
        if name in self.derived:
            return self.derived[name]
        if self.spec is not None:
            return self.spec.column(name)
        return Column(name, name)

    @property
    def keys(self) -> list[str]:
        """The columns that identify a row and are present in this result."""
        declared = self.spec.keys if self.spec is not None else ("period", "org_id")
        return [c for c in declared if c in self.columns]

    def to_json(self) -> str:
        """Return the report as a JSON document carrying the metric-definition version.

        Indented by two spaces, UTF-8 (non-ASCII text as is); values JSON cannot hold (a
        date) as their ``str``. Written by orjson: the standard library's encoder is pure
        Python once it indents (0.5 s over a year of daily reports).
        """
        doc = {
            "report": self.report,
            "metric_version": self.metric_version,
            "period": self.period,
            "timezone": self.timezone,
            "filters": self.filters,
            "rows": self.rows,
            **({"note": self.note} if self.note else {}),
        }
        return orjson.dumps(doc, default=str, option=orjson.OPT_INDENT_2).decode() + "\n"

    @property
    def key(self) -> str:
        """A hash of (report, period, zone, filters), naming the stored copy it replaces."""
        ident = {
            "report": self.report,
            "period": self.period,
            "timezone": self.timezone,
            "filters": self.filters,
        }
        blob = json.dumps(ident, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_frame(self) -> pl.DataFrame:
        """Return the rows as a frame, each row carrying the report's name, zone and filters."""
        import polars as pl

        frame = pl.DataFrame(self.rows, schema=self.columns, orient="row", infer_schema_length=None)
        return frame.with_columns(
            report=pl.lit(self.report),
            report_period=pl.lit(self.period),
            timezone=pl.lit(self.timezone),
            filters=pl.lit(json.dumps(self.filters, sort_keys=True, default=str)),
        )

    def to_csv(self) -> str:
        """Return the report as CSV; every row carries ``metric_version``."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")  # None is written as the empty string
        writer.writerow(self.columns)
        writer.writerows([row.get(c) for c in self.columns] for row in self.rows)
        return buf.getvalue()
