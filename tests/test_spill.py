"""Ordering by conversation in buckets gives exactly the one big sort (issue 14: flat memory).

File sources spill their rows and sort them bucket by bucket (sources/spill.py). Read one after
another, the buckets must be the same rows in the same order as one sort of everything, so that
batches, batch numbers (a resume skips batches by number) and the lake are unchanged.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

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


@pytest.mark.parametrize("bucket_rows", [1, 7, 50, 10**9])
def test_buckets_read_in_order_are_the_one_sort(tmp_path, bucket_rows):
    frame, path = spilled(tmp_path, messages(300))
    out = tmp_path / "out"
    out.mkdir()
    files = sort_spilled(path, out, bucket_rows)
    got = pl.concat([pl.read_parquet(f) for f in files])
    assert got.equals(one_sort(frame))
    if bucket_rows == 50:
        assert len(files) > 10  # many buckets, each a consecutive stretch
        ids = [set(pl.read_parquet(f)["conversation_id"]) for f in files]  # none split
        assert all(not (a & b) for i, a in enumerate(ids) for b in ids[i + 1 :])
    if bucket_rows == 10**9:
        assert len(files) == 1


def test_a_conversation_longer_than_a_bucket_stays_whole(tmp_path):
    rows = messages(20)
    long = [
        {**rows[0], "message_id": f"long-{i}", "conversation_id": "long", "text": str(i)}
        for i in range(40)
    ]
    frame, path = spilled(tmp_path, rows + long)
    out = tmp_path / "out"
    out.mkdir()
    files = sort_spilled(path, out, 10)
    holding = [f for f in files if "long" in set(pl.read_parquet(f)["conversation_id"])]
    assert len(holding) == 1
    assert pl.concat([pl.read_parquet(f) for f in files]).equals(one_sort(frame))


def test_file_source_batches_do_not_depend_on_the_bucket_size(tmp_path, monkeypatch):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in messages(400)) + "\n")

    def batches() -> list[pl.DataFrame]:
        source = FilesSource(str(src), load_settings())
        return [b.messages for b in source.batches(25) if b.messages.height]

    whole = batches()
    monkeypatch.setattr(spill, "BUCKET_ROWS", 60)  # about 10 conversations a bucket
    bucketed = batches()
    assert len(bucketed) == len(whole) == 16
    assert all(a.equals(b) for a, b in zip(whole, bucketed, strict=True))
