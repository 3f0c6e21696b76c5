"""The lake's query layer: DuckDB over the Hive-partitioned Parquet tables, local or on S3.

:func:`connect` opens an in-memory DuckDB with one view per lake table (``conversations``,
``messages``, ``labels``, ``stage_changes``), partition columns typed as integers. A local lake is
read with ``read_parquet`` over its files; an S3 lake through DuckDB's ``httpfs`` (loaded from the
``duckdb-extension-httpfs`` package, since it cannot download itself offline) with an S3 secret,
or, when httpfs is unavailable, through pyarrow datasets on the lake's filesystem registered in
DuckDB — the same SQL, the same results, slower; the choice is logged.

:func:`day_filter` writes day-range filters on the ``year``/``month``/``day`` columns themselves,
which DuckDB prunes files with. Everything that reads the lake with SQL goes through here: the
reports (:mod:`analytics_framework.reports`), ``status``, the enrich stage, the loader and the
pipeline's per-user aggregates.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads

from analytics_framework.errors import LakeError
from analytics_framework.model import (
    CONVERSATION_SCHEMA,
    LABEL_SCHEMA,
    REPLY_SCHEMA,
    STAGE_CHANGE_SCHEMA,
    TRANSLATION_SCHEMA,
)
from analytics_framework.storage.lake import Lake

log = logging.getLogger(__name__)

HIVE_TYPES = "{'year': INTEGER, 'month': INTEGER, 'day': INTEGER}"
TABLES = (
    "conversations",
    "messages",
    "labels",
    "stage_changes",
    "replies",
    "scripts",
    "personas",
    "translations",
)


def load_httpfs(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
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


def started_in(
    start: date | None, end: date | None, org: str | None, timezone: str
) -> dict[str, Any]:
    """Return the parameters of "conversations started in [start, end) of org".

    ``$start``/``$end`` are the local days' UTC instants (None: open) and ``$org`` the org (None:
    all); ``first_*``/``last_*`` are :func:`day_params` for :func:`day_filter` ``("first",
    "last")``, a day wider on each side, since a partition's day is the conversation's start in
    the lake's own zone, not the reader's.
    """
    from analytics_framework.dates import day_range_utc

    lo, hi = day_range_utc(start, end, timezone)
    return {
        "start": lo,
        "end": hi,
        "org": org,
        **day_params("first", None if start is None else start - timedelta(days=1)),
        **day_params("last", None if end is None else end + timedelta(days=1)),
    }


def s3_reader() -> str:
    """Return how DuckDB should read an S3 lake: ``httpfs``, ``pyarrow`` or ``auto``.

    Set ``ANALYTICS_DUCKDB_S3_READER`` to force one (tests compare both).
    """
    return os.environ.get("ANALYTICS_DUCKDB_S3_READER", "auto")


def connect(
    lake: Lake,
    require: bool = True,
    keep_for: str | None = None,
    tables: Iterable[str] | None = None,
    check_schema: bool = True,
    files: dict[str, list[str]] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open DuckDB with a view per lake table (``conversations``, ``messages``, ``labels``).

    A local lake is read with ``read_parquet`` over its files. An S3 lake is read through DuckDB's
    httpfs (:func:`_load_httpfs`); when httpfs is unavailable, through pyarrow datasets on the
    lake's S3 filesystem registered in DuckDB — the same SQL, the same results, slower; the
    choice is logged. A missing ``labels`` table reads as an empty one.

    Args:
        lake: the lake.
        require: refuse a lake without conversations.
        keep_for: the SQL that many queries on this connection will run (an export's reports),
            or None: a small local lake's tables are then read into memory once, only the
            columns it names (:func:`_in_memory`).
        tables: read only these lake tables (the others read as empty), or None: all of
            them (``status`` asks only for the one it counts).
        check_schema: read every file's footer first to choose how the view reads the
            files (:func:`_one_schema`). False skips that pass (over two years of daily
            partitions, 0.3-0.4 s a table): DuckDB then takes the first file's columns and
            finds them by name in the others, so a query may name only columns that every
            file of the table has (ids, ``status``, the partition columns), never one added
            later (the ``labels`` view then gets no NULL columns for those either).
        files: for the tables named, read only these of their partition files (paths as
            :meth:`Lake.partition_files` lists them, without scheme) instead of all of them;
            an empty list reads as an empty table (``status`` counts only the partitions that
            changed since it last counted, :mod:`analytics_framework.storage.counts`).

    Raises:
        LakeError: the lake has no ``conversations`` table yet (when ``require``).
    """
    wanted = TABLES if tables is None else [t for t in TABLES if t in set(tables)]
    only = files or {}
    present = [t for t in wanted if (bool(only[t]) if t in only else lake.exists(t))]
    if require and not (
        "conversations" in present if "conversations" in wanted else lake.exists("conversations")
    ):
        raise LakeError(
            f"the lake at {lake.uri} has no conversations yet",
            "run 'analytics collect' (or 'analytics run') first, or pass --lake",
        )
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # DuckDB prints it on stdout after 2 s
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET parquet_metadata_cache = true")
    reader = "local"
    if lake.is_s3:
        reader = s3_reader()
        if reader in ("auto", "httpfs"):
            try:
                load_httpfs(con, lake)
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
    kept = _in_memory(con, lake, present, keep_for) if keep_for and reader == "local" else []
    for table in present:
        if table in kept:
            continue
        if reader == "pyarrow":
            dataset = pads.dataset(
                only.get(table, lake.path(table)),
                filesystem=lake.fs,
                format="parquet",
                partitioning=pads.partitioning(
                    pa.schema([("year", pa.int32()), ("month", pa.int32()), ("day", pa.int32())]),
                    flavor="hive",
                ),
                partition_base_dir=lake.path(table),
            )
            con.register(f"{table}_dataset", dataset)
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM {table}_dataset")
            continue
        if table in only:
            scheme = "s3://" if lake.is_s3 else ""
            paths = ", ".join("'" + (scheme + p).replace("'", "''") + "'" for p in only[table])
            glob = f"[{paths}]"
        else:
            glob = "'" + lake.table_glob(table).replace("'", "''") + "'"
        same = not check_schema or _one_schema(con, glob)
        by_name = "false" if reader == "local" and same else "true"
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet({glob}, "
            f"hive_partitioning = true, union_by_name = {by_name}, hive_types = {HIVE_TYPES})"
        )
    if "labels" in present and check_schema:
        # in memory, only the columns the SQL names were read
        named = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", keep_for or ""))
        _fill_missing(con, "labels", LABEL_SCHEMA, named if "labels" in kept else None)
    partition_cols = {"year": pl.Int32, "month": pl.Int32, "day": pl.Int32}
    if "conversations" not in present:
        empty = pl.DataFrame(schema={**CONVERSATION_SCHEMA, **partition_cols})
        con.register("conversations", empty.to_arrow())
    if "labels" not in present:  # reports join labels; an unlabeled lake has none yet
        empty = pl.DataFrame(schema={**LABEL_SCHEMA, **partition_cols})
        con.register("labels", empty.to_arrow())
    for table, schema in (
        ("stage_changes", STAGE_CHANGE_SCHEMA),
        ("replies", REPLY_SCHEMA),
        ("translations", TRANSLATION_SCHEMA),
    ):
        if table not in present:  # only Mochi has stages; lakes before replies have none
            empty = pl.DataFrame(schema={**schema, **partition_cols})
            con.register(table, empty.to_arrow())
    return con


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


IN_MEMORY_MAX_BYTES = 64 * 1024 * 1024
"""Tables whose files total more than this (on disk, compressed) stay views over their files."""


IN_MEMORY_TABLES = ("conversations", "labels", "replies", "stage_changes")
"""The tables :func:`_in_memory` may read into memory (not ``messages``: few reports read it)."""


def _in_memory(
    con: duckdb.DuckDBPyConnection,
    lake: Lake,
    present: list[str],
    sql: str,
    max_bytes: int = IN_MEMORY_MAX_BYTES,
) -> list[str]:
    """Read a small lake's tables once into memory, for a connection many reports will share.

    Scanning a table costs DuckDB about 50 µs of CPU per file and column before any row is read:
    over a year of daily partitions a report's scans cost several times its own work, and an
    export runs nine reports. When the files of :data:`IN_MEMORY_TABLES` total at most
    ``max_bytes``, each is read once by polars (several times faster than DuckDB over many small
    files) — only the columns ``sql`` names, plus the partition columns — and registered under
    the table's name, so the reports read memory instead (a ZIP export of a year of days: 4.1 s
    of reports became 1.7 s, plus 0.7 s to read; BENCHMARKS.md, issue 12). Larger lakes stay
    views over their files: memory stays bounded by ``max_bytes`` times the compression ratio.
    A table whose files differ in schema (a lake written before a column was added) stays a
    view too, read by name.

    Returns:
        The tables now in memory.
    """
    tables = [t for t in IN_MEMORY_TABLES if t in present]
    if not tables or sum(lake.table_bytes(t) for t in tables) > max_bytes:
        return []
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql))
    partition = ("year", "month", "day")
    kept = []
    for table in tables:
        try:
            scan = pl.scan_parquet(lake.table_glob(table), hive_partitioning=True)
            columns = [c for c in scan.collect_schema() if c in words and c not in partition]
            frame = scan.select(*columns, *(pl.col(c).cast(pl.Int32) for c in partition)).collect()
        except (pl.exceptions.PolarsError, OSError):
            continue
        con.register(table, frame.to_arrow())
        kept.append(table)
    return kept


FILLED_TYPES: dict[type[pl.DataType], str] = {
    pl.String: "VARCHAR",
    pl.Float64: "DOUBLE",
    pl.Int64: "BIGINT",
    pl.Boolean: "BOOLEAN",
    pl.Datetime: "TIMESTAMPTZ",
}
"""DuckDB's type for each polars type a table's optional column may have."""


def _fill_missing(
    con: duckdb.DuckDBPyConnection,
    table: str,
    schema: dict[str, Any],
    wanted: set[str] | None = None,
) -> None:
    """Give ``table`` every column of ``schema`` it lacks (of those in ``wanted``), as NULLs.

    Labels written before a column existed (``confidence`` before prompt version v2,
    ``objection_quote`` before v3) stay valid labels: the reports read the missing values as
    NULL (no confidence, no quote) instead of failing to bind. The table's view (over its
    files, or over the frame :func:`_in_memory` registered) is renamed ``<table>_stored`` and
    ``<table>`` becomes a view over it.
    """
    have = {row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()}
    missing = [c for c in schema if c not in have and (wanted is None or c in wanted)]
    if not missing:
        return
    nulls = ", ".join(f"CAST(NULL AS {FILLED_TYPES[type(schema[c])]}) AS {c}" for c in missing)
    # a view over files, or a frame registered in memory (which DuckDB keeps as a view too)
    con.execute(f"ALTER VIEW {table} RENAME TO {table}_stored")
    con.execute(f"CREATE VIEW {table} AS SELECT *, {nulls} FROM {table}_stored")


def _one_schema(con: duckdb.DuckDBPyConnection, glob: str) -> bool:
    """Return whether every file of ``glob`` has the same columns, in the same order and types.

    ``glob`` is SQL: a quoted glob, or a list of quoted paths.

    Then the view reads them by position, which costs about half as much per file as
    ``union_by_name`` (over a year of daily partitions, 1.3 s of a ZIP export's 4.8 s of
    reports); a lake written before a column was added has files without it, and is read by
    name (the missing column reads NULL). The footers read here stay in DuckDB's Parquet
    metadata cache for the queries that follow.
    """
    try:
        rows = con.execute(
            "SELECT file_name, name, type, logical_type, repetition_type "
            f"FROM parquet_schema({glob})"
        ).fetchall()
    except duckdb.Error:
        return False
    schemas: dict[str, list[tuple[Any, ...]]] = {}
    for file_name, *column in rows:
        schemas.setdefault(file_name, []).append(tuple(column))
    return len({tuple(columns) for columns in schemas.values()}) <= 1


def define_local_time(con: duckdb.DuckDBPyConnection, timezone: str) -> bool:
    """Define the macro ``local_ts(ts)``: a UTC instant as wall-clock time in ``timezone``.

    DuckDB's ``timezone(zone, ts)`` goes through ICU for every row, about 130 ns a value: 1.3 s
    over 10 million messages. Offsets change only at a zone's transitions, so the macro adds the
    offset in force instead — one integer addition — choosing it with a ``CASE`` over the
    transitions between the lake's first and last conversation (found with the standard
    library's ``zoneinfo``). Outside that span it falls back to ``timezone()``, so the result is
    always exact. For UTC it is a plain conversion.

    Args:
        con: a connection from :func:`connect` (its ``conversations`` view bounds the span).
        timezone: an IANA zone name (already validated by the settings).

    Returns:
        Whether every offset of the zone over the lake's span, and every change of offset, is
        a whole number of quarter-hours from UTC (true of every zone in use today; not of
        local mean times before 1900), so that a UTC quarter-hour lies in one local hour: the
        activity report's rollup needs it (``transform.conversations.QUARTER_S``).
    """
    import zoneinfo
    from datetime import UTC, datetime, timedelta

    exact = f"timezone('{timezone}', ts)"
    if timezone in ("UTC", "Etc/UTC"):
        con.execute("CREATE OR REPLACE TEMP MACRO local_ts(ts) AS make_timestamp(epoch_us(ts))")
        return True
    lo, hi = con.execute(
        "SELECT epoch_us(min(started_at)), epoch_us(max(ended_at)) FROM conversations"
    ).fetchone()  # type: ignore[misc]
    if lo is None or hi is None:
        con.execute(f"CREATE OR REPLACE TEMP MACRO local_ts(ts) AS {exact}")
        return True
    zone = zoneinfo.ZoneInfo(timezone)
    start = datetime.fromtimestamp(lo / 1e6, UTC).replace(minute=0, second=0, microsecond=0)
    end = datetime.fromtimestamp(hi / 1e6, UTC) + timedelta(hours=1)

    def offset_us(at: datetime) -> int:
        return int(at.astimezone(zone).utcoffset().total_seconds() * 1_000_000)  # type: ignore[union-attr]

    # segments of constant offset, found hour by hour (transitions fall on whole hours or
    # half hours; a segment boundary is refined to the minute)
    segments: list[tuple[int, int]] = [(int(start.timestamp() * 1_000_000), offset_us(start))]
    at = start
    while at < end:
        nxt = at + timedelta(hours=1)
        if offset_us(nxt) != segments[-1][1]:
            cut = at
            while offset_us(cut) == segments[-1][1]:
                cut += timedelta(minutes=1)
            segments.append((int(cut.timestamp() * 1_000_000), offset_us(cut)))
        at = nxt
    first, last = segments[0][0], int(end.timestamp() * 1_000_000)
    e = "epoch_us(ts)"
    branches = [f"WHEN {e} < {first} OR {e} >= {last} THEN {exact}"]
    bounds = [s for s, _ in segments[1:]] + [last]
    for (_, off), upper in zip(segments, bounds, strict=True):
        branches.append(f"WHEN {e} < {upper} THEN make_timestamp({e} + {off})")
    body = "CASE " + " ".join(branches) + f" ELSE {exact} END"
    con.execute(f"CREATE OR REPLACE TEMP MACRO local_ts(ts) AS {body}")
    quarter = 900_000_000
    return all(start % quarter == 0 and off % quarter == 0 for start, off in segments[1:]) and (
        segments[0][1] % quarter == 0
    )
