"""Ordering messages by conversation with memory bounded by a setting, not by the input.

A file source must hand the pipeline whole conversations, in the order of their start
(:mod:`.file_source`). Sorting the whole input at once in polars holds all of it in memory:
7.6 GB for 10 million messages (issue 14). Instead:

1. the source's good rows are written, unsorted, to a Parquet file by polars' streaming engine
   (the caller does this, with the quarantine, in one pass over the input: about 120 MB of
   anonymous memory at 1M and at 3M messages);
2. an input of at most :data:`IN_MEMORY_ROWS` rows is sorted by polars in memory;
3. a bigger one is sorted by DuckDB's external sort (``ORDER BY`` under ``memory_limit``
   ``ANALYTICS_SORT_MEMORY``, 256MB by default, spilling to ``<folder>/duckdb``), joined to
   each conversation's start from one ``GROUP BY``, and written to one sorted Parquet file.

Both give the same rows in the same order (:data:`ORDER`), so batches, batch numbers (a resume
skips batches by number) and ids do not depend on the input's size. Measured (BENCHMARKS.md,
issue 14): bucketing in polars (a streaming join of every row to its conversation's bucket,
then ``PartitionBy``) still grew from 0.4 to 0.8 GB between 1M and 3M messages; DuckDB's sort
took 0.35-0.37 GB at 1M and 3M, 0.45 GB at 10M (41 s there, the price of spilling).
Spilled files live in the caller's temporary folder (``analytics-sort-*`` under ``TMPDIR``),
removed when the batches have been read; they take about the input's size in Parquet, two to
three times.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from analytics_framework.errors import ConfigurationError
from analytics_framework.model import ROLE_ORDER

IN_MEMORY_ROWS = 250_000
"""Inputs of at most this many messages are sorted by polars in memory (about 100 MB of frames
for typical texts; faster than spilling)."""

ORDER = ("_conv_start", "conversation_id", "sent_at", "_role_rank", "message_id")
"""The order of the rows handed to batching: conversation start, conversation, time, role
(customer before agent at the same instant, :data:`~analytics_framework.model.ROLE_ORDER`),
then message id, so that ties are broken the same way on every run."""


def _with_keys(rows: pl.LazyFrame) -> pl.LazyFrame:
    return rows.with_columns(
        _role_rank=pl.col("role").replace_strict(ROLE_ORDER, default=9, return_dtype=pl.Int8)
    )


def sort_spilled(
    rows_path: Path, folder: Path, memory: str = "256MB", in_memory_rows: int | None = None
) -> Path:
    """Order the rows of ``rows_path`` by conversation (see the module docstring).

    Args:
        rows_path: canonical message rows (:data:`~analytics_framework.model.MESSAGE_SCHEMA`
            and a source's extra columns), in any order.
        folder: a temporary folder for the sorted file and DuckDB's spill.
        memory: DuckDB's ``memory_limit`` (setting ``ANALYTICS_SORT_MEMORY``).
        in_memory_rows: the most rows sorted in memory (None: :data:`IN_MEMORY_ROWS`, read at
            each call).

    Returns:
        The sorted Parquet file: the rows sorted by :data:`ORDER`, with the input's columns
        and types.

    Raises:
        ConfigurationError: DuckDB ran out of ``memory`` (one line naming the setting).
    """
    limit = in_memory_rows if in_memory_rows is not None else IN_MEMORY_ROWS
    out = folder / "sorted.parquet"
    rows = pl.scan_parquet(rows_path)
    schema = rows.collect_schema()
    if pq.ParquetFile(rows_path).metadata.num_rows <= limit:
        starts = rows.group_by("conversation_id").agg(_conv_start=pl.col("sent_at").min())
        (
            _with_keys(rows.join(starts, on="conversation_id", how="left"))
            .sort(*ORDER)
            .select(schema.names())
            .sink_parquet(out)
        )
        return out
    _external_sort(rows_path, out, folder / "duckdb", schema, memory)
    return out


def _external_sort(rows_path: Path, out: Path, spill: Path, schema: pl.Schema, memory: str) -> None:
    """Sort ``rows_path`` into ``out`` with DuckDB under ``memory``.

    The output is read back with the input's polars types (``schema``): DuckDB writes strings,
    integers and UTC timestamps as polars wrote them, and the check below fails loudly
    otherwise rather than handing the pipeline other types.
    """
    import duckdb

    rank = " ".join(f"WHEN '{role}' THEN {n}" for role, n in ROLE_ORDER.items())
    src = str(rows_path).replace("'", "''")
    dst = str(out).replace("'", "''")
    # no progress bar: DuckDB prints it on stdout for queries over 2 s; each thread needs its
    # share of the memory limit, so at most 4
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET threads = {min(os.cpu_count() or 1, 4)}")
        con.execute(f"SET memory_limit = '{memory}'")
        con.execute(f"SET temp_directory = '{str(spill).replace(chr(39), chr(39) * 2)}'")
        con.execute("SET preserve_insertion_order = false")
        con.execute(
            f"""
            COPY (
                WITH r AS (SELECT * FROM read_parquet('{src}')),
                s AS (
                    SELECT conversation_id, min(sent_at) AS _conv_start
                    FROM r GROUP BY conversation_id
                )
                SELECT r.* FROM r JOIN s USING (conversation_id)
                ORDER BY s._conv_start NULLS FIRST, r.conversation_id NULLS FIRST,
                         r.sent_at NULLS FIRST, CASE r.role {rank} ELSE 9 END,
                         r.message_id NULLS FIRST
            ) TO '{dst}' (FORMAT parquet, ROW_GROUP_SIZE 65536)
            """
        )
    except duckdb.OutOfMemoryException:
        raise ConfigurationError(
            f"sorting the input by conversation needs more than ANALYTICS_SORT_MEMORY={memory}",
            "raise ANALYTICS_SORT_MEMORY (e.g. 1GB)",
        ) from None
    finally:
        con.close()
    written = pl.scan_parquet(out).collect_schema()
    if written != schema:
        raise RuntimeError(f"the external sort changed the rows' types: {written} != {schema}")
