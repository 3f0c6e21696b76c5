r"""Time personas for 10k customers (issue 13), offline and through the embeddings layer.

    uv run python scripts/bench_personas.py                 # 10,000 customers, k 5 and auto
    uv run python scripts/bench_personas.py --customers 50000 --embeddings

A lake is generated once under ``bench-data/personas-<n>``: customers of eight kinds, each
writing 2-4 messages of 6-12 words, 80 % from their kind's own 40 words and 20 % from 200
words every kind shares (so kinds overlap as real ones do), one conversation each. Each run
times a whole build (reading the lake, vectors, K-means, silhouette, names) without storing
it, with the adjusted Rand index against the true kinds and the peak RSS.
``--embeddings`` also times the provider path against the local fake OpenAI server
(tests/llm_server.py: 100 texts per request over HTTP, the cache cold then warm).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
from sklearn.metrics import adjusted_rand_score

from analytics_framework.insights.personas import build
from analytics_framework.storage.lake import Lake

KINDS = 8


def generate(n: int, seed: int = 3) -> tuple[list[dict], dict[str, int]]:
    """Return (files-source rows, customer id → true kind)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"

    def word() -> str:
        return "".join(rng.choices(letters, k=rng.randint(4, 9)))

    own = [[word() for _ in range(40)] for _ in range(KINDS)]
    shared = [word() for _ in range(200)]
    rows, truth = [], {}
    t0 = datetime(2024, 1, 1)
    for i in range(n):
        cid, kind = f"u{i:07d}", i % KINDS
        truth[cid] = kind
        start = t0 + timedelta(minutes=7 * i)
        for j in range(rng.randint(2, 4)):
            words = [
                rng.choice(own[kind]) if rng.random() < 0.8 else rng.choice(shared)
                for _ in range(rng.randint(6, 12))
            ]
            rows.append(
                {
                    "conversation_id": f"c-{cid}",
                    "sent_at": (start + timedelta(minutes=j)).isoformat() + "Z",
                    "role": "customer",
                    "sender_id": cid,
                    "text": " ".join(words),
                    "org_id": "bench",
                }
            )
    return rows, truth


def lake_for(n: int) -> tuple[Path, dict[str, int]]:
    """Collect the generated customers into ``bench-data/personas-<n>`` once."""
    rows, truth = generate(n)
    home = Path("bench-data") / f"personas-{n}"
    if not (home / "lake" / "conversations").exists():
        home.mkdir(parents=True, exist_ok=True)
        pl.DataFrame(rows).write_ndjson(home / "customers.jsonl")
        from typer.testing import CliRunner

        from analytics_cli.app import app

        result = CliRunner().invoke(
            app,
            ["collect", "--source", "files", str(home / "customers.jsonl")]
            + ["--lake", str(home / "lake"), "--no-enrich"],
        )
        assert result.exit_code == 0, result.output
    return home / "lake", truth


def run(lake: Lake, truth: dict[str, int], label: str, **kwargs) -> None:
    t0 = time.perf_counter()
    result = build(lake, **kwargs)
    wall = time.perf_counter() - t0
    got = dict(result.rows.select("customer_id", "persona_id").iter_rows())
    ids = sorted(got)
    ari = adjusted_rand_score([truth[c] for c in ids], [got[c] for c in ids])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(
        f"{label:<28} {result.rows.height:>7,} customers  k {result.k}  "
        f"silhouette {result.silhouette:.3f}  ARI {ari:.3f}  {wall:6.2f} s  "
        f"peak RSS {rss:.2f} GB  ({result.method}, {result.device})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--embeddings", action="store_true")
    args = parser.parse_args()
    path, truth = lake_for(args.customers)
    lake = Lake(str(path))
    run(lake, truth, "offline, k 8", k=8)
    run(lake, truth, "offline, k 5", k=5)
    run(lake, truth, "offline, k auto (2-8)", k=None)
    if args.embeddings:
        from analytics_cli.personas_cmd import _Embedder
        from analytics_framework.enrich.base import LabelCache
        from analytics_framework.enrich.tasks import api_labeler
        from analytics_framework.settings import Settings
        from tests.llm_server import FakeLLM

        with FakeLLM() as server, tempfile.TemporaryDirectory() as tmp:
            os.environ.update(OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=server.url + "/v1")
            labeler = api_labeler(Settings(llm_rpm=0, llm_tpm=0), "openai")
            cache = LabelCache(Path(tmp) / "cache.sqlite3")
            embed = _Embedder(labeler, "text-embedding-3-small", cache=cache, workers=4)
            run(lake, truth, "embeddings (cold cache), k 8", k=8, embed=embed)
            run(lake, truth, "embeddings (warm cache), k 8", k=8, embed=embed)


if __name__ == "__main__":
    main()
