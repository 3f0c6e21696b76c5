"""Reading JSON Lines in chunks, never mapped into memory whole (issue 14: flat memory).

``pl.scan_ndjson`` maps its whole file into memory, and the pages it has read stay resident: a
10M-message export held its 1.6 GB, twice over when two sinks read the scan (BENCHMARKS.md,
2026-12-03 evening). :func:`scan_jsonl` gives the same frame from ordinary reads of a chunk of
whole lines at a time; the files source reads every JSON Lines input with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
from polars.io.plugins import register_io_source

JSONL_CHUNK_BYTES = 8 << 20
"""Bytes of JSON Lines :func:`scan_jsonl` reads and parses at a time (whole lines)."""


def scan_jsonl(
    path: Path,
    schema: dict[str, pl.DataType] | None = None,
    infer_schema_length: int = 1000,
    chunk_bytes: int | None = None,
) -> pl.LazyFrame:
    """Scan a JSON Lines file lazily, ``chunk_bytes`` of whole lines at a time.

    The same rows, columns and errors as ``pl.scan_ndjson(path, schema=schema,
    infer_schema_length=infer_schema_length)``, parsed by the same polars reader, but with memory
    set by the chunk size (see the module docstring). The file is read with ordinary reads, cut
    after its last newline in each chunk, and each chunk parsed by ``pl.read_ndjson`` with one
    schema: the given one, else the one polars infers from the first ``infer_schema_length``
    non-blank lines (as ``scan_ndjson`` does). The frame is a polars IO source
    (``register_io_source``), so projections and filters are applied chunk by chunk and the scan
    runs once however many sinks read it. ``chunk_bytes`` None reads :data:`JSONL_CHUNK_BYTES` at
    each call.

    Raises:
        polars.exceptions.ComputeError: when a line cannot be parsed, as ``scan_ndjson`` does
            (the schema is inferred at once; the other lines are parsed as the frame is read).
        OSError: the file cannot be read.
    """
    if schema is None:
        with path.open("rb") as fh:
            head: list[bytes] = []
            for line in fh:
                if line.strip():
                    head.append(line if line.endswith(b"\n") else line + b"\n")
                    if len(head) == infer_schema_length:
                        break
        schema = dict(pl.read_ndjson(b"".join(head), infer_schema_length=None).schema)
    full = dict(schema)
    size = chunk_bytes if chunk_bytes is not None else JSONL_CHUNK_BYTES

    def chunks(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        names = list(full) if with_columns is None else list(with_columns)
        needed = names if predicate is None else [*names, *predicate.meta.root_names()]
        wanted = {c: full[c] for c in full if c in needed}
        left = n_rows
        with path.open("rb") as fh:
            rest = b""
            while left is None or left > 0:
                data = fh.read(size)
                cut = data.rfind(b"\n") + 1
                if data and not cut:  # no line ends in this chunk: read on
                    rest += data
                    continue
                chunk = rest + data[:cut] if rest else data[:cut]
                rest = data[cut:]
                if chunk and not chunk.isspace():
                    frame = pl.read_ndjson(chunk, schema=wanted)
                    if predicate is not None:
                        frame = frame.filter(predicate)
                    if frame.columns != names:
                        frame = frame.select(names)
                    if left is not None:
                        frame = frame.head(left)
                        left -= frame.height
                    yield frame
                if not data:
                    return

    return register_io_source(
        chunks, schema=full, is_pure=True, explain_name="jsonl", explain_detail=str(path)
    )
