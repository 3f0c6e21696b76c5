r"""Time script clustering (issue 13: 10k and 100k setter messages cluster in seconds).

    uv run python scripts/bench_scripts.py            # 10k and 100k templated messages
    uv run python scripts/bench_scripts.py --lake bench-data/lake1m   # and a lake's build

The messages come from ``tests/script_fixtures.py``: 8 templates with names, prices, links and
up to two typos; ``free`` rows are the worst case, free text where nearly every message is its
own script (each its own true class, so their ARI says little).

Each size is timed for normalising and clustering (the distinct normalised
texts through :func:`analytics_framework.insights.clustering.cluster`), with the adjusted Rand
index against the true templates; ``--lake`` also times a whole build over that lake
(reading the messages, positions, reply times, names), without storing it.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter

from sklearn.metrics import adjusted_rand_score

from analytics_framework.insights.clustering import DEFAULT_SIMILARITY, cluster, normalise
from analytics_framework.insights.scripts import build
from analytics_framework.storage.lake import Lake
from tests.script_fixtures import NAMES, templated


def free_text(n: int, seed: int = 5) -> tuple[list[str], list[int]]:
    """Free text: every message its own sentence, words drawn Zipf-like from 50,000."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(50000)]
    weights = [1 / (i + 1) for i in range(len(vocab))]
    texts = [" ".join(rng.choices(vocab, weights, k=rng.randint(6, 25))) for _ in range(n)]
    return texts, list(range(n))


def main() -> None:
    """Print one line per size (and for the lake)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--similarity", type=float, default=DEFAULT_SIMILARITY)
    ap.add_argument("--lake")
    args = ap.parse_args()
    print("| kind | messages | distinct | scripts | normalise s | cluster s | ARI |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    cases = [(int(x), kind) for x in args.sizes.split(",") for kind in ("templated", "free")]
    for n, kind in cases:
        texts, truth = templated(n, seed=11) if kind == "templated" else free_text(n)
        t0 = time.perf_counter()
        norm = [normalise(t, set(NAMES)) for t in texts]
        t1 = time.perf_counter()
        counts = Counter(norm)
        distinct = sorted(counts)
        leader = cluster(distinct, [counts[t] for t in distinct], args.similarity)
        t2 = time.perf_counter()
        script = {t: leader[i] for i, t in enumerate(distinct)}
        predicted = [script[t] for t in norm]
        ari = adjusted_rand_score(truth, predicted)
        print(
            f"| {kind} | {n:,} | {len(distinct):,} | {len(set(predicted))} | {t1 - t0:.2f} | "
            f"{t2 - t1:.2f} | {ari:.3f} |",
            flush=True,
        )
    if args.lake:
        t0 = time.perf_counter()
        result = build(Lake(args.lake), similarity=args.similarity)
        print(
            f"lake {args.lake}: {result.messages:,} setter messages, {result.scripts} scripts, "
            f"build {time.perf_counter() - t0:.1f} s "
            f"(reading and clustering {result.seconds:.1f} s)"
        )


if __name__ == "__main__":
    main()
