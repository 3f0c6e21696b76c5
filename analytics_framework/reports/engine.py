"""Running report SQL with DuckDB over the lake, and writing the results.

Each report is one SQL file in ``reports/sql/``. The engine opens an in-memory DuckDB, defines a
view per lake table over its Hive-partitioned Parquet files (partition columns typed as
integers), fills the SQL's whitelisted placeholders (period unit, grouping keys) and binds the
user's values as parameters, never as text.

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
import os
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads

from analytics_framework.dates import day_range_utc
from analytics_framework.errors import ConfigurationError, LakeError
from analytics_framework.model import CONVERSATION_SCHEMA, LABEL_SCHEMA, METRIC_VERSION
from analytics_framework.storage.lake import Lake

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


HIVE_TYPES = "{'year': INTEGER, 'month': INTEGER, 'day': INTEGER}"
TABLES = ("conversations", "messages", "labels")


def _load_httpfs(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    """Load DuckDB's httpfs from the ``duckdb-extension-httpfs`` package and add an S3 secret.

    The extension cannot download itself without internet, so it is loaded from the file the
    PyPI package ships for this DuckDB version.

    Raises:
        ImportError / duckdb.Error / FileNotFoundError: httpfs is not available.
    """
    import duckdb_extension_httpfs

    root = Path(duckdb_extension_httpfs.__file__).parent / "extensions"
    wanted = root / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    if not wanted.exists():
        raise FileNotFoundError(f"no httpfs build for duckdb {duckdb.__version__} in {root}")
    con.execute(f"LOAD '{wanted.as_posix()}'")
    opts = lake.s3
    parts = [
        "TYPE s3",
        f"REGION '{opts.region}'" if opts else None,
        f"KEY_ID '{opts.access_key}'" if opts and opts.access_key else None,
        f"SECRET '{opts.secret_key}'" if opts and opts.secret_key else None,
        f"SESSION_TOKEN '{opts.session_token}'" if opts and opts.session_token else None,
        f"ENDPOINT '{opts.host}'" if opts and opts.host else None,
        "URL_STYLE 'path'" if opts and opts.host else None,
        f"USE_SSL {str(opts.scheme == 'https').lower()}" if opts and opts.host else None,
    ]
    con.execute(f"CREATE SECRET lake_s3 ({', '.join(p for p in parts if p)})")


def day_filter(alias: str, lo: str, hi: str) -> str:
    """Return SQL keeping partition days in ``[$lo, $hi]`` (inclusive, either bound open).

    The bounds are parameters ``${lo}_y``, ``${lo}_m``, ``${lo}_d`` (and ``hi``) filled by
    :func:`day_params`. The test is written on the ``year``/``month``/``day`` columns
    themselves because that is what DuckDB's Hive partition pruning understands: the same
    bounds through ``make_date(year, month, day)`` read every file (checked with EXPLAIN
    ANALYZE in the tests).
    """
    c = f"{alias}." if alias else ""
    y, m, d = f"{c}year", f"{c}month", f"{c}day"
    return (
        f"(${lo}_y IS NULL OR {y} > ${lo}_y OR ({y} = ${lo}_y AND ({m} > ${lo}_m "
        f"OR ({m} = ${lo}_m AND {d} >= ${lo}_d)))) "
        f"AND (${hi}_y IS NULL OR {y} < ${hi}_y OR ({y} = ${hi}_y AND ({m} < ${hi}_m "
        f"OR ({m} = ${hi}_m AND {d} <= ${hi}_d))))"
    )


def day_params(name: str, day: date | None) -> dict[str, int | None]:
    """Return the ``{name}_y/_m/_d`` parameters of :func:`day_filter` for ``day`` (or None)."""
    return {
        f"{name}_y": day.year if day else None,
        f"{name}_m": day.month if day else None,
        f"{name}_d": day.day if day else None,
    }


def s3_reader() -> str:
    """Return how DuckDB should read an S3 lake: ``httpfs``, ``pyarrow`` or ``auto``.

    Set ``ANALYTICS_DUCKDB_S3_READER`` to force one (tests compare both).
    """
    return os.environ.get("ANALYTICS_DUCKDB_S3_READER", "auto")


def connect(lake: Lake, require: bool = True) -> duckdb.DuckDBPyConnection:
    """Open DuckDB with a view per lake table (``conversations``, ``messages``, ``labels``).

    A local lake is read with ``read_parquet`` over its files. An S3 lake is read through DuckDB's
    httpfs (:func:`_load_httpfs`); when httpfs is unavailable, through pyarrow datasets on the
    lake's S3 filesystem registered in DuckDB — the same SQL, the same results, slower; the
    choice is logged. A missing ``labels`` table reads as an empty one.

    Raises:
        LakeError: the lake has no ``conversations`` table yet (when ``require``).
    """
    present = [t for t in TABLES if lake.exists(t)]
    if require and "conversations" not in present:
        raise LakeError(
            f"the lake at {lake.uri} has no conversations yet",
            "run 'analytics collect' (or 'analytics run') first, or pass --lake",
        )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    reader = "local"
    if lake.is_s3:
        reader = s3_reader()
        if reader in ("auto", "httpfs"):
            try:
                _load_httpfs(con, lake)
                reader = "httpfs"
                log.info("reading %s with DuckDB httpfs", lake.uri)
            except (ImportError, FileNotFoundError, duckdb.Error) as exc:
                if reader == "httpfs":
                    raise LakeError(
                        f"DuckDB httpfs is unavailable: {exc}",
                        "install duckdb-extension-httpfs matching duckdb, or unset "
                        "ANALYTICS_DUCKDB_S3_READER",
                    ) from None
                log.warning("DuckDB httpfs unavailable (%s): reading S3 through pyarrow", exc)
                reader = "pyarrow"
    for table in present:
        if reader == "pyarrow":
            dataset = pads.dataset(
                lake.path(table),
                filesystem=lake.fs,
                format="parquet",
                partitioning=pads.partitioning(
                    pa.schema([("year", pa.int32()), ("month", pa.int32()), ("day", pa.int32())]),
                    flavor="hive",
                ),
            )
            con.register(f"{table}_dataset", dataset)
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM {table}_dataset")
            continue
        glob = lake.table_glob(table).replace("'", "''")
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{glob}', "
            f"hive_partitioning = true, union_by_name = true, hive_types = {HIVE_TYPES})"
        )
    partition_cols = {"year": pl.Int32, "month": pl.Int32, "day": pl.Int32}
    if "conversations" not in present:
        empty = pl.DataFrame(schema={**CONVERSATION_SCHEMA, **partition_cols})
        con.register("conversations", empty.to_arrow())
    if "labels" not in present:  # reports join labels; an unlabeled lake has none yet
        empty = pl.DataFrame(schema={**LABEL_SCHEMA, **partition_cols})
        con.register("labels", empty.to_arrow())
    return con


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


def user_aggregates(lake: Lake, customers: set[str], agents: set[str]) -> list[dict[str, Any]]:
    """Per-customer and per-agent aggregates over the whole lake, for the ids given.

    Returns:
        Dicts with ``kind`` (customer/agent), ``user_id``, ``conversations``, ``messages``
        (customers), ``first_seen``, ``last_seen``, ``frt_mean_s`` (mean first response time of
        their conversations, seconds), ``unanswered`` (customers) and ``orgs``.
    """
    if not (customers or agents) or not lake.exists("conversations"):
        return []
    con = connect(lake)
    try:
        for name, ids in (("touched_customers", customers), ("touched_agents", agents)):
            con.register(name, pa.table({"id": pa.array(sorted(ids), pa.string())}))
        cur = con.execute(
            """
            SELECT 'customer' AS kind, customer_id AS user_id, count(*) AS conversations,
                   CAST(sum(message_count) AS BIGINT) AS messages, min(started_at) AS first_seen,
                   max(ended_at) AS last_seen,
                   avg(CAST(first_response_s AS DECIMAL(18, 6))) AS frt_mean_s,
                   count(*) FILTER (WHERE customer_messages > 0 AND first_response_s IS NULL)
                       AS unanswered,
                   list(DISTINCT org_id ORDER BY org_id) AS orgs
            FROM conversations WHERE customer_id IN (SELECT id FROM touched_customers)
            GROUP BY customer_id
            UNION ALL
            SELECT 'agent', agent, count(*), CAST(sum(agent_messages) AS BIGINT),
                   min(started_at), max(ended_at),
                   avg(CAST(first_response_s AS DECIMAL(18, 6))), NULL,
                   list(DISTINCT org_id ORDER BY org_id)
            FROM (SELECT unnest(agent_ids) AS agent, * FROM conversations)
            WHERE agent IN (SELECT id FROM touched_agents)
            GROUP BY agent
            """
        )
        return pl.from_arrow(cur.to_arrow_table()).to_dicts()  # type: ignore[union-attr]
    finally:
        con.close()
