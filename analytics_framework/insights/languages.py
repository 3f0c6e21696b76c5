"""Each message's language, detected offline, and each conversation's.

**Detection** (offline, always): `lingua-language-detector`_ (its models ship in the wheel; no
network). One detector is built per process (:func:`detector`) for :data:`DEFAULT_LANGUAGES`, 25
widely used languages, in lingua's high-accuracy mode with a minimum relative distance of
:data:`MIN_RELATIVE_DISTANCE`. Measured on 2 cores over 100,000 DM-length messages (39
characters on average; BENCHMARKS.md "Translations", ``scripts/bench_languages.py``):

- 25 languages, high accuracy (the default): about 5,600 messages/s; its models take about
  400 MiB and 3 s to load on first use; the fixture's 31 messages all right;
- every language lingua knows (75, ``--languages all``): about 1,300 messages/s, about 1.1 GiB,
  9 s to load; no better on the fixture;
- low-accuracy mode (trigrams only, ``--low-accuracy``): about 14,000 messages/s (25 languages)
  in about 50 MiB, but single words go undetected or wrong ("thanks", "Grazie mille!"), and
  DMs are full of them.

So the default is the 25 languages, high accuracy; ``--languages`` takes another list of ISO
639-1 codes. Before detection, links, e-mail addresses, @handles, #hashtags (run-together words
the models misread), HTML entities and digits are removed; a text with fewer than
:data:`MIN_LETTERS` letters left ("ok", "👍", "thx"), or one lingua cannot tell apart from another
language by the minimum distance ("hola", "merci" alone), gets language NULL. Identical texts
are detected once.

**A conversation's language** is the language of most of its customer's letters: each
customer message with a detected language counts its letters (after the cleaning above) for
that language; the language with the most wins, a tie going to the one the customer used first.
A conversation whose customer has no detected message counts every message the same way; none
at all gives NULL.

.. _lingua-language-detector: https://github.com/pemistahl/lingua-py
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib.metadata import version as package_version
from typing import Any

import polars as pl

from analytics_framework.errors import ConfigurationError

DEFAULT_LANGUAGES = (
    "en",
    "es",
    "pt",
    "fr",
    "de",
    "it",
    "nl",
    "pl",
    "ro",
    "sv",
    "tr",
    "id",
    "ms",
    "vi",
    "tl",
    "ru",
    "uk",
    "el",
    "he",
    "ar",
    "hi",
    "th",
    "ja",
    "ko",
    "zh",
)
"""The languages the detector tells apart by default (ISO 639-1): the 15 most used languages
written in Latin script in customer messaging, and 10 in other scripts (these cost almost
nothing for Latin text: lingua rules them out by alphabet)."""

MIN_LETTERS = 4
"""A cleaned text with fewer letters than this gets language NULL without asking the detector
(three-letter texts are misread about half the time: "now" as Polish, "thx" as Vietnamese)."""

MIN_RELATIVE_DISTANCE = 0.1
"""lingua's minimum relative distance: a text whose best two languages score closer than this
gets NULL ("hola", "merci", "ciao" alone) instead of a guess ("hello" as Italian)."""

ENGLISH = "en"

_CLEAN = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\w+|[@#]\w+|&#?\w+;|\d+")


@dataclass(frozen=True)
class DetectorConfig:
    """Which languages the detector tells apart, and how.

    Attributes:
        languages: ISO 639-1 codes, or None for every language lingua knows (75).
        low_accuracy: lingua's low-accuracy mode (trigrams only: faster, smaller, worse on
            short texts).
    """

    languages: tuple[str, ...] | None = DEFAULT_LANGUAGES
    low_accuracy: bool = False

    @property
    def name(self) -> str:
        """Return e.g. ``lingua 2.1.1 high accuracy, 25 languages`` (the ``detector`` column)."""
        count = "all languages" if self.languages is None else f"{len(self.languages)} languages"
        mode = "low" if self.low_accuracy else "high"
        return f"lingua {package_version('lingua-language-detector')} {mode} accuracy, {count}"


def parse_languages(spec: str | None) -> tuple[str, ...] | None:
    """Return the codes of ``--languages``: ``all`` (None), ``en,es,fr``, or None for the default.

    English is always among them (added when left out): it is what is not translated.

    Raises:
        ConfigurationError: a code lingua does not know, or fewer than two languages.
    """
    from lingua import IsoCode639_1

    if spec is None:
        return DEFAULT_LANGUAGES
    if spec.strip().lower() == "all":
        return None
    codes = tuple(dict.fromkeys(c.strip().lower() for c in spec.split(",") if c.strip()))
    unknown = [c for c in codes if not hasattr(IsoCode639_1, c.upper())]
    if unknown:
        raise ConfigurationError(
            f"--languages: lingua knows no language {unknown[0]!r}",
            "give ISO 639-1 codes separated by commas (e.g. en,es,fr,de), or all",
        )
    if "en" not in codes:  # else English reads as the nearest listed language, and is sent
        codes = ("en", *codes)  # for translation
    if len(codes) < 2:
        raise ConfigurationError(
            f"--languages {spec!r} names fewer than two languages",
            "a detector needs at least two, e.g. en,es",
        )
    return codes


DEFAULT_DETECTOR = DetectorConfig()
"""The default: :data:`DEFAULT_LANGUAGES`, high accuracy."""


@functools.lru_cache(maxsize=4)
def detector(config: DetectorConfig = DEFAULT_DETECTOR) -> Any:
    """Return lingua's detector for ``config``, built once per process (models load lazily).

    Returns:
        A ``lingua.LanguageDetector``.
    """
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    if config.languages is None:
        builder = LanguageDetectorBuilder.from_all_languages()
    else:
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(
            *(getattr(IsoCode639_1, c.upper()) for c in config.languages)
        )
    builder = builder.with_minimum_relative_distance(MIN_RELATIVE_DISTANCE)
    if config.low_accuracy:
        builder = builder.with_low_accuracy_mode()
    return builder.build()


def clean(text: str | None) -> str:
    """Return ``text`` without links, e-mails, @handles, #hashtags, HTML entities and digits."""
    return " ".join(_CLEAN.sub(" ", text or "").split())


def letters(text: str) -> int:
    """Return how many letters (Unicode alphabetic characters) ``text`` holds."""
    return sum(ch.isalpha() for ch in text)


def detect_languages(
    texts: list[str | None], config: DetectorConfig = DEFAULT_DETECTOR
) -> list[str | None]:
    """Return each text's language as a lower-case ISO 639-1 code, or None (see the module doc).

    Args:
        texts: the texts (None reads as empty).
        config: the detector's languages and mode.

    Returns:
        One code or None per text, in order.
    """
    cleaned = [clean(t) for t in texts]
    distinct = sorted({c for c in cleaned if letters(c) >= MIN_LETTERS})
    found: dict[str, str | None] = {}
    if distinct:
        results = detector(config).detect_languages_in_parallel_of(distinct)
        for text, lang in zip(distinct, results, strict=True):
            found[text] = lang.iso_code_639_1.name.lower() if lang is not None else None
    return [found.get(c) for c in cleaned]


def language_name(code: str | None) -> str:
    """Return the English name of an ISO 639-1 code (``es`` → ``Spanish``), ``undetected``."""
    if code is None:
        return "undetected"
    from lingua import IsoCode639_1, Language

    try:
        return Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())).name.title()
    except (AttributeError, ValueError):
        return code


def conversation_languages(messages: pl.DataFrame) -> dict[str, str | None]:
    """Return each conversation's language by the rule of the module docstring.

    Args:
        messages: ``conversation_id``, ``role``, ``language`` (code or null) and ``letters``
            (letters of the cleaned text), in time order within each conversation.

    Returns:
        Conversation id → its language code, or None; every conversation of ``messages``.
    """
    ids = messages["conversation_id"].unique().to_list()
    scored = (
        messages.with_row_index("pos")
        .filter(pl.col("language").is_not_null())
        .with_columns(customer=pl.col("role") == "customer")
    )
    scored = scored.filter(pl.col("customer") | ~pl.col("customer").any().over("conversation_id"))
    best = (
        scored.group_by("conversation_id", "language")
        .agg(pl.col("letters").sum(), pl.col("pos").min())
        .sort(["conversation_id", "letters", "pos"], descending=[False, True, False])
        .group_by("conversation_id", maintain_order=True)
        .first()
    )
    out: dict[str, str | None] = dict.fromkeys(ids)
    out.update(dict(best.select("conversation_id", "language").iter_rows()))
    return out
