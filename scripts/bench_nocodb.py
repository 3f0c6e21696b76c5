"""Benchmark ``collect --source nocodb`` against a real NocoDB: messages/s and peak RSS.

Starts the NocoDB test server (npm ``nocodb``, :mod:`tests.integration.nocodb_service`) on
127.0.0.1, seeds one base per size over the REST API, and runs the CLI as a user does, in a fresh
process and a fresh folder (so a full read) per case, with ``--rps 0`` so the rate limiter does
not cap it:

    python -m analytics_cli collect --source nocodb --rps 0 --io-workers W --no-enrich

Data: the 5,000 messages (1,312 conversations) of the bundled TWCS sample, collected by the
``twcs`` source and inserted as canonical rows (ids without ``twcs:``); larger sizes repeat them
with new ids (``r1-…``, ``r2-…``). *run s* and *messages/s* are the collect's own (the state's
run record: plan, read, sort, load, commit; not the interpreter's start-up); *wall s* is the
whole process; *peak RSS* is ``/usr/bin/time -f %M`` of that process. NocoDB runs on the same
machine and competes for its CPUs.

Usage:
    uv run python scripts/bench_nocodb.py                          # 5,000 and 50,000; 1 and 4
    uv run python scripts/bench_nocodb.py --sizes 5000 --workers 1 2 4 8 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.nocodb_service import NocoDB, start_nocodb  # noqa: E402

MESSAGE_COLUMNS = {
    "message_id": "SingleLineText",
    "conversation_id": "SingleLineText",
    "sent_at": "DateTime",
    "role": "SingleLineText",
    "sender_id": "SingleLineText",
    "text": "LongText",
}
CONVERSATION_COLUMNS = {
    "conversation_id": "SingleLineText",
    "app_id": "SingleLineText",
    "customer_id": "SingleLineText",
    "status": "SingleLineText",
    "csat_rating": "Number",
}
ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith(("ANALYTICS_", "NOCODB_", "MONGODB_", "GEMINI_", "GOOGLE_", "OPENAI_"))
}
TIME = "/usr/bin/time"


def cli(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``analytics ARGS`` in ``cwd`` under ``/usr/bin/time`` (peak RSS in ``cwd/rss``)."""
    argv = [sys.executable, "-m", "analytics_cli", *args]
    if Path(TIME).exists():
        argv = [TIME, "-f", "%M", "-o", str(cwd / "rss"), *argv]
    result = subprocess.run(
        argv, cwd=cwd, env={**ENV, **(env or {})}, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"analytics {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result


def twcs_rows(work: Path) -> tuple[list[dict], list[dict]]:
    """Return the bundled TWCS sample as canonical NocoDB rows: (messages, conversations)."""
    import polars as pl

    from analytics_framework.storage.lake import Lake

    cwd = work / "twcs"
    cwd.mkdir()
    cli(cwd, "collect", "--source", "twcs", "--no-enrich", "--no-mongodb")
    lake = Lake(str(cwd / "lake"))

    def bare(c: str) -> pl.Expr:
        return pl.col(c).str.strip_prefix("twcs:")

    messages = (
        lake.read_table("messages")
        .sort("conversation_id", "sent_at", "message_id")
        .select(
            message_id=bare("message_id"),
            conversation_id=bare("conversation_id"),
            sent_at=pl.col("sent_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            role="role",
            sender_id="sender_id",
            text="text",
        )
    )
    conversations = lake.read_table("conversations").select(
        conversation_id=bare("conversation_id"),
        app_id="org_id",
        customer_id="customer_id",
        status="status",
        csat_rating="csat_rating",
    )
    return messages.to_dicts(), conversations.to_dicts()


def repeated(rows: list[dict], n: int, keys: tuple[str, ...]) -> list[dict]:
    """``rows`` for a table of ``n`` rows: copy k > 0 gets ids ``r{k}-…``."""
    out: list[dict] = []
    k = 0
    while len(out) < n:
        for row in rows[: n - len(out)]:
            out.append({**row, **{key: f"r{k}-{row[key]}" for key in keys}} if k else row)
        k += 1
    return out


def seed(nc: NocoDB, title: str, messages: list[dict], conversations: list[dict]) -> float:
    """Create base ``title`` with both tables and insert the rows (4 threads); seconds taken."""
    t0 = time.perf_counter()
    base = nc.create_base(title)
    m = nc.create_table(base, "messages", MESSAGE_COLUMNS)
    c = nc.create_table(base, "conversations", CONVERSATION_COLUMNS)
    jobs = [(m, messages[i : i + 100]) for i in range(0, len(messages), 100)]
    jobs += [(c, conversations[i : i + 100]) for i in range(0, len(conversations), 100)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda job: nc.insert(*job), jobs))
    assert nc.count(m) == len(messages), "not every message was inserted"
    return time.perf_counter() - t0


def measure(nc: NocoDB, work: Path, title: str, workers: int, expected: int) -> dict:
    """One full ``collect --source nocodb`` in a fresh folder; its numbers."""
    cwd = Path(tempfile.mkdtemp(prefix=f"{title}-w{workers}-", dir=work))
    env = {"NOCODB_BASE_URL": nc.url, "NOCODB_API_TOKEN": nc.token, "NOCODB_PROJECT_ID": title}
    args = ["collect", "--source", "nocodb", "--rps", "0", "--io-workers", str(workers)]
    t0 = time.perf_counter()
    cli(cwd, *args, "--no-enrich", "--no-mongodb", env=env)
    wall = time.perf_counter() - t0
    state = next((cwd / "state").rglob("nocodb.json"))
    run = json.loads(state.read_text())["runs"][-1]
    if run["rows_read"] != expected or run["messages_written"] != expected:
        raise SystemExit(f"{title}, {workers} workers: read {run['rows_read']}, not {expected}")
    rss = cwd / "rss"
    shutil.rmtree(cwd / "lake", ignore_errors=True)
    return {
        "messages": expected,
        "workers": workers,
        "run_s": run["seconds"],
        "messages_per_s": expected / run["seconds"],
        "wall_s": wall,
        "peak_rss_mib": int(rss.read_text().split()[-1]) / 1024 if rss.exists() else None,
    }


def main() -> None:
    """Parse the arguments, seed, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeat", type=int, default=2, help="runs per case; the best is kept")
    a = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-nocodb-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        nc = start_nocodb(work / "server")
        print(f"NocoDB started in {time.perf_counter() - t0:.1f} s at {nc.url}", file=sys.stderr)
        try:
            messages, conversations = twcs_rows(work)
            rows = []
            for size in a.sizes:
                title = f"bench{size}"
                msgs = repeated(messages, size, ("message_id", "conversation_id"))
                copies = -(-size // len(messages))
                wanted = {m["conversation_id"] for m in msgs}
                convs = repeated(conversations, copies * len(conversations), ("conversation_id",))
                convs = [c for c in convs if c["conversation_id"] in wanted]
                took = seed(nc, title, msgs, convs)
                print(
                    f"seeded {len(msgs):,} messages, {len(convs):,} conversations in {took:.1f} s",
                    file=sys.stderr,
                )
                for workers in a.workers:
                    runs = [measure(nc, work, title, workers, size) for _ in range(a.repeat)]
                    best = min(runs, key=lambda r: r["run_s"])
                    best["spread"] = (
                        f"{min(r['run_s'] for r in runs):.2f}–{max(r['run_s'] for r in runs):.2f}"
                    )
                    best["rss_max"] = max(r["peak_rss_mib"] or 0 for r in runs)
                    rows.append(best)
                    print(json.dumps(best), file=sys.stderr)
        finally:
            nc.stop()
    print("| messages | --io-workers | run s (best; range) | messages/s | wall s | peak RSS MiB |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['messages']:,} | {r['workers']} | {r['run_s']:.2f} ({r['spread']}) | "
            f"{r['messages_per_s']:,.0f} | {r['wall_s']:.2f} | {r['rss_max']:.0f} |"
        )


if __name__ == "__main__":
    main()
