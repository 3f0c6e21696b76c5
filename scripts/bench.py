"""Benchmark ``collect`` and ``report`` on synthetic data: messages/s, report seconds, peak RSS.

Each case runs in a fresh Python process so its peak RSS (``ru_maxrss``) is its own. Data comes
from ``scripts/generate_data.py`` and is cached under ``bench-data/``.

Usage:
    uv run python scripts/bench.py                       # files/parquet at 100k and 1M
    uv run python scripts/bench.py --format facebook --sizes 100000 1000000
    uv run python scripts/bench.py --enrich 2000            # labeling: 1, 4, 16 workers
    uv run python scripts/bench.py --enrich 2000 --rpm 600  # ... under a rate limit
    uv run python scripts/bench.py --floor --format jsonl --sizes 1000000   # issue 14's bar

``--floor`` runs ``scripts/floor.py`` (the least polars code doing the same job) and
``analytics collect --no-enrich`` as a user runs it, each in a fresh process, in turn, three
times each (``--repeat``), and prints the median wall time, messages/s, peak RSS and the ratio
of collect to the floor. The floor reads canonical messages only, so for ``twcs`` and
``facebook`` it runs on the same messages in JSONL.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_OF = {
    "parquet": "files",
    "jsonl": "files",
    "csv": "files",
    "twcs": "twcs",
    "facebook": "facebook",
}
SUFFIX = {"parquet": "parquet", "jsonl": "jsonl", "csv": "csv", "twcs": "csv", "facebook": "json"}


def child(source: str, path: str, lake: str, batch_size: int) -> None:
    """Run collect (the CLI's path: lock, plan, state) then report; print one JSON line."""
    from analytics_framework.pipeline import run_collect
    from analytics_framework.reports import get_report, run_report
    from analytics_framework.settings import load_settings
    from analytics_framework.sources import get_source
    from analytics_framework.storage.lake import Lake
    from analytics_framework.storage.state_store import StateStore

    settings = load_settings(batch_size=batch_size)
    lk = Lake(lake)
    t0 = time.perf_counter()
    store = StateStore(Path(lake) / "_state" / f"{source}.json", source)
    summary = run_collect(
        get_source(source)(path, settings), lk, store, batch_size=batch_size, timezone="UTC"
    )
    collect_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = run_report(get_report("overview"), lk, period="weekly", by="org")
    report_s = time.perf_counter() - t1
    print(
        json.dumps(
            {
                "messages": summary.rows_read,
                "conversations": summary.conversations_written,
                "collect_s": collect_s,
                "messages_per_s": summary.rows_read / collect_s,
                "report_s": report_s,
                "report_rows": len(result.rows),
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def bench_enrich(conversations: int, latency_s: float, workers: list[int], rpm: float) -> None:
    """Label ``conversations`` through the OpenAI SDK against the local fake server.

    Prints conversations/s per worker count (fresh cache each time), then a second run with the
    cache warm, which must make no call.
    """
    import json as _json
    import tempfile as _tempfile
    from datetime import UTC, datetime, timedelta

    sys.path.insert(0, str(ROOT))
    from analytics_framework.enrich import make_labeler
    from analytics_framework.enrich.base import LabelCache
    from analytics_framework.enrich.stage import enrich
    from analytics_framework.pipeline import collect
    from analytics_framework.settings import load_settings
    from analytics_framework.sources.files import FilesSource
    from analytics_framework.storage.lake import Lake
    from tests.llm_server import FakeLLM

    with _tempfile.TemporaryDirectory(prefix="bench-enrich-") as tmp, FakeLLM(latency_s) as srv:
        t0 = datetime(2024, 3, 4, tzinfo=UTC)
        lines = []
        for i in range(conversations):
            start = t0 + timedelta(minutes=7 * i)
            for j, (role, text) in enumerate(
                [
                    ("customer", f"Hi, I was charged twice for order {i}, refund please"),
                    ("agent", "Sorry about that, I have refunded the second charge."),
                    ("customer", "Thank you!"),
                ]
            ):
                lines.append(
                    _json.dumps(
                        {
                            "conversation_id": f"b{i}",
                            "sent_at": (start + timedelta(minutes=j)).isoformat(),
                            "role": role,
                            "text": text,
                        }
                    )
                )
        src = Path(tmp) / "in.jsonl"
        src.write_text("\n".join(lines) + "\n")
        lake = Lake(str(Path(tmp) / "lake"))
        collect(FilesSource(str(src), load_settings()), lake)
        settings = load_settings(
            openai_api_key="bench", openai_base_url=srv.url + "/v1", llm_rpm=rpm, llm_tpm=0
        )
        labeler = make_labeler(settings, "openai")
        print(
            f"enrich: {conversations:,} conversations, {labeler.batch_size} per request, "
            f"{latency_s * 1000:.0f} ms per call, rate limit {rpm:g} requests/min"
        )
        print(f"{'workers':>8} {'seconds':>8} {'conv/s':>8} {'calls':>6} {'cache hits':>10}")
        cache = None
        for n in workers:
            lake.delete(lake.path("labels"))
            cache_path = Path(tmp) / f"cache-{n}.sqlite3"
            cache = LabelCache(cache_path)
            t = time.perf_counter()
            summary = enrich(lake, labeler, cache=cache, workers=n)
            secs = time.perf_counter() - t
            st = summary.stats
            print(f"{n:>8} {secs:>8.2f} {conversations / secs:>8,.0f} {st.calls:>6} {0:>10}")
        assert cache is not None
        lake.delete(lake.path("labels"))
        t = time.perf_counter()
        summary = enrich(lake, labeler, cache=cache, workers=workers[-1])
        secs = time.perf_counter() - t
        st = summary.stats
        print(
            f"{'rerun':>8} {secs:>8.2f} {conversations / secs:>8,.0f} {st.calls:>6} "
            f"{st.cache_hits:>10,}"
        )


def measured(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """Run ``cmd`` in a wrapper process; return (wall s, the command's peak RSS MiB, stdout).

    The wrapper has one child, so its ``RUSAGE_CHILDREN`` maximum is that command's own peak.
    """
    wrapper = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t\n"
        "if p.returncode: sys.stderr.write(p.stderr); sys.exit(p.returncode)\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps({'wall': wall, 'rss': rss, 'out': p.stdout}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, cwd=cwd, check=True
    )
    r = json.loads(proc.stdout)
    return r["wall"], r["rss"], r["out"]


def generated(fmt: str, size: int, days: int = 90) -> Path:
    """Return the cached generated input of ``fmt``, ``size`` and ``days`` (made on first use)."""
    span = "" if days == 90 else f"-{days}d"
    data = ROOT / "bench-data" / f"{fmt}-{size}{span}.{SUFFIX[fmt]}"
    if not data.exists():
        data.parent.mkdir(exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "generate_data.py"),
                "--format",
                fmt,
                "--messages",
                str(size),
                "--days",
                str(days),
                "--out",
                str(data),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return data


def bench_floor(
    fmt: str, sizes: list[int], repeat: int, batch_size: int | None, days: int = 90
) -> None:
    """Time the floor and ``analytics collect`` in turn on the same input; print the table."""
    import statistics

    print(
        "| input | messages | floor s | floor MiB | collect s | collect msg/s | collect MiB "
        "| collect / floor |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for size in sizes:
        data = generated(fmt, size, days)
        canonical = data if SOURCE_OF[fmt] == "files" else generated("jsonl", size, days)
        floor_runs, collect_runs = [], []
        for _ in range(repeat):
            with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
                wall, rss, _ = measured(
                    [sys.executable, str(ROOT / "scripts" / "floor.py"), str(canonical), tmp],
                    ROOT,
                )
                floor_runs.append((wall, rss))
            with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
                cmd = [
                    sys.executable,
                    "-m",
                    "analytics_cli",
                    "collect",
                    "--source",
                    SOURCE_OF[fmt],
                    str(data),
                    "--lake",
                    f"{tmp}/lake",
                    "--state-file",
                    f"{tmp}/state.json",
                    "--no-enrich",
                ]
                if batch_size:
                    cmd += ["--batch-size", str(batch_size)]
                wall, rss, _ = measured(cmd, Path(tmp))
                collect_runs.append((wall, rss))
        fw = statistics.median(w for w, _ in floor_runs)
        cw = statistics.median(w for w, _ in collect_runs)
        fr = max(r for _, r in floor_runs)
        cr = max(r for _, r in collect_runs)
        print(
            f"| {fmt} | {size:,} | {fw:.2f} | {fr:,.0f} | {cw:.2f} | {size / cw:,.0f} | "
            f"{cr:,.0f} | {cw / fw:.2f} |",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--enrich",
        type=int,
        metavar="CONVERSATIONS",
        help="benchmark labeling instead: this many conversations against a local LLM server",
    )
    ap.add_argument("--latency", type=float, default=0.2, help="--enrich: seconds per call")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16], help="--enrich")
    ap.add_argument("--rpm", type=float, default=0, help="--enrich: requests/min limit (0: none)")
    ap.add_argument("--format", default="parquet", choices=sorted(SOURCE_OF))
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument(
        "--batch-size", type=int, default=None, help="default: 1000; --floor: the CLI's"
    )
    ap.add_argument("--floor", action="store_true", help="collect against scripts/floor.py")
    ap.add_argument("--repeat", type=int, default=3, help="--floor: runs of each")
    ap.add_argument("--days", type=int, default=90, help="span of conversation starts")
    ap.add_argument("--child", nargs=3, metavar=("SOURCE", "PATH", "LAKE"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.enrich:
        bench_enrich(a.enrich, a.latency, a.workers, a.rpm)
        return
    if a.child:
        child(*a.child, a.batch_size or 1000)
        return
    if a.floor:
        bench_floor(a.format, a.sizes, a.repeat, a.batch_size, a.days)
        return
    print(
        f"{'format':>9} {'messages':>10} {'collect s':>9} {'msg/s':>10} {'report s':>8} "
        f"{'peak RSS MiB':>12}"
    )
    for size in a.sizes:
        data = generated(a.format, size, a.days)
        with tempfile.TemporaryDirectory(prefix="bench-lake-") as lake:
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--batch-size",
                    str(a.batch_size or 1000),
                    "--child",
                    SOURCE_OF[a.format],
                    str(data),
                    lake,
                ],
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"{a.format:>9} {r['messages']:>10,} {r['collect_s']:>9.2f} "
            f"{r['messages_per_s']:>10,.0f} {r['report_s']:>8.3f} {r['peak_rss_mib']:>12,.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
