r"""Time every report of the catalogue over one lake (the issue's bar: under 1 s at 10M messages).

Build the lake first, e.g. 10 million messages:

    uv run python scripts/generate_data.py --format parquet --messages 10000000 \
        --out bench-data/m10m.parquet
    uv run analytics collect --source files bench-data/m10m.parquet --lake bench-data/lake10m \
        --no-enrich --batch-size 10000 --state-file bench-data/s10m.json
    uv run python scripts/bench_reports.py bench-data/lake10m --labels

``--labels`` writes synthetic labels (seeded, one per conversation, written partition by
partition as the enrich stage would) so that the reports that need labels have some; labeling
10 million messages with a real labeler is its own benchmark (``scripts/bench.py --enrich``).
Each report runs ``--repeat`` times in this process after one warm-up; the table gives the best
and the median wall time, and the rows returned.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

import polars as pl

from analytics_framework.model import LABEL_SCHEMA
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


def main() -> None:
    """Time each case and print a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lake")
    ap.add_argument("--labels", action="store_true", help="write synthetic labels first")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--period", default="weekly")
    args = ap.parse_args()
    lake = Lake(args.lake)
    if args.labels:
        t0 = time.perf_counter()
        n = fake_labels(lake)
        print(f"wrote {n:,} synthetic labels in {time.perf_counter() - t0:.1f} s")
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
