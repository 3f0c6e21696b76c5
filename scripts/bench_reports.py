r"""Time every report of the catalogue over one lake (the issue's bar: under 1 s at 10M messages).

Build the lake first, e.g. 10 million messages:

    uv run python scripts/generate_data.py --format parquet --messages 10000000 \
        --out bench-data/m10m.parquet
    uv run analytics collect --source files bench-data/m10m.parquet --lake bench-data/lake10m \
        --no-enrich --batch-size 10000 --state-file bench-data/s10m.json
    uv run python scripts/bench_reports.py bench-data/lake10m --labels --stages

``--labels`` writes synthetic labels (seeded, one per conversation, written partition by
partition as the enrich stage would) so that the reports that need labels have some; labeling
10 million messages with a real labeler is its own benchmark (``scripts/bench.py --enrich``).
``--stages`` writes synthetic stage changes (a third of the conversations become leads that move
along Mochi's pipeline, as the Mochi source would write them) so that ``funnel`` and the leads of
``engagement`` have rows to read.
Each report runs ``--repeat`` times in this process after one warm-up; the table gives the best
and the median wall time, and the rows returned.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

import polars as pl

from analytics_framework.model import LABEL_SCHEMA, STAGE_CHANGE_SCHEMA
from analytics_framework.reports import REPORTS, run_report
from analytics_framework.storage.lake import Lake

CASES: list[tuple[str, dict]] = [
    ("overview", {}),
    ("overview", {"compare": "previous"}),
    ("overview", {"business_hours": "Mon-Fri 09:00-17:00"}),
    ("topics", {}),
    ("agents", {}),
    ("agents", {"business_hours": "Mon-Fri 09:00-17:00"}),
    ("activity", {}),
    ("retention", {}),
    ("funnel", {}),
    ("leaderboard", {}),
    ("intents", {}),
    ("engagement", {}),
]

TOPICS = ["billing", "shipping", "account_access", "technical_issue", "other"]
INTENTS = ["request_help", "complain", "purchase", "praise", "cancel"]


def fake_labels(lake: Lake) -> int:
    """Write one seeded label per conversation into every partition; return how many."""
    total = 0
    now = datetime.now(UTC)
    for part in lake.partitions("conversations"):
        conv = lake.read_partition("conversations", part)
        if conv is None or conv.height == 0:
            continue
        n = conv.height
        h = conv.select(pl.col("conversation_id").hash(seed=7).alias("h"))["h"]
        labels = pl.DataFrame(
            {
                "conversation_id": conv["conversation_id"],
                "topic": [TOPICS[int(x) % 5] for x in h],
                "intent": [INTENTS[int(x >> 8) % 5] for x in h],
                "sentiment": [((int(x >> 16) % 200) - 100) / 100 for x in h],
                "satisfaction": [int(x >> 24) % 5 + 1 for x in h],
                "resolved": [bool(int(x >> 32) % 2) for x in h],
                "objection": [None if int(x >> 40) % 3 else "price" for x in h],
                "confidence": [(int(x >> 48) % 100) / 100 for x in h],
            }
        ).with_columns(
            sentiment_label=pl.when(pl.col("sentiment") >= 0.05)
            .then(pl.lit("positive"))
            .when(pl.col("sentiment") <= -0.05)
            .then(pl.lit("negative"))
            .otherwise(pl.lit("neutral")),
            provider=pl.lit("bench"),
            model=pl.lit("bench"),
            prompt_version=pl.lit("v2"),
            input_hash=pl.lit(""),
            input_tokens=pl.lit(0),
            output_tokens=pl.lit(0),
            labeled_at=pl.lit(now),
            status=pl.lit("labeled"),
            error=pl.lit(None, dtype=pl.String),
            message_count=conv["message_count"],
            config_hash=pl.lit("bench"),
        )
        labels = labels.select(  # columns the bench does not fill (quotes, ...) are null
            [
                (pl.col(c) if c in labels.columns else pl.lit(None)).cast(t).alias(c)
                for c, t in LABEL_SCHEMA.items()
            ]
        )
        lake.write_partition("labels", part, labels)
        total += n
    return total


PIPELINE = ["new lead", "qualified", "call booked", "won"]


def fake_stages(lake: Lake) -> int:
    """Write seeded stage changes for a third of the conversations of every partition.

    A lead enters ``new lead`` at its conversation's start, then moves on one stage every few
    hours (hash-chosen: 1 to 4 stages deep, and one lead in five of those that stop short ends
    ``lost``). Returns the number of changes written.
    """
    total = 0
    for part in lake.partitions("conversations"):
        conv = lake.read_partition("conversations", part)
        if conv is None or conv.height == 0:
            continue
        leads = (
            conv.select("conversation_id", "source", "org_id", "started_at")
            .with_columns(h=pl.col("conversation_id").hash(seed=11))
            .filter(pl.col("h") % 3 == 0)
            .with_columns(
                depth=(pl.col("h") // 3 % 4 + 1).cast(pl.Int32),
                lost=(pl.col("h") // 12 % 5 == 0),
                step_s=(pl.col("h") // 60 % 86_400 + 600).cast(pl.Int64),
            )
        )
        rows = leads.with_columns(
            i=pl.int_ranges(0, pl.col("depth") + (pl.col("lost") & (pl.col("depth") < 4)))
        ).explode("i")
        names = dict(enumerate([*PIPELINE, "lost"]))
        changes = rows.with_columns(
            stage=pl.when(pl.col("i") < pl.col("depth"))
            .then(pl.col("i").cast(pl.Int64))
            .otherwise(4)
            .replace_strict(names, return_dtype=pl.String),
            previous_stage=pl.when(pl.col("i") == 0)
            .then(None)
            .otherwise(pl.col("i").clip(upper_bound=pl.col("depth")) - 1)
            .replace_strict(names, default=None, return_dtype=pl.String),
            changed_at=pl.col("started_at") + pl.duration(seconds=pl.col("i") * pl.col("step_s")),
            changed_by=pl.lit("bench"),
        )
        changes = changes.select(
            [pl.col(c).cast(t).alias(c) for c, t in STAGE_CHANGE_SCHEMA.items()]
        )
        lake.write_partition("stage_changes", part, changes)
        total += changes.height
    return total


def main() -> None:
    """Time each case and print a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lake")
    ap.add_argument("--labels", action="store_true", help="write synthetic labels first")
    ap.add_argument("--stages", action="store_true", help="write synthetic stage changes first")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--period", default="weekly")
    args = ap.parse_args()
    lake = Lake(args.lake)
    if args.labels:
        t0 = time.perf_counter()
        n = fake_labels(lake)
        print(f"wrote {n:,} synthetic labels in {time.perf_counter() - t0:.1f} s")
    if args.stages:
        t0 = time.perf_counter()
        n = fake_stages(lake)
        print(f"wrote {n:,} synthetic stage changes in {time.perf_counter() - t0:.1f} s")
    print("| report | options | rows | best s | median s |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, options in CASES:
        report = REPORTS[name]
        run_report(report, lake, period=args.period, options=options)  # warm-up
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            result = run_report(report, lake, period=args.period, options=options)
            times.append(time.perf_counter() - t0)
        shown = " ".join(f"--{k.replace('_', '-')} {v!r}" for k, v in options.items()) or "–"
        print(
            f"| {name} | {shown} | {len(result.rows):,} | {min(times):.3f} | "
            f"{statistics.median(times):.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
