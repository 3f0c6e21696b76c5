"""Templated setter messages with names, prices, links and typos: the scripts fixture.

Used by ``tests/test_scripts.py`` (adjusted Rand index against the true templates) and by
``scripts/bench_scripts.py`` (clustering time for 10k and 100k messages).
"""

from __future__ import annotations

import random

TEMPLATES = [
    "Hey {name}, loved your latest post! Are you open to a quick chat about growing your page?",
    "Hi {name} just checking in, did you get a chance to see my last message?",
    "Our coaching program is {price} a month and comes with weekly calls, interested?",
    "Here is the link to book a call with our team: {url}",
    "No worries {name}! When would be a better time to talk, next week maybe?",
    "Totally understand the budget concern, we have a payment plan from {price}",
    "Congrats on the new launch {name}, how are sales going so far?",
    "Can you share your email so I can send over the case studies?",
]
NAMES = ["Maria", "Tom", "Aisha", "Kenji", "Lucas", "Sofia", "Omar", "Chloe", "Ivan", "Priya"]


def typo(text: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(text) - 1)
    kind = rng.choice(("drop", "swap", "double"))
    if kind == "drop":
        return text[:i] + text[i + 1 :]
    if kind == "swap":
        return text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]


def templated(n: int, seed: int = 7) -> tuple[list[str], list[int]]:
    """Setter messages from :data:`TEMPLATES` with names, prices, links and typos."""
    rng = random.Random(seed)
    texts, truth = [], []
    for _ in range(n):
        k = rng.randrange(len(TEMPLATES))
        text = TEMPLATES[k].format(
            name=rng.choice(NAMES),
            price=f"${rng.choice([49, 97, 199, 1500])}",
            url=f"https://cal.example.com/{rng.randrange(10**6)}",
        )
        for _ in range(rng.choice((0, 0, 1, 2))):
            text = typo(text, rng)
        if rng.random() < 0.2:
            text = text.lower()
        texts.append(text)
        truth.append(k)
    return texts, truth
