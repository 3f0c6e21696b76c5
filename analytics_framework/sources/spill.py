"""Ordering messages by conversation with memory bounded by a setting, not by the input.

A file source must hand the pipeline whole conversations, in the order of their start
(:mod:`.file_source`). Sorting the whole input at once in polars holds all of it in memory:
7.6 GB for 10 million messages (issue 14). Instead:

1. the source's good rows are written, unsorted, to a Parquet file by polars' streaming engine
   (the caller does this, with the quarantine, in one pass over the input);
2. an input of at most :data:`IN_MEMORY_ROWS` rows is sorted by polars in memory;
3. a bigger one is cut into buckets of whole conversations, consecutive in the order of
   their start, of about :data:`BUCKET_ROWS` rows each: DuckDB finds each conversation's
   start and message count (one ``GROUP BY``), numbers the buckets from the running count of
   messages in that order (one window over the conversations), and writes every row into its
   bucket's folder (``COPY … PARTITION_BY``), under ``memory_limit``
   ``ANALYTICS_SORT_MEMORY`` (160MB by default), spilling to ``<folder>/duckdb``; polars then
   sorts each bucket in memory, in bucket order, into one sorted file per bucket.

Both give the same rows in the same order (:data:`ORDER`), so batches, batch numbers (a resume
skips batches by number) and ids do not depend on the input's size. Measured (BENCHMARKS.md,
issue 14): bucketing in polars (a streaming join of every row to its bucket, then
``PartitionBy``) grew from 0.4 GB at 1M to 1.7 GB at 10M messages; one DuckDB ``ORDER BY``
of every row under 256MB took 2.9 s at 1M and 34-41 s at 10M (0.52 and 0.56 GB peak RSS); the
buckets take 1.35 s at 1M and 21 s at 10M (0.39 and 0.51 GB). Spilled files live in the caller's
temporary folder (``analytics-sort-*`` under ``TMPDIR``), removed when the batches have been
read; they take about the input's size in Parquet, two to three times.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from analytics_framework.errors import ConfigurationError
from analytics_framework.model import ROLE_ORDER
from analytics_framework.sources.batching import READ_CHUNK_ROWS

IN_MEMORY_ROWS = 250_000
"""Inputs of at most this many messages are sorted by polars in memory (about 100 MB of frames
for typical texts; faster than spilling)."""

BUCKET_ROWS = 250_000
"""Messages per bucket of a bigger input (whole conversations, so a bucket may hold more): each
is sorted by polars in memory, as an input of :data:`IN_MEMORY_ROWS` is."""

FLUSH_ROWS = 65_536
"""Rows DuckDB buffers per bucket before writing them to the bucket's folder."""

BUCKET_ROW_GROUP = 8_192
"""Rows per row group of a bucket's files: DuckDB holds one row group per open bucket file
(its default, 122,880 rows, took 40 buckets over a 10M input to 380 MiB under 256MB; 8,192 to
343 MiB, no slower)."""

SORTED_ROW_GROUP = READ_CHUNK_ROWS
"""Rows per row group of the sorted files, the rows batching reads at a time: it decodes one row
group at a time, so this, not the bucket, sets what the batch loop holds of the input."""

ORDER = ("_conv_start", "conversation_id", "sent_at", "_role_rank", "message_id")
"""The order of the rows handed to batching: conversation start, conversation, time, role
(customer before agent at the same instant, :data:`~analytics_framework.model.ROLE_ORDER`),
then message id, so that ties are broken the same way on every run."""


ROLE_RANK = pl.col("role").replace_strict(ROLE_ORDER, default=9, return_dtype=pl.Int8)
"""A message's role as its rank in :data:`ORDER` (unknown roles last)."""


def _sort_keys() -> list[pl.Expr]:
    """Return the expressions of :data:`ORDER`, ``_role_rank`` computed from the role."""
    return [ROLE_RANK if key == "_role_rank" else pl.col(key) for key in ORDER]


def _with_keys(rows: pl.LazyFrame) -> pl.LazyFrame:
    return rows.with_columns(_role_rank=ROLE_RANK)


def sort_spilled(
    rows_path: Path,
    folder: Path,
    memory: str = "160MB",
    in_memory_rows: int | None = None,
    bucket_rows: int | None = None,
) -> list[Path]:
    """Order the rows of ``rows_path`` by conversation (see the module docstring).

    Args:
        rows_path: canonical message rows (:data:`~analytics_framework.model.MESSAGE_SCHEMA`
            and a source's extra columns), in any order.
        folder: a temporary folder for the sorted files and DuckDB's spill.
        memory: DuckDB's ``memory_limit`` (setting ``ANALYTICS_SORT_MEMORY``).
        in_memory_rows: the most rows sorted in memory as one input (None:
            :data:`IN_MEMORY_ROWS`, read at each call).
        bucket_rows: messages per bucket of a bigger input (None: :data:`BUCKET_ROWS`, read
            at each call).

    Returns:
        Sorted Parquet files, to be read in turn: their rows, one after the other, sorted by
        :data:`ORDER`, with the input's columns and types; a conversation lies in one file.

    Raises:
        ConfigurationError: DuckDB ran out of ``memory`` (one line naming the setting).
    """
    limit = in_memory_rows if in_memory_rows is not None else IN_MEMORY_ROWS
    rows = pl.scan_parquet(rows_path)
    schema = rows.collect_schema()
    if pq.ParquetFile(rows_path).metadata.num_rows <= limit:
        out = folder / "sorted.parquet"
        starts = rows.group_by("conversation_id").agg(_conv_start=pl.col("sent_at").min())
        (
            _with_keys(rows.join(starts, on="conversation_id", how="left"))
            .sort(*ORDER)
            .select(schema.names())
            .sink_parquet(out, row_group_size=SORTED_ROW_GROUP)
        )
        return [out]
    buckets = folder / "buckets"
    size = bucket_rows if bucket_rows is not None else BUCKET_ROWS
    count = _bucket(rows_path, buckets, folder / "duckdb", memory, max(size, 1))
    out = []
    for n in range(count):
        part = buckets / f"_bucket={n}"
        if not part.exists():  # numbers are not all used when one conversation fills several
            continue
        # the order as row positions, then one gather: a sorted copy of the keys only, not of
        # every column (1M messages: 40 MiB less at the peak of this phase)
        frame = pl.read_parquet(part, hive_partitioning=False)
        order = frame.select(pl.arg_sort_by(_sort_keys())).to_series()
        frame = frame.select(schema.names()).cast(dict(schema))
        out.append(folder / f"sorted-{n:06d}.parquet")
        frame[order].write_parquet(out[-1], row_group_size=SORTED_ROW_GROUP)
        del frame, order
        shutil.rmtree(part)
    return out


def _bucket(rows_path: Path, buckets: Path, spill: Path, memory: str, bucket_rows: int) -> int:
    """Write every row of ``rows_path`` into its bucket's folder under ``buckets``.

    A conversation's bucket is the running count of messages before it, in the order of
    conversation start then id, divided by ``bucket_rows``; the rows gain ``_conv_start``
    (their conversation's start). DuckDB does it under ``memory``, spilling to ``spill``.
    Returns one more than the highest bucket number (0 without rows).

    Raises:
        ConfigurationError: DuckDB ran out of ``memory``.
    """
    import duckdb

    src = str(rows_path).replace("'", "''")
    dst = str(buckets).replace("'", "''")
    # no progress bar: DuckDB prints it on stdout for queries over 2 s; each thread needs its
    # share of the memory limit, so at most 4
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET threads = {min(os.cpu_count() or 1, 4)}")
        con.execute(f"SET memory_limit = '{memory}'")
        con.execute(f"SET temp_directory = '{str(spill).replace(chr(39), chr(39) * 2)}'")
        con.execute("SET preserve_insertion_order = false")
        # a bucket's rows are written out every FLUSH_ROWS, not held until the end (DuckDB's
        # default, 512k rows a bucket, held a whole 1M-row input in memory)
        con.execute(f"SET partitioned_write_flush_threshold = {FLUSH_ROWS}")
        con.execute(
            f"""
            CREATE TEMP TABLE starts AS
            SELECT
                conversation_id,
                _conv_start,
                CAST((sum(n) OVER (
                    ORDER BY _conv_start NULLS FIRST, conversation_id NULLS FIRST
                    ROWS UNBOUNDED PRECEDING
                ) - n) // {int(bucket_rows)} AS INTEGER) AS _bucket
            FROM (
                SELECT conversation_id, min(sent_at) AS _conv_start, count(*) AS n
                FROM read_parquet('{src}') GROUP BY conversation_id
            )
            """
        )
        (count,) = con.execute("SELECT coalesce(max(_bucket) + 1, 0) FROM starts").fetchone()  # type: ignore[misc]
        con.execute(
            f"""
            COPY (
                SELECT r.*, s._conv_start, s._bucket
                FROM read_parquet('{src}') AS r JOIN starts AS s USING (conversation_id)
            ) TO '{dst}' (FORMAT parquet, PARTITION_BY (_bucket), ROW_GROUP_SIZE {BUCKET_ROW_GROUP})
            """
        )
    except duckdb.OutOfMemoryException:
        raise ConfigurationError(
            f"sorting the input by conversation needs more than ANALYTICS_SORT_MEMORY={memory}",
            "raise ANALYTICS_SORT_MEMORY (e.g. 1GB)",
        ) from None
    finally:
        con.close()
    return int(count)
