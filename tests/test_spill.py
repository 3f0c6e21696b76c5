"""Sorting spilled rows out of memory gives exactly the one big sort (issue 14: flat memory).

File sources spill their rows and sort big inputs in buckets of whole conversations, written by
DuckDB under a memory limit and each sorted by polars (sources/spill.py). The rows must come out
in the same order, with the same types, as one polars sort of everything, so that batches, batch
numbers (a resume skips batches by number) and the lake do not depend on the input's size.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from analytics_framework.errors import ConfigurationError
from analytics_framework.model import ROLE_ORDER
from analytics_framework.settings import load_settings
from analytics_framework.sources import spill
from analytics_framework.sources.files import FilesSource
from analytics_framework.sources.spill import ORDER, sort_spilled


def messages(n_conversations: int, seed: int = 3) -> list[dict]:
    """Interleaved conversations, with ties: the same instant for a customer and an agent."""
    rng = random.Random(seed)
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    rows = []
    for c in range(n_conversations):
        start = t0 + timedelta(minutes=rng.randrange(0, 60 * 24 * 5))
        if c % 7 == 0:  # several conversations start at the same instant
            start = t0
        at = start
        for i in range(rng.randrange(1, 12)):
            role = rng.choice(["customer", "agent", "bot"])
            rows.append(
                {
                    "message_id": f"m{c}-{i}",
                    "conversation_id": f"c{c}",
                    "sent_at": at.isoformat(),
                    "role": role,
                    "sender_id": f"u{c}" if role == "customer" else "a1",
                    "org_id": "acme",
                    "text": f"message {i} of {c}",
                }
            )
            if rng.random() < 0.7:  # else the next message has the same time (a tie)
                at += timedelta(seconds=rng.randrange(1, 5000))
    rng.shuffle(rows)  # exports are not in conversation order
    return rows


def one_sort(frame: pl.DataFrame) -> pl.DataFrame:
    """The reference: everything sorted at once, as file sources did before buckets."""
    rank = pl.col("role").replace_strict(ROLE_ORDER, default=9, return_dtype=pl.Int8)
    return (
        frame.with_columns(
            _conv_start=pl.col("sent_at").min().over("conversation_id"), _role_rank=rank
        )
        .sort(*ORDER)
        .drop("_conv_start", "_role_rank")
    )


def spilled(tmp_path, rows: list[dict]):
    frame = pl.DataFrame(rows).with_columns(
        pl.col("sent_at").str.to_datetime(time_zone="UTC", time_unit="us")
    )
    path = tmp_path / "rows.parquet"
    frame.write_parquet(path)
    return frame, path


@pytest.mark.parametrize(
    ("in_memory_rows", "bucket_rows", "files"),
    [(0, 10**9, 1), (0, 200, 9), (0, 1, 300), (10**9, 1, 1)],
    ids=["one-bucket", "buckets", "a-bucket-a-conversation", "polars"],
)
def test_the_bucketed_and_the_in_memory_sort_are_the_one_sort(
    tmp_path, in_memory_rows, bucket_rows, files
):
    frame, path = spilled(tmp_path, messages(300))  # 1,777 rows
    out = tmp_path / "out"
    out.mkdir()
    paths = sort_spilled(path, out, in_memory_rows=in_memory_rows, bucket_rows=bucket_rows)
    assert len(paths) == files
    got = pl.read_parquet(paths)
    assert got.schema == frame.schema  # the same polars types, whichever sorted them
    assert got.equals(one_sort(frame))
    conversations = [set(pl.read_parquet(p)["conversation_id"]) for p in paths]
    assert sum(map(len, conversations)) == 300  # a conversation lies in one file


def test_a_conversation_bigger_than_a_bucket_is_one_bucket(tmp_path):
    rows = messages(40)
    t0 = datetime(2024, 4, 1, tzinfo=UTC)  # before every other: the first bucket
    rows += [
        {
            "message_id": f"big-{i}",
            "conversation_id": "big",
            "role": "customer",
            "sent_at": (t0 + timedelta(seconds=i)).isoformat(),
            "sender_id": "u",
            "org_id": "acme",
            "text": "x",
        }
        for i in range(500)
    ]
    frame, path = spilled(tmp_path, rows)
    paths = sort_spilled(path, tmp_path, in_memory_rows=0, bucket_rows=100)
    assert pl.read_parquet(paths[0])["conversation_id"].unique().to_list() == ["big"]
    assert pl.read_parquet(paths).equals(one_sort(frame))


def test_the_bucketed_sort_spills_under_its_memory_limit(tmp_path):
    frame, path = spilled(tmp_path, messages(20_000))  # 120,608 rows
    out = tmp_path / "out"
    out.mkdir()
    paths = sort_spilled(path, out, memory="48MB", in_memory_rows=0, bucket_rows=10_000)
    assert frame.height == 120_608 and len(paths) == 13
    assert pl.read_parquet(paths).equals(one_sort(frame))


def test_too_little_sort_memory_is_one_line_naming_the_setting(tmp_path):
    _, path = spilled(tmp_path, messages(2000))
    with pytest.raises(ConfigurationError) as exc:
        sort_spilled(path, tmp_path, memory="1MB", in_memory_rows=0)
    assert "ANALYTICS_SORT_MEMORY=1MB" in str(exc.value) and "\n" not in str(exc.value)


def test_file_source_batches_do_not_depend_on_how_they_were_sorted(tmp_path, monkeypatch):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in messages(400)) + "\n")

    def batches() -> list[pl.DataFrame]:
        source = FilesSource(str(src), load_settings())
        return [b.messages for b in source.batches(25) if b.messages.height]

    in_memory = batches()
    monkeypatch.setattr(spill, "IN_MEMORY_ROWS", 0)  # every input in buckets
    monkeypatch.setattr(spill, "BUCKET_ROWS", 97)  # about 17 conversations a bucket
    external = batches()
    assert len(external) == len(in_memory) == 16
    assert all(a.equals(b) for a, b in zip(in_memory, external, strict=True))
