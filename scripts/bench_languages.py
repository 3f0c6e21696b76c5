"""Language detection speed and memory (BENCHMARKS.md "Translations").

Messages are made from the multilingual test fixture (``tests/data/multilingual``): each is a
random fixture message with its words shuffled and cut to a random length (3 words or more), so
texts keep their language and length but are nearly all distinct (identical texts are detected
once, which would flatter the figures). Each detector configuration runs in its own process, so
its peak RSS is its own: the models, plus Python and polars.

    uv run python scripts/bench_languages.py                    # 10k and 100k, the default
    uv run python scripts/bench_languages.py --messages 10000 --configs default,low,all
    uv run python scripts/bench_languages.py --lake 100000      # also analytics translate
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "multilingual" / "conversations.jsonl"
CONFIGS = {
    "default": (None, False),  # DEFAULT_LANGUAGES, high accuracy
    "low": (None, True),
    "all": ("all", False),
    "all-low": ("all", True),
}


def messages(n: int, seed: int = 7) -> list[str]:
    """Return ``n`` texts made from the fixture (see the module docstring)."""
    rng = random.Random(seed)
    pool = [json.loads(line)["text"].split() for line in FIXTURE.read_text("utf-8").splitlines()]
    pool = [words for words in pool if len(words) >= 3]
    out = []
    for _ in range(n):
        words = list(rng.choice(pool))
        rng.shuffle(words)
        out.append(" ".join(words[: rng.randint(3, len(words))]))
    return out


def one(config: str, n: int) -> dict:
    """Time one configuration in this process: model loading, then ``n`` messages."""
    from analytics_framework.insights.languages import (
        DetectorConfig,
        detect_languages,
        parse_languages,
    )

    spec, low = CONFIGS[config]
    cfg = DetectorConfig(parse_languages(spec), low)
    texts = messages(n)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    detect_languages(["Hola, quería saber cuánto cuesta el plan.", "Thanks a lot!"], cfg)
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    found = detect_languages(texts, cfg)
    seconds = time.perf_counter() - t0
    return {
        "config": config,
        "detector": cfg.name,
        "messages": n,
        "distinct": len(set(texts)),
        "load_s": round(load, 2),
        "seconds": round(seconds, 2),
        "messages_per_s": round(n / seconds),
        "mean_chars": round(sum(map(len, texts)) / n, 1),
        "undetected": sum(f is None for f in found),
        "rss_before_mib": round(before),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def lake_run(n: int) -> dict:
    """Collect ``n`` generated messages into a temporary lake, then time analytics translate."""
    rng = random.Random(11)
    texts = messages(n)
    t0 = datetime(2024, 3, 1, 9, 0)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "msgs.jsonl"
        with src.open("w", encoding="utf-8") as fh:
            for i, text in enumerate(texts):
                cid = f"c{i // 5}"
                at = t0 + timedelta(days=(i // 5) % 30, minutes=i % 5)
                role = "customer" if i % 5 in (0, 2, 4) else "agent"
                row = {"conversation_id": cid, "sent_at": at.isoformat() + "Z", "role": role}
                row |= {"text": text, "sender_id": f"u{rng.randint(0, 999)}", "org_id": "acme"}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        lake = Path(tmp) / "lake"
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env["ANALYTICS_STATE_DIR"] = str(Path(tmp) / "state")  # offline: detection only
        base = [sys.executable, "-m", "analytics_cli"]
        subprocess.run(
            [*base, "collect", "--source", "files", str(src), "--lake", str(lake), "--no-enrich"],
            check=True,
            capture_output=True,
            env=env,
            cwd=tmp,
        )
        t = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-v", *base, "translate", "--lake", str(lake), "--format", "json"],
            check=True,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
        )
        wall = time.perf_counter() - t
    summary = json.loads(done.stdout)
    rss = [ln for ln in done.stderr.splitlines() if "Maximum resident" in ln]
    return {
        "lake_messages": n,
        "translate_wall_s": round(wall, 2),
        "detect_s": summary["run"]["detect_seconds"],
        "peak_rss_mib": round(int(rss[0].split(":")[1]) / 1024) if rss else None,
    }


def main() -> None:
    """Run the configurations asked for, each in a child process, and print JSON lines."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", default="10000,100000", help="sizes, comma-separated")
    ap.add_argument("--configs", default="default,low", help=f"of {', '.join(CONFIGS)}")
    ap.add_argument("--lake", type=int, default=0, help="also time analytics translate on N")
    ap.add_argument("--one", nargs=2, metavar=("CONFIG", "N"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one[0], int(a.one[1]))))
        return
    for config in a.configs.split(","):
        for n in a.messages.split(","):
            child = subprocess.run(
                [sys.executable, __file__, "--one", config, n],
                check=True,
                capture_output=True,
                text=True,
            )
            print(child.stdout.strip(), flush=True)
    if a.lake:
        print(json.dumps(lake_run(a.lake)), flush=True)


if __name__ == "__main__":
    main()
