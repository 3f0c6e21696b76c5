"""Ordering messages by conversation with memory bounded by a bucket, not by the input.

A file source must hand the pipeline whole conversations, in the order of their start
(:mod:`.file_source`). Sorting the whole input at once holds all of it in memory: 7.6 GB for
10 million messages (issue 14). Instead, the rows are spilled to disk and ordered in buckets:

1. the source's good rows are written, unsorted, to a Parquet file by polars' streaming engine
   (the caller does this, with the quarantine, in one pass over the input);
2. one streaming ``group_by`` over that file gives each conversation its start (its first
   message) and its number of messages: memory grows with conversations, not messages;
3. conversations are ordered by (start, id) and cut into consecutive buckets of about
   :data:`BUCKET_ROWS` messages (a conversation is never split);
4. one streaming pass writes every row to its bucket's folder (``pl.PartitionBy``);
5. each bucket, read back in order, is sorted in memory and written to its own sorted file.

Buckets are consecutive stretches of the global order, so reading the sorted files one after
another gives exactly the rows, in exactly the order, that one sort of the whole input gives:
the batches, their numbers (a resume skips batches by number) and every id are unchanged.
Spilled files live in the caller's temporary folder (``analytics-sort-*`` under ``TMPDIR``),
removed when the batches have been read; they take about the input's size in Parquet, twice.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from analytics_framework.model import ROLE_ORDER

BUCKET_ROWS = 250_000
"""Messages per bucket sorted in memory at once (about 100 MB of polars frames for typical
texts). Inputs up to this size are sorted in one piece, as before."""

ORDER = ("_conv_start", "conversation_id", "sent_at", "_role_rank", "message_id")
"""The order of the rows handed to batching: conversation start, conversation, time, role
(customer before agent at the same instant, :data:`~analytics_framework.model.ROLE_ORDER`),
then message id, so that ties are broken the same way on every run."""


def _with_keys(rows: pl.LazyFrame) -> pl.LazyFrame:
    return rows.with_columns(
        _role_rank=pl.col("role").replace_strict(ROLE_ORDER, default=9, return_dtype=pl.Int8)
    )


def sort_spilled(rows_path: Path, folder: Path, bucket_rows: int | None = None) -> list[Path]:
    """Order the rows of ``rows_path`` by conversation (see the module docstring).

    Args:
        rows_path: canonical message rows (:data:`~analytics_framework.model.MESSAGE_SCHEMA`
            and a source's extra columns), in any order.
        folder: an empty temporary folder for the buckets and the sorted files.
        bucket_rows: messages per bucket (None: :data:`BUCKET_ROWS`, read at each call).

    Returns:
        The sorted Parquet files, in order; read one after another they are the rows sorted
        by :data:`ORDER` (without its helper columns). An input without rows gives one empty
        file with the input's columns.
    """
    bucket_rows = bucket_rows or BUCKET_ROWS
    rows = pl.scan_parquet(rows_path)
    columns = rows.collect_schema().names()
    per_conversation = (
        rows.group_by("conversation_id")
        .agg(_conv_start=pl.col("sent_at").min(), _n=pl.len())
        .collect(engine="streaming")
        .sort("_conv_start", "conversation_id")
        .with_columns(_bucket=((pl.col("_n").cum_sum() - pl.col("_n")) // bucket_rows))
    )
    buckets = per_conversation["_bucket"].unique().sort().to_list()
    starts = per_conversation.lazy().select("conversation_id", "_conv_start", "_bucket")
    if len(buckets) <= 1:  # small input: one sort, in memory
        out = folder / "sorted-0.parquet"
        (
            _with_keys(rows.join(starts, on="conversation_id", how="left"))
            .sort(*ORDER)
            .select(columns)
            .sink_parquet(out)
        )
        return [out]
    spilled = folder / "buckets"
    rows.join(starts, on="conversation_id", how="left").sink_parquet(
        pl.PartitionBy(spilled, key="_bucket", include_key=False), mkdir=True
    )
    out_paths = []
    for bucket in buckets:
        out = folder / f"sorted-{bucket}.parquet"
        (
            _with_keys(pl.scan_parquet(spilled / f"_bucket={bucket}" / "**" / "*.parquet"))
            .sort(*ORDER)
            .select(columns)
            .collect()
            .write_parquet(out)
        )
        out_paths.append(out)
    return out_paths
