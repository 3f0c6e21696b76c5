r"""The floor: the least polars code that does ``collect``'s job, with none of its guarantees.

Read canonical messages (JSONL, CSV or Parquet: ``conversation_id``, ``message_id``,
``sent_at``, ``role``, ``sender_id``, ``org_id``, ``text``), compute each conversation's first
response time and response times (DESIGN.md: a human reply answering waiting customer
messages, measured from the first of them), and write messages and conversations as
Hive-partitioned Parquet by the conversation's start day. No quarantine, no stable ids, no
staging, no fsync, no state, no lock: the yardstick ``scripts/bench.py`` compares
``analytics collect`` with (issue 14: collect within 1.5x of it).

Usage:
    uv run python scripts/floor.py bench-data/jsonl-1000000.jsonl /tmp/floor-lake
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import polars as pl


def scan(path: str) -> pl.LazyFrame:
    """Return the input as a LazyFrame, ``sent_at`` parsed to UTC microseconds."""
    if path.endswith(".parquet"):
        frame = pl.scan_parquet(path)
    elif path.endswith(".csv"):
        frame = pl.scan_csv(path, infer_schema=False)
    else:
        frame = pl.scan_ndjson(path, infer_schema_length=None)
    sent = pl.col("sent_at")
    if frame.collect_schema()["sent_at"] == pl.String:
        sent = sent.str.to_datetime(time_zone="UTC", time_unit="us")
    return frame.with_columns(sent.dt.convert_time_zone("UTC").alias("sent_at"))


def run(src: str, out: str) -> dict[str, float]:
    """Do the job; return its wall seconds and counts."""
    t0 = time.perf_counter()
    messages = scan(src).sort("conversation_id", "sent_at").collect()
    role = pl.col("role")
    prev = role.shift().over("conversation_id")
    opens_wait = (role == "customer") & (prev.is_null() | (prev != "customer"))
    m = messages.with_columns(
        waiting_since=pl.when(opens_wait)
        .then(pl.col("sent_at"))
        .forward_fill()
        .over("conversation_id"),
        answers=(role == "agent") & (prev == "customer"),
        started_at=pl.col("sent_at").min().over("conversation_id"),
    )
    replies = m.filter(pl.col("answers")).select(
        "conversation_id",
        response_s=(pl.col("sent_at") - pl.col("waiting_since")).dt.total_microseconds() / 1e6,
    )
    per_reply = replies.group_by("conversation_id").agg(
        first_response_s=pl.col("response_s").first(),
        avg_response_s=pl.col("response_s").mean(),
        response_count=pl.len(),
    )
    conversations = (
        m.group_by("conversation_id")
        .agg(
            org_id=pl.col("org_id").first(),
            started_at=pl.col("sent_at").min(),
            ended_at=pl.col("sent_at").max(),
            message_count=pl.len(),
            customer_messages=(role == "customer").sum(),
            agent_messages=(role == "agent").sum(),
        )
        .join(per_reply, on="conversation_id", how="left")
    )
    day = [
        pl.col("started_at").dt.year().alias("year"),
        pl.col("started_at").dt.month().alias("month"),
        pl.col("started_at").dt.day().alias("day"),
    ]
    root = Path(out)
    conversations.with_columns(day).write_parquet(
        root / "conversations", partition_by=["year", "month", "day"]
    )
    m.drop("waiting_since", "answers").with_columns(day).drop("started_at").write_parquet(
        root / "messages", partition_by=["year", "month", "day"]
    )
    return {
        "seconds": time.perf_counter() - t0,
        "messages": messages.height,
        "conversations": conversations.height,
    }


def main() -> None:
    src, out = sys.argv[1], sys.argv[2]
    result = run(src, out)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
