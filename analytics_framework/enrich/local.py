"""The ``local`` labeler: offline, deterministic, free; the default when no API key is set.

Rules (prompt_version is the package's; model ``rules-v1``):

- **sentiment**: the mean VADER compound score (``vaderSentiment``, Hutto & Gilbert 2014) over
  the customer's messages, −1…1 (DESIGN.md: "mean over the customer's messages"); 0 when the
  customer wrote nothing. Label: positive ≥ 0.05, negative ≤ −0.05, else neutral (VADER's
  thresholds).
- **topic**: each category scores one point per keyword occurrence in the customer's
  messages (whole words, case-insensitive; at most 3 per keyword) plus half a point per
  occurrence in the agents' messages for topics. A customer word of 5+ letters that matches no
  keyword exactly counts when it is within rapidfuzz ratio 88 of a one-word keyword (typos:
  "refnd"). The best score wins, ties going to the earlier category; no match gives ``other``.
- **objection**: the best-scoring objection class among keyword hits in the customer's messages
  (``other`` is never guessed), else null. **objection_quote**: the customer message that
  scores highest for that class (the first of equals), verbatim, cut at 500 characters.
- **intent**: as topics, over the customer's first two messages only (what they came for; the
  thanks at the end would otherwise make everything ``praise``).
- **resolved**: true when one of the last two messages holds a resolution or friendly-closing
  phrase (thanks, fixed, solved, works now, all set, have a nice day, glad I could help, …) and
  the customer's last message is not negative; false when the customer wrote last with a negative
  message, or nobody answered.
- **satisfaction** (1–5): round(3 + 2 × mean compound of the customer's last two messages,
  +0.5 if resolved, −0.5 if no agent or bot ever answered), clamped to 1…5.
- **confidence** (0–1): the mean of the topic's and the intent's confidence, each from the
  keyword scores above (fuzzy hits included): with ``top`` the chosen category's score and
  ``second`` the runner-up's, ``top / (top + 1) × top / (top + second)``: the first factor
  grows with the evidence (one hit 0.5, two 0.67, three 0.75), the second falls as a rival
  category comes close (a tie halves it). A fallback chosen with no hit at all is a guess: 0.
  Rounded to 4 decimals. E.g. intent scores request_help 2, ask_question 1: 2/3 × 2/3 = 0.4444;
  topic billing 1.5 alone: 0.6 × 1 = 0.6; confidence (0.4444 + 0.6) / 2 = 0.5222.

Measured quality is in the README ("How good is the local labeler").
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, ClassVar

from rapidfuzz import fuzz, process
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from analytics_framework.enrich.base import QUOTE_MAX_CHARS, Labeler, Reply
from analytics_framework.enrich.taxonomy import Category, Taxonomy
from analytics_framework.enrich.transcript import LabelRequest

RESOLUTION = re.compile(
    r"\b(thanks?|thank you|thx|solved|resolved|fixed|works now|working now|that worked|it worked|"
    r"all set|all good|sorted|perfect|great|appreciate|cheers|have a (?:nice|good|great) day|"
    r"you're welcome|you are welcome|glad (?:i|we) could help|pleasure to help|no problem)\b",
    re.IGNORECASE,
)
WORD = re.compile(r"[a-z][a-z']{4,}")


def _pattern(keyword: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive pattern of a keyword (punctuation keywords: as is)."""
    escaped = re.escape(keyword.lower())
    if keyword[:1].isalnum() and keyword[-1:].isalnum():
        return re.compile(rf"(?<![a-z0-9]){escaped}(?![a-z0-9])")
    return re.compile(escaped)


class _Matcher:
    """Keyword scoring of one taxonomy section."""

    def __init__(self, categories: tuple[Category, ...]) -> None:
        self.categories = categories
        self.patterns = [[_pattern(k) for k in c.keywords] for c in categories]
        self.single_words = {
            k.lower(): i for i, c in enumerate(categories) for k in c.keywords if k.isalpha()
        }
        self._vocab = list(self.single_words)

    def scores(self, customer: str, others: str = "", other_weight: float = 0.0) -> list[float]:
        out = []
        for pats in self.patterns:
            score = 0.0
            for pat in pats:
                score += min(3, len(pat.findall(customer)))
                if other_weight and others:
                    score += other_weight * min(3, len(pat.findall(others)))
            out.append(score)
        if self._vocab:
            for word in set(WORD.findall(customer)):
                if word in self.single_words:
                    continue
                hit = process.extractOne(word, self._vocab, scorer=fuzz.ratio, score_cutoff=88)
                if hit is not None:
                    out[self.single_words[hit[0]]] += 1.0
        return out

    def best(self, scores: list[float], fallback: str | None) -> str | None:
        top = max(scores, default=0.0)
        if top <= 0:
            return fallback
        return self.categories[scores.index(top)].name

    @staticmethod
    def confidence(scores: list[float]) -> float:
        """Return how sure the best category is: ``top/(top+1) × top/(top+second)``, 0 if none."""
        ranked = sorted(scores, reverse=True)
        top = ranked[0] if ranked else 0.0
        if top <= 0:
            return 0.0
        second = ranked[1] if len(ranked) > 1 else 0.0
        return top / (top + 1) * top / (top + second)


class LocalLabeler(Labeler):
    """Offline rules; see the module docstring."""

    name: ClassVar[str] = "local"
    needs_key: ClassVar[bool] = False
    uses_network: ClassVar[bool] = False
    default_model: ClassVar[str] = "rules-v1"

    def __init__(self, taxonomy: Taxonomy, *args: Any, **kwargs: Any) -> None:
        super().__init__(taxonomy, *args, **kwargs)
        self.vader = SentimentIntensityAnalyzer()
        self.topics = _Matcher(taxonomy.topics)
        self.intents = _Matcher(taxonomy.intents)
        objections = tuple(c for c in taxonomy.objections if c.name != "other")
        self.objections = _Matcher(objections)
        names = taxonomy.names("topics")
        self.topic_fallback = "other" if "other" in names else names[0]
        intents = taxonomy.names("intents")
        self.intent_fallback = "request_help" if "request_help" in intents else intents[0]

    def label_batch(self, batch: list[LabelRequest], feedback: str | None = None) -> Reply:
        """Label ``batch`` by the module's rules (no I/O, no tokens)."""
        return Reply(items=[{"id": r.conversation_id, **self.label_one(r)} for r in batch])

    def label_one(self, req: LabelRequest) -> dict[str, Any]:
        """Return the label of one conversation."""
        customer = [t for t in req.customer_texts if t]
        compounds = [self.vader.polarity_scores(t)["compound"] for t in customer]
        sentiment = round(sum(compounds) / len(compounds), 4) if compounds else 0.0
        customer_text = "\n".join(customer).lower()
        others = "\n".join(
            line.split(": ", 1)[-1]
            for line in req.transcript.lower().splitlines()
            if not line.startswith("customer: ")
        )
        topic_scores = self.topics.scores(customer_text, others, 0.5)
        topic = self.topics.best(topic_scores, self.topic_fallback)
        opening = "\n".join(customer[:2]).lower()  # what the customer wants, said up front
        intent_scores = self.intents.scores(opening)
        intent = self.intents.best(intent_scores, self.intent_fallback)
        confidence = (_Matcher.confidence(topic_scores) + _Matcher.confidence(intent_scores)) / 2
        objection = self.objections.best(self.objections.scores(customer_text), None)
        quote = None
        if objection is not None:
            k = [c.name for c in self.objections.categories].index(objection)
            scored = [(self.objections.scores(t.lower())[k], -i) for i, t in enumerate(customer)]
            best = max(scored)
            if best[0] > 0:
                quote = customer[-best[1]]
                if len(quote) > QUOTE_MAX_CHARS:
                    quote = quote[: QUOTE_MAX_CHARS - 1] + "…"
        roles = Counter(req.roles)
        answered = roles["agent"] + roles["bot"] > 0
        last_customer = compounds[-1] if compounds else 0.0
        customer_last = bool(req.roles) and req.roles[-1] == "customer"
        resolved = (
            answered
            and any(RESOLUTION.search(t) for t in req.last_texts)
            and last_customer > -0.05
            and not (customer_last and last_customer <= -0.05)
        )
        tail = compounds[-2:]
        score = 3 + 2 * (sum(tail) / len(tail) if tail else 0.0)
        score += 0.5 if resolved else 0.0
        score -= 0.0 if answered else 0.5
        satisfaction = int(min(5, max(1, round(score))))
        return {
            "topic": topic,
            "intent": intent,
            "sentiment": sentiment,
            "satisfaction": satisfaction,
            "resolved": bool(resolved),
            "objection": objection,
            "objection_quote": quote,
            "confidence": round(confidence, 4),
        }
