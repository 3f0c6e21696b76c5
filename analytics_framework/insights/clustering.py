"""Setters' texts made comparable and grouped into scripts, with rapidfuzz; scripts named.

The text side of :mod:`analytics_framework.insights.scripts` (which reads the lake, measures
each message and stores the build): pure functions over strings.

**Normalisation** (:func:`normalise`): lower case; URLs → ``<url>``; e-mail addresses →
``<email>``; @handles → ``<user>``; numbers (``$49``, ``3.5``, ``10,000``) → ``<num>``; the
lead's names → ``<name>`` (the words of the customer's ``sender_id`` and of the name fields
of their messages' ``attributes`` — ``name``, ``first_name``, ``full_name``, ``sender_name``,
``username``, ``lead_name`` — and a capitalised word right after a greeting: ``Hey Maria``);
punctuation other than ``<>`` dropped; runs of whitespace → one space (the name words are
matched after that, word by word).

**Clustering** (:func:`cluster`): the distinct normalised texts, most frequent first (so a script's
clean template comes before its typos), are assigned to *leaders*: a text joins the most similar
leader when ``scorer`` (rapidfuzz's ``fuzz.token_set_ratio`` by default: word order and repeated
words do not matter, and a message that only adds words to a template still matches it) scores at
least ``similarity`` (default :data:`DEFAULT_SIMILARITY`), and otherwise becomes a leader itself.
Blocking keeps it fast: a text is compared only with the leaders that hold two of its five
rarest words (among those some leader holds) and whose word count is within about a factor of
1.5, with :func:`rapidfuzz.process.cdist` over chunks of :data:`CHUNK` texts against the
leaders under their rarest word (all cores); a chunk's unmatched texts are then settled one by
one. 100k templated messages cluster in under a second; 100k messages of free text, nearly each
its own script, in about a minute (BENCHMARKS.md).

**Names**: offline, a script is named by its three most distinctive words (highest count in the
script × log(scripts / scripts using the word), placeholders and common words left out, ties by
word), joined by ``·``.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict

import numpy as np
from rapidfuzz import fuzz, process

from analytics_framework.errors import ConfigurationError

DEFAULT_SIMILARITY = 80.0
"""The score (0-100) at which two normalised messages are the same script: high enough that two
templates sharing a greeting stay apart, low enough for a typo or two and a changed word.
Measured on the tests' fixture (8 templates, 3000 messages with names, prices, links and up to
two typos, three seeds), adjusted Rand index against the true templates with token_set_ratio:
1.0 at 60, 70 and 80; 0.975 at 90 (typos split off); token_sort_ratio 0.99 at 80."""

SCORERS = {
    "token_set_ratio": fuzz.token_set_ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
    "ratio": fuzz.ratio,
}
"""The rapidfuzz scorers ``--scorer`` accepts. ``token_set_ratio`` scores a message whose words
are a subset of another's 100; the length blocking (word counts within about 1.5x) keeps a
one-line "thanks" from joining a long script."""

CHUNK = 2048
"""Texts scored against leaders in one round of :func:`rapidfuzz.process.cdist` calls."""

KEYS = 5
"""How many of a text's rarest words block it: it meets the leaders holding two of them."""

BATCH_LEADERS = 64
"""A rarest word held by more leaders than this (free text, where nearly every message is its
own script) is not scored in one :func:`rapidfuzz.process.cdist` call: its texts go one by one
against the few leaders sharing two of their keys, which costs far less there."""

GREETING = re.compile(
    r"\b(?i:hi|hey|hello|hiya|dear|yo|morning|thanks|thank you)[ ,]+([A-Z][\w'-]+)"
)
URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
MENTION = re.compile(r"(?<![\w@])@\w+")
NUMBER = re.compile(r"(?<![A-Za-z])[$€£]?\d[\d,.]*(?:[kKmM%](?![A-Za-z]))?")
NOT_NAMES = frozenset(
    "I I'm I've I'll I'd So Again All Everyone Guys Team There Just We You Our The This It "
    "Thanks Thank Sir Madam Friend Folks".split()
)
"""Capitalised words after a greeting that are not a name ("Hi I'm Sam", "Thanks So much")."""
NON_WORD = re.compile(r"[^\w<>\s]+|_")
STOPWORDS = frozenset(
    "a an and are as at be but by can do for from have i if in is it its just me my of on or "
    "our so that the this to up we what when will with you your yours i'm it's you're let".split()
)


def normalise(text: str, names: set[str] | frozenset[str] = frozenset()) -> str:
    """Return ``text`` as scripts compare it (see the module docstring).

    Args:
        text: a setter's message.
        names: the lead's name words (any case): words equal to one become ``<name>``.
    """
    text = GREETING.sub(
        lambda m: (
            m.group(0)
            if m.group(1) in NOT_NAMES
            else m.group(0)[: m.start(1) - m.start(0)] + "<name>"
        ),
        text,
    )
    if "://" in text or "www." in text or "WWW." in text:  # skip the scans that cannot match
        text = URL.sub(" <url> ", text)
    if "@" in text:
        text = MENTION.sub(" <user> ", EMAIL.sub(" <email> ", text))
    text = NON_WORD.sub(" ", NUMBER.sub(" <num> ", text).lower())
    if not names:
        return " ".join(text.split())
    lowered = {n.lower() for n in names}
    return " ".join("<name>" if w in lowered else w for w in text.split())


def _bucket(text: str) -> int:
    """Return the blocking bucket of ``text``: log base 1.5 of its word count."""
    return int(math.log(max(1, text.count(" ") + 1), 1.5))


def cluster(
    texts: list[str],
    counts: list[int] | None = None,
    similarity: float = DEFAULT_SIMILARITY,
    scorer: str = "token_set_ratio",
) -> list[int]:
    """Group distinct normalised texts into scripts; return each text's leader index.

    A text is compared only with the leaders that hold two of its :data:`KEYS` rarest words
    (one, if it has a single one) among those some leader holds (so a typo, a word no leader
    has, is no key) and whose word count is close (:func:`_bucket`): two messages of one
    script share most words, so this blocking loses next to nothing that could score
    ``similarity``, and free text (support replies, nearly every message its own script) costs
    a few hundred candidates per text instead of every leader. Texts are taken in chunks:
    first each chunk's texts are scored against the leaders under their rarest word at once
    (:func:`rapidfuzz.process.cdist`, all cores; skipped for a word more than
    :data:`BATCH_LEADERS` leaders hold), then the rest one by one against all their candidates,
    new leaders included.

    Args:
        texts: distinct normalised texts.
        counts: how often each was sent (the most frequent are leaders first); None: all 1.
        similarity: the least score (0-100) to join a leader.
        scorer: a key of :data:`SCORERS`.

    Returns:
        For each text (same order), the index in ``texts`` of its script's leader (a leader
        maps to itself).

    Raises:
        ConfigurationError: an unknown scorer or a similarity outside 0..100.
    """
    if scorer not in SCORERS:
        raise ConfigurationError(
            f"unknown --scorer {scorer!r}", f"use one of: {', '.join(SCORERS)}"
        )
    if not 0 <= similarity <= 100:
        raise ConfigurationError(
            f"--similarity {similarity} is outside 0..100", "give a score such as 80"
        )
    score = SCORERS[scorer]
    weights = counts or [1] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: (-weights[i], texts[i]))
    words = [{w for w in t.split() if not w.startswith("<")} for t in texts]
    buckets = [_bucket(t) for t in texts]
    leader_of = [-1] * len(texts)
    index: dict[str, list[int]] = defaultdict(list)  # word -> leaders holding it

    def keys(i: int) -> list[str]:
        # the rarest of its words that some leader holds (a typo's word is held by none)
        # (a text of placeholders only meets the leaders of placeholders only; a text with
        # words no leader holds meets none)
        held = sorted((w for w in words[i] if w in index), key=lambda w: (len(index[w]), w))
        return held[:KEYS] if words[i] else [""]

    def candidates(i: int) -> list[int]:
        # leaders holding two of its keys (one when it has a single key), close in length
        under = keys(i)
        hits = Counter(j for k in under for j in index.get(k, ()))
        need = min(2, len(under))
        return [j for j, n in hits.items() if n >= need and abs(buckets[j] - buckets[i]) <= 1]

    for at in range(0, len(order), CHUNK):
        chunk = order[at : at + CHUNK]
        by_key: dict[str, list[int]] = defaultdict(list)
        for i in chunk:
            first = keys(i)
            if first:
                by_key[first[0]].append(i)
        for key, members in by_key.items():
            near = index.get(key)
            if not near or len(near) > BATCH_LEADERS:
                continue  # a common word: the texts go one by one, on their own keys
            matrix = process.cdist(
                [texts[i] for i in members],
                [texts[j] for j in near],
                scorer=score,
                score_cutoff=similarity,
                workers=-1,
            )
            rows = np.array([buckets[i] for i in members])[:, None]
            cols = np.array([buckets[j] for j in near])[None, :]
            matrix[np.abs(rows - cols) > 1] = 0  # blocked: lengths too far apart
            best = matrix.argmax(axis=1)
            for row, i in enumerate(members):
                if matrix[row, best[row]] >= similarity:
                    leader_of[i] = near[best[row]]
        for i in chunk:  # the rest, against every candidate, leaders made since included
            if leader_of[i] >= 0:
                continue
            near = candidates(i)
            hit = (
                process.extractOne(
                    texts[i], [texts[j] for j in near], scorer=score, score_cutoff=similarity
                )
                if near
                else None
            )
            if hit is None:
                leader_of[i] = i
                for w in words[i] or {""}:
                    index[w].append(i)
            else:
                leader_of[i] = near[hit[2]]
    return leader_of


def script_names(members: dict[str, Counter[str]]) -> dict[str, str]:
    """Name each script by its three most distinctive words (see the module docstring).

    Args:
        members: script id → its normalised texts with how often each was sent.

    Returns:
        Script id → name, e.g. ``"discount · offer · today"``; a script with no word left
        (placeholders only) is named by its text.
    """
    words: dict[str, Counter[str]] = {}
    df: Counter[str] = Counter()
    for sid, texts in members.items():
        c: Counter[str] = Counter()
        for text, n in texts.items():
            for w in text.split():
                if w.startswith("<") or w in STOPWORDS or len(w) < 3 or w.isdigit():
                    continue
                c[w] += n
        words[sid] = c
        df.update(set(c))
    total = len(members)
    names = {}
    for sid, c in words.items():
        ranked = sorted(c, key=lambda w: (-c[w] * math.log(1 + total / df[w]), w))
        names[sid] = " · ".join(ranked[:3]) or members[sid].most_common(1)[0][0]
    return names
