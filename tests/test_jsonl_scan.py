"""JSON Lines are read in chunks, never mapped into memory whole (issue 14: flat memory).

``pl.scan_ndjson`` maps its whole file: a 10M-message export held its 2 GB resident, twice when
two sinks read the scan. ``sources.jsonl.scan_jsonl`` reads chunks of whole lines with ordinary
reads and parses each with polars. It must give exactly what ``scan_ndjson`` gives (rows, types,
errors) whatever the chunk size, so that the files source's batches, ids and quarantine do not
change.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from analytics_framework.settings import load_settings
from analytics_framework.sources import jsonl
from analytics_framework.sources.files import FilesSource
from analytics_framework.sources.jsonl import scan_jsonl

INPUTS = {
    "blank-lines": b'{"a":1,"b":"x"}\n\n{"a":2,"b":"y"}\n   \n{"a":3}\n',
    "crlf": b'{"a":1,"b":"x"}\r\n{"a":2,"b":"y"}\r\n',
    "no-final-newline": b'{"a":1,"b":"x"}\n{"a":2,"b":"y"}',
    "a-key-after-the-first-line": b'{"a":1}\n{"a":2,"c":"new"}\n',
    "nested-and-unicode": b'{"a":1,"m":{"k":[1,2]},"s":"\xc3\xa9\\n"}\n{"a":2,"m":null,"s":"z"}\n',
    "lines-longer-than-a-chunk": (b'{"a":1,"b":"' + b"x" * 700 + b'"}\n{"a":2,"b":"y"}\n') * 3,
    "a-key-past-the-inferred-lines": b"".join(b'{"a":%d}\n' % i for i in range(1200))
    + b'{"a":1,"z":"zz"}\n',
    # errors: the same exception as scan_ndjson's
    "a-type-past-the-inferred-lines": b"".join(b'{"a":%d}\n' % i for i in range(1200))
    + b'{"a":"zz"}\n',
    "a-line-that-is-not-json": b'{"a":1}\nnot json\n',
    "a-byte-order-mark": b'\xef\xbb\xbf{"a":1,"b":"x"}\n{"a":2,"b":"y"}\n',
    "empty": b"",
}


def outcome(lf_of) -> tuple[str, pl.DataFrame | None]:
    try:
        return "rows", lf_of().with_row_index("r", offset=1).collect()
    except pl.exceptions.PolarsError as exc:
        return type(exc).__name__, None


@pytest.mark.parametrize("chunk_bytes", [1, 64, None], ids=["1-byte", "64-bytes", "default"])
@pytest.mark.parametrize("name", list(INPUTS))
def test_chunks_give_what_scan_ndjson_gives(tmp_path, name, chunk_bytes):
    path = tmp_path / "in.jsonl"
    path.write_bytes(INPUTS[name])
    kind, expected = outcome(lambda: pl.scan_ndjson(path, infer_schema_length=1000))
    got_kind, got = outcome(lambda: scan_jsonl(path, chunk_bytes=chunk_bytes))
    assert got_kind == kind
    if expected is not None:
        assert got is not None
        assert got.schema == expected.schema
        assert got.equals(expected)


def test_projection_filter_and_head_are_applied_chunk_by_chunk(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"".join(b'{"a":%d,"b":"v%d"}\n' % (i, i) for i in range(1000)))
    lf = scan_jsonl(path, chunk_bytes=100)
    assert lf.filter(pl.col("a") >= 990).select("b").collect()["b"].to_list() == [
        f"v{i}" for i in range(990, 1000)
    ]
    assert lf.head(7).collect()["a"].to_list() == list(range(7))
    assert lf.select(pl.len()).collect().item() == 1000


def test_the_file_is_never_mapped_into_memory(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"".join(b'{"a":%d,"b":"x%d"}\n' % (i, i) for i in range(50_000)))
    mapped: list[bool] = []

    def look(frame: pl.DataFrame) -> pl.DataFrame:  # runs while the scan is reading
        mapped.append(str(path) in Path("/proc/self/maps").read_text())
        return frame

    scan_jsonl(path, chunk_bytes=1 << 15).map_batches(look, streamable=True).sink_parquet(
        tmp_path / "out.parquet"
    )
    assert len(mapped) > 1
    assert not any(mapped)
    assert pl.read_parquet(tmp_path / "out.parquet").height == 50_000


def test_the_files_source_reads_the_same_batches_and_quarantine_in_small_chunks(
    tmp_path, monkeypatch
):
    rows = [
        {
            "message_id": f"m{c}-{i}",
            "conversation_id": f"c{c}",
            "sent_at": f"2024-05-01T{c % 24:02d}:{i:02d}:00Z",
            "role": "customer" if i % 2 == 0 else "agent",
            "sender_id": f"u{c}" if i % 2 == 0 else "a1",
            "text": f"message {i} of {c}",
        }
        for c in range(60)
        for i in range(5)
    ]
    lines = [json.dumps(r) for r in rows]
    lines[17] = '{"message_id": "broken", '  # one malformed line: quarantined, not the file
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")

    def run() -> tuple[list[pl.DataFrame], pl.DataFrame]:
        batches = list(FilesSource(str(src), load_settings()).batches(7))
        good = [b.messages for b in batches if b.messages.height]
        return good, pl.concat([b.rejected for b in batches])

    whole, whole_bad = run()
    monkeypatch.setattr(jsonl, "JSONL_CHUNK_BYTES", 300)  # two or three lines a chunk
    chunked, chunked_bad = run()
    assert whole_bad["record"].to_list() == ["in.jsonl line 18"]
    assert chunked_bad.equals(whole_bad)
    assert sum(b.height for b in whole) == len(rows) - 1
    assert len(chunked) == len(whole)
    assert all(a.equals(b) for a, b in zip(whole, chunked, strict=True))
