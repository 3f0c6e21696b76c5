"""Cutting a Parquet file sorted by conversation into batches of whole conversations."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

READ_CHUNK_ROWS = 16_384
"""Rows read at a time from the sorted temporary file."""


def conversation_chunks(paths: Sequence[Path], batch_size: int) -> Iterator[pl.DataFrame]:
    """Read Parquet files sorted by conversation and yield frames of ``batch_size`` conversations.

    ``paths`` are read in turn; their rows, one after the other, are sorted
    (:func:`.spill.sort_spilled`). The last conversation of a chunk may continue in the next
    chunk, so it is carried over until the end of the input. Rows are sorted, so conversation
    ordinals (``rle_id``) are non-decreasing and a batch is a slice found by binary search.
    """
    carry: pl.DataFrame | None = None
    for path in paths:
        for rb in pq.ParquetFile(path).iter_batches(batch_size=READ_CHUNK_ROWS):
            frame = pl.from_arrow(rb)
            assert isinstance(frame, pl.DataFrame)
            if carry is not None and carry.height:
                frame = pl.concat([carry, frame], how="vertical_relaxed")
            carry = yield from _cut(frame, batch_size, final=False)
    if carry is not None and carry.height:
        yield from _cut(carry, batch_size, final=True)


def _cut(frame: pl.DataFrame, batch_size: int, *, final: bool) -> Iterator[pl.DataFrame]:
    """Yield slices of ``batch_size`` whole conversations; return the unfinished rest.

    Unless ``final``, the last conversation in ``frame`` may continue in the next chunk and is
    never emitted here.
    """
    ordinal = frame.get_column("conversation_id").rle_id()
    n_conv = int(ordinal[-1]) + 1
    complete = n_conv if final else n_conv - 1
    offset = 0
    for first in range(0, complete - (0 if final else batch_size - 1), batch_size):
        upto = min(first + batch_size, complete)
        end = int(ordinal.search_sorted(upto, side="left"))
        yield frame.slice(offset, end - offset)
        offset = end
    return frame.slice(offset)
