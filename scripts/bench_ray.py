r"""Benchmark a sharded backfill on a local Ray cluster: 1 worker node against 2, and one process.

Everything runs inside a private network namespace (``unshare -n``, loopback only, as the tests
do; needs root and ``uv sync --extra ray``): a moto S3 server, a Ray head node with one CPU and,
for the second case, a second worker node with one CPU. Each case writes a fresh bucket:

- ``local``: ``analytics collect --use-s3-state`` in one process, the same backfill;
- ``ray x1``: ``--executor ray`` on the head node alone (the shards run one after another);
- ``ray x2``: the same on two nodes.

Usage:
    uv run python scripts/bench_ray.py --messages 2000000 --days 60 --shard-days 15
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))


def inside(args: argparse.Namespace) -> None:
    """Run the three cases (already inside the namespace) and print the table."""
    import boto3

    from tests.integration.services import free_port, start_moto

    data = ROOT / "bench-data" / f"ray-{args.messages}-{args.days}d.jsonl"
    if not data.exists():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "generate_data.py"),
                "--format",
                "jsonl",
                "--messages",
                str(args.messages),
                "--days",
                str(args.days),
                "--out",
                str(data),
            ],
            check=True,
        )
    moto = start_moto()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto.port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    end = date(2024, 1, 1) + timedelta(days=args.days)
    common = [
        "--source",
        "files",
        str(data),
        "--no-enrich",
        "--no-mongodb",
        "--start-date",
        "2024-01-01",
        "--end-date",
        end.isoformat(),
    ]
    port = free_port()
    ray = str(BIN / "ray")
    node = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats"]
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    rows = []

    def case(name: str, extra: list[str]) -> None:
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        cmd = [str(BIN / "analytics"), "collect", *common, "--lake", f"s3://{bucket}/lake", *extra]
        t0 = time.perf_counter()
        run = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if run.returncode:
            raise SystemExit(f"{name} failed: {run.stderr[-2000:]}")
        rows.append((name, seconds))
        print(f"{name}: {seconds:.1f} s — {run.stdout.strip().splitlines()[-1]}", flush=True)

    try:
        case("local (one process)", ["--use-s3-state"])
        head = [ray, "start", "--head", "--port", str(port), "--include-dashboard=false"]
        subprocess.run(head + node, check=True, **quiet)
        ray_args = [
            "--executor",
            "ray",
            "--ray-address",
            f"127.0.0.1:{port}",
            "--shard-days",
            str(args.shard_days),
        ]
        case("ray, 1 worker node", ray_args)
        join = [ray, "start", "--address", f"127.0.0.1:{port}"]
        subprocess.run(join + node, check=True, **quiet)
        time.sleep(2)
        case("ray, 2 worker nodes", ray_args)
    finally:
        subprocess.run([ray, "stop", "--force"], **quiet)
        moto.stop()
    base = rows[0][1]
    print(f"\n{args.messages:,} messages over {args.days} days, {args.shard_days}-day shards")
    print("| run | wall s | messages/s | vs one process |")
    print("| --- | ---: | ---: | ---: |")
    for name, seconds in rows:
        rate = args.messages / seconds
        print(f"| {name} | {seconds:.1f} | {rate:,.0f} | {seconds / base:.2f}x |")
    print(json.dumps({name: round(s, 2) for name, s in rows}))


def main() -> None:
    """Re-run this script inside a private network namespace, then run the cases there."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2_000_000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--shard-days", type=int, default=15)
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inside:
        inside(args)
        return
    argv = " ".join(
        [
            sys.executable,
            __file__,
            "--inside",
            "--messages",
            str(args.messages),
            "--days",
            str(args.days),
            "--shard-days",
            str(args.shard_days),
        ]
    )
    raise SystemExit(subprocess.call(["unshare", "-n", "sh", "-c", f"ip link set lo up && {argv}"]))


if __name__ == "__main__":
    main()
