"""The labeler base class: batching, cache, retry, rate limiting, validation — written once.

A provider (:mod:`~analytics_framework.enrich.gemini`, :mod:`~analytics_framework.enrich.
openai_labeler`, :mod:`~analytics_framework.enrich.local`) implements one method,
:meth:`Labeler.label_batch`: send one request for a few conversations and return the reply. It
translates its SDK's errors into the classes below. Everything else is here:

- **cache**: content-addressed, key = SHA-256(input_hash, provider, model, prompt_version,
  taxonomy fingerprint) → the label; a hit costs no call (``force`` ignores it);
- **batching**: ``batch_size`` conversations per request, each echoed back by id; a reply that
  misses ids or holds invalid items keeps what is valid and asks once more for the rest;
- **validation**: the reply must be JSON of the schema (:func:`label_schema`); truncated output
  (``finish_reason`` length / ``MAX_TOKENS``) or malformed JSON is re-asked once, with the error,
  then recorded as a failure; a batch cut off twice is halved instead, each half asked alone;
- **retry** (:mod:`analytics_framework.http.retry`, shared with API sources): exponential
  backoff with jitter on :class:`RetriableError` (429, 500,
  502, 503, 504, timeouts, connection errors). A server's ``Retry-After`` / Gemini ``retryDelay``
  is a floor: the wait is that delay plus jitter, never less. Attempts and total wait are
  settings. 400 is not retried (the batch fails); 401/403 raise :class:`ProviderAuthError`,
  which stops the run;
- **rate limiting**: one :class:`~analytics_framework.http.limits.RateLimiter` shared by every
  worker thread (requests and tokens per minute); a 429 pauses every worker for the server's delay;
- **workers**: ``workers`` threads send batches concurrently.

A conversation that cannot be labeled comes back as a failure with its reason; it never fails
the other conversations.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from analytics_framework.enrich.taxonomy import Taxonomy
from analytics_framework.enrich.transcript import LabelRequest
from analytics_framework.errors import (
    ConfigurationError,
    FatalError,
    RateLimitedError,
    RetriableError,
    TransientError,
)
from analytics_framework.http import RateLimiter, RetryPolicy, retry_after_s, retrying

__all__ = [
    "ApiLabeler",
    "Embedded",
    "LabelCache",
    "Labeler",
    "ProviderAuthError",
    "ProviderRequestError",
    "RateLimitedError",
    "RateLimiter",
    "Reply",
    "RetryPolicy",
    "TransientError",
    "retry_after_s",
    "require_key",
]

PROMPT_VERSION = "v3"
"""Bump when the prompt or the label schema changes: cached labels of an older version are
not reused. v2: labels carry ``confidence`` (0-1). v3: and ``objection_quote``."""

QUOTE_MAX_CHARS = 500
"""An ``objection_quote`` longer than this is cut (with an ellipsis): a quote, not a transcript."""

SENTIMENT_NEUTRAL = 0.05
"""|sentiment| below this is ``neutral`` (VADER's recommended threshold on its compound score)."""


class ProviderAuthError(FatalError):
    """The provider refused the key (401/403): the run stops, the fix names the key variable."""


class ProviderRequestError(Exception):
    """The provider rejected the request itself (400 …): the batch fails, no retry."""


@dataclass
class Reply:
    """One provider reply: the JSON text (or items already parsed), tokens, truncation."""

    text: str = ""
    items: list[dict[str, Any]] | None = None
    truncated: bool = False
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Embedded:
    """One embeddings reply: a vector per text, and the input tokens counted (or estimated)."""

    vectors: list[list[float]]
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class LabelStats:
    """Counts of one labeling run (thread-safe through :meth:`add`)."""

    conversations: int = 0
    labeled: int = 0
    cache_hits: int = 0
    calls: int = 0
    retries: int = 0
    reasks: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    wait_s: float = 0.0
    cost_usd: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        """Add to counters atomically."""
        with self._lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)

    def as_dict(self) -> dict[str, Any]:
        """Return the counters as a plain dict."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


def label_schema(taxonomy: Taxonomy) -> dict[str, Any]:
    """Return the JSON Schema of a reply: ``{"labels": [{id, topic, intent, …}, …]}``."""
    objections: list[Any] = [*taxonomy.names("objections"), None]
    item = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "topic": {"type": "string", "enum": taxonomy.names("topics")},
            "intent": {"type": "string", "enum": taxonomy.names("intents")},
            "sentiment": {"type": "number", "description": "customer sentiment, -1 to 1"},
            "satisfaction": {"type": "integer", "description": "predicted CSAT, 1 to 5"},
            "resolved": {"type": "boolean"},
            "objection": {"type": ["string", "null"], "enum": objections},
            "objection_quote": {
                "type": ["string", "null"],
                "description": "the customer's message that raised the objection, verbatim",
            },
            "confidence": {
                "type": "number",
                "description": "how sure the topic and intent are, 0 (a guess) to 1 (certain)",
            },
        },
        "required": [
            "id",
            "topic",
            "intent",
            "sentiment",
            "satisfaction",
            "resolved",
            "objection",
            "objection_quote",
            "confidence",
        ],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"labels": {"type": "array", "items": item}},
        "required": ["labels"],
        "additionalProperties": False,
    }


def system_prompt(taxonomy: Taxonomy) -> str:
    """Return the instructions (prompt version :data:`PROMPT_VERSION`) with the taxonomy."""

    def section(name: str) -> str:
        lines = []
        for c in getattr(taxonomy, name):
            ex = f" Examples: {'; '.join(c.examples)}." if c.examples else ""
            lines.append(f"- {c.name}: {c.description}{ex}")
        return "\n".join(lines) or "- (none)"

    return (
        "You label customer conversations for a support and sales analytics tool.\n"
        "For every conversation given, return one item with its exact id and:\n"
        "- topic: what the conversation is about (one of the topics below);\n"
        "- intent: what the customer wants (one of the intents below);\n"
        "- sentiment: the customer's overall sentiment, a number from -1 (very negative) to 1 "
        "(very positive);\n"
        "- satisfaction: how satisfied the customer likely is at the end, an integer 1-5;\n"
        "- resolved: true if the customer's issue was solved or the question answered;\n"
        "- objection: for sales conversations, the objection the customer raised (one of the "
        "objections below), else null;\n"
        "- objection_quote: the customer's message that raised that objection, copied verbatim "
        "from the transcript (null when there is no objection);\n"
        "- confidence: how sure you are of the topic and intent, a number from 0 (a guess) to 1 "
        "(certain).\n"
        "Reply with JSON only, matching the schema.\n\n"
        f"Topics:\n{section('topics')}\n\nIntents:\n{section('intents')}\n\n"
        f"Objections:\n{section('objections')}\n"
    )


def user_prompt(batch: list[LabelRequest], feedback: str | None = None) -> str:
    """Return the request text: the conversations as JSON, plus feedback on a re-ask."""
    convs = [{"id": r.conversation_id, "transcript": r.transcript} for r in batch]
    text = "Label these conversations:\n" + json.dumps(convs, ensure_ascii=False)
    if feedback:
        text += f"\n\nYour previous reply could not be used: {feedback}. Reply again, in full."
    return text


class LabelCache:
    """Content-addressed label cache in SQLite (``state/label_cache.sqlite3``), thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS labels (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
            "created_at TEXT NOT NULL)"
        )

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the cached label for ``key``, or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM labels WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Return the cached labels of ``keys`` that are present, in one query per 500 keys."""
        found: dict[str, dict[str, Any]] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                marks = ",".join("?" * len(part))
                for key, value in self._db.execute(
                    f"SELECT key, value FROM labels WHERE key IN ({marks})", part
                ):
                    found[key] = json.loads(value)
        return found

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` (durably; replaces an older value)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO labels VALUES (?, ?, ?)",
                (key, json.dumps(value), datetime.now(UTC).isoformat()),
            )

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


@dataclass
class Outcome:
    """Labels of one :meth:`Labeler.label` call: ``labels`` and ``failures`` by conversation."""

    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


class Labeler(ABC):
    """Base class of every labeler; see the module docstring for what it does for them.

    Class attributes:
        name: registry name (``--provider``).
        needs_key: whether an API key is required.
        key_env_vars: environment variables the key may come from, in order.
        uses_network: False for offline labelers (no cache, no rate limit, no retries).
        default_model: the model used when the settings name none.

    Args:
        taxonomy: the label values.
        model: the model name.
        batch_size: conversations per request.
        retry: the retry policy.
        limiter: the shared rate limiter (None: unlimited).
    """

    name: ClassVar[str]
    needs_key: ClassVar[bool] = True
    key_env_vars: ClassVar[tuple[str, ...]] = ()
    uses_network: ClassVar[bool] = True
    default_model: ClassVar[str] = ""

    def __init__(
        self,
        taxonomy: Taxonomy,
        model: str | None = None,
        batch_size: int = 10,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        max_output_tokens: int = 4096,
    ) -> None:
        self.taxonomy = taxonomy
        self.model = model or self.default_model
        self.batch_size = max(1, batch_size)
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self.max_output_tokens = max_output_tokens
        self.schema = label_schema(taxonomy)
        self.instructions = system_prompt(taxonomy)

    # ---- what a provider implements ----------------------------------------------------------

    @abstractmethod
    def label_batch(self, batch: list[LabelRequest], feedback: str | None = None) -> Reply:
        """Send one request labeling ``batch``; ``feedback`` explains why a re-ask happens.

        Raises:
            RateLimitedError / TransientError: worth retrying.
            ProviderAuthError: the key was refused.
            ProviderRequestError: the request was rejected.
        """

    # ---- what the base does ------------------------------------------------------------------

    @property
    def config_hash(self) -> str:
        """Hash of (provider, model, prompt_version, taxonomy): labels are redone when it moves."""
        blob = f"{self.name}|{self.model}|{PROMPT_VERSION}|{self.taxonomy.fingerprint()}"
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def cache_key(self, request: LabelRequest) -> str:
        """Return the cache key of ``request`` (content hash + labeler configuration)."""
        return hashlib.sha256(f"{request.input_hash}|{self.config_hash}".encode()).hexdigest()

    def label(
        self,
        requests: list[LabelRequest],
        *,
        cache: LabelCache | None = None,
        workers: int = 1,
        force: bool = False,
        stats: LabelStats | None = None,
    ) -> Outcome:
        """Label ``requests``: cache first, then batches over ``workers`` threads.

        Returns:
            The :class:`Outcome`: each label is ``{topic, intent, sentiment, satisfaction,
            resolved, objection, confidence, input_tokens, output_tokens}``.

        Raises:
            ProviderAuthError: the key was refused (the other workers are cancelled).
        """
        return self.run_batches(
            requests,
            id_of=lambda r: r.conversation_id,
            key_of=self.cache_key,
            tokens_of=lambda r: r.tokens,
            send=self.label_batch,
            list_key="labels",
            validate=self._validate,
            batch_size=self.batch_size,
            cache=cache,
            workers=workers,
            force=force,
            stats=stats,
        )

    def run_batches(
        self,
        items: list[Any],
        *,
        id_of: Callable[[Any], str],
        key_of: Callable[[Any], str],
        tokens_of: Callable[[Any], int],
        send: Callable[[list[Any], str | None], Reply],
        list_key: str,
        validate: Callable[[dict[str, Any]], tuple[dict[str, Any] | None, str]],
        batch_size: int,
        cache: LabelCache | None = None,
        workers: int = 1,
        force: bool = False,
        stats: LabelStats | None = None,
    ) -> Outcome:
        """Answer ``items`` with JSON requests: cache first, then batches over ``workers`` threads.

        The engine of :meth:`label`, shared with the other JSON tasks (script and persona names,
        translations: :mod:`analytics_framework.enrich.tasks`). ``send(batch, feedback)`` makes
        one request; its reply must be ``{list_key: [{"id": …, …}, …]}``; ``validate(item)``
        returns ``(value, "")`` or ``(None, why)``. Bad output is re-asked once with the
        problem, missing or invalid ids once more; what still fails is in ``failures``.

        Raises:
            ProviderAuthError: the key was refused (the other workers are cancelled).
        """
        stats = stats if stats is not None else LabelStats()
        outcome = Outcome()
        todo: dict[str, Any] = {}
        use_cache = cache is not None and self.uses_network
        stats.add(conversations=len(items))
        keys = {id_of(item): key_of(item) for item in items}
        hits = cache.get_many(list(keys.values())) if use_cache and not force else {}
        for item in items:
            hit = hits.get(keys[id_of(item)])
            if hit is not None:
                outcome.labels[id_of(item)] = hit
                stats.add(cache_hits=1, labeled=1)
            else:
                todo[id_of(item)] = item
        queue = list(todo.values())
        size = max(1, batch_size)
        batches = [queue[i : i + size] for i in range(0, len(queue), size)]
        if not batches:
            return outcome
        task = _BatchTask(self, id_of, tokens_of, send, list_key, validate, stats)
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="llm") as pool:
            futures = [pool.submit(task.run, b) for b in batches]
            try:
                for fut in as_completed(futures):
                    values, failures = fut.result()
                    for iid, value in values.items():
                        outcome.labels[iid] = value
                        if use_cache:
                            cache.put(keys[iid], value)  # type: ignore[union-attr]
                    outcome.failures.update(failures)
                    stats.add(labeled=len(values), failures=len(failures))
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
        return outcome

    def send(self, request: Callable[[], Any], tokens: int, stats: LabelStats) -> Any:
        """Make one request with rate limiting and retries; a 429 pauses every worker.

        ``request()`` returns a :class:`Reply` (or anything with ``input_tokens`` /
        ``output_tokens``) and raises the classes of :meth:`label_batch`.
        """

        def count(_exc: BaseException, delay: float) -> None:
            stats.add(retries=1, wait_s=delay)

        for attempt in retrying(self.retry, self.limiter, count):
            with attempt:
                if self.limiter is not None:
                    stats.add(wait_s=self.limiter.acquire(tokens))
                if self.uses_network:
                    stats.add(calls=1)
                reply = request()
                stats.add(input_tokens=reply.input_tokens, output_tokens=reply.output_tokens)
        return reply

    @staticmethod
    def _parse(reply: Reply, list_key: str = "labels") -> tuple[list[Any], str | None]:
        """Return the reply's items, or a problem description (truncated, not JSON, wrong shape)."""
        if reply.truncated:
            return [], "the reply was cut off at the output token limit (truncated)"
        if reply.items is not None:
            return reply.items, None
        try:
            doc = json.loads(reply.text)
        except (json.JSONDecodeError, TypeError) as exc:
            return [], f"the reply was not valid JSON ({exc})"
        if not isinstance(doc, dict) or not isinstance(doc.get(list_key), list):
            return [], f'the reply was not {{"{list_key}": [...]}}'
        return doc[list_key], None

    def _validate(self, item: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """Check one item against the taxonomy; returns (label, "") or (None, why).

        ``confidence`` must be a number in 0..1 (how sure the labeler is of topic and intent);
        ``objection_quote`` a string or null (dropped when there is no objection, cut at
        :data:`QUOTE_MAX_CHARS`).
        """
        t = self.taxonomy
        topic, intent, objection = item.get("topic"), item.get("intent"), item.get("objection")
        sentiment, satisfaction, resolved = (
            item.get("sentiment"),
            item.get("satisfaction"),
            item.get("resolved"),
        )
        if topic not in t.names("topics"):
            return None, f"unknown topic {topic!r}"
        if intent not in t.names("intents"):
            return None, f"unknown intent {intent!r}"
        if objection in ("", "none", "null"):
            objection = None
        if objection is not None and objection not in t.names("objections"):
            return None, f"unknown objection {objection!r}"
        if isinstance(sentiment, bool) or not isinstance(sentiment, int | float):
            return None, "sentiment is not a number"
        if not -1.0 <= float(sentiment) <= 1.0:
            return None, f"sentiment {sentiment} is outside -1..1"
        if isinstance(satisfaction, float) and satisfaction.is_integer():
            satisfaction = int(satisfaction)
        if isinstance(satisfaction, bool) or not isinstance(satisfaction, int):
            return None, "satisfaction is not an integer"
        if not 1 <= satisfaction <= 5:
            return None, f"satisfaction {satisfaction} is outside 1..5"
        if not isinstance(resolved, bool):
            return None, "resolved is not true/false"
        quote = item.get("objection_quote")
        if quote is not None and not isinstance(quote, str):
            return None, "objection_quote is not a string"
        quote = (quote or "").strip() or None
        if objection is None:
            quote = None  # a quote of no objection: nothing was raised
        elif quote is not None and len(quote) > QUOTE_MAX_CHARS:
            quote = quote[: QUOTE_MAX_CHARS - 1] + "…"
        confidence = item.get("confidence")
        if isinstance(confidence, bool) or not isinstance(confidence, int | float):
            return None, "confidence is not a number"
        if not 0.0 <= float(confidence) <= 1.0:
            return None, f"confidence {confidence} is outside 0..1"
        return {
            "topic": topic,
            "intent": intent,
            "sentiment": float(sentiment),
            "satisfaction": satisfaction,
            "resolved": resolved,
            "objection": objection,
            "objection_quote": quote,
            "confidence": float(confidence),
        }, ""


@dataclass
class _BatchTask:
    """One batch of :meth:`Labeler.run_batches`: validate, re-ask once, ask once for missing ids.

    A reply cut off at the output limit twice is not a failure of its items while there are
    two or more: the batch is halved and each half asked on its own (down to one item).
    """

    labeler: Labeler
    id_of: Callable[[Any], str]
    tokens_of: Callable[[Any], int]
    request: Callable[[list[Any], str | None], Reply]
    list_key: str
    validate: Callable[[dict[str, Any]], tuple[dict[str, Any] | None, str]]
    stats: LabelStats

    def run(self, batch: list[Any]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
        """Return (values by id, failure reasons by id) for ``batch``."""
        pending = {self.id_of(r): r for r in batch}
        values: dict[str, dict[str, Any]] = {}
        failures: dict[str, str] = {}
        feedback: str | None = None
        reasked = asked_missing = False
        stats = self.stats
        while pending:
            todo = list(pending.values())
            tokens = sum(self.tokens_of(r) for r in todo) + 500
            try:
                reply = self.labeler.send(
                    functools.partial(self.request, todo, feedback), tokens, stats
                )
            except ProviderRequestError as exc:
                failures.update({iid: f"request rejected: {exc}" for iid in pending})
                break
            except RetriableError as exc:
                failures.update({iid: f"gave up after retries: {exc}" for iid in pending})
                break
            per_item_tokens = (
                reply.input_tokens // len(pending),
                reply.output_tokens // len(pending),
            )
            items, problem = Labeler._parse(reply, self.list_key)
            if problem is not None:
                if reasked and reply.truncated and len(pending) > 1:
                    # cut off twice: the answers do not fit one reply, so halve the batch
                    todo = list(pending.values())
                    for half in (todo[: len(todo) // 2], todo[len(todo) // 2 :]):
                        more, failed = self.run(half)
                        values.update(more)
                        failures.update(failed)
                    break
                if reasked:
                    failures.update({iid: problem for iid in pending})
                    break
                reasked, feedback = True, problem
                stats.add(reasks=1)
                continue
            bad: dict[str, str] = {}
            for item in items:
                iid = item.get("id") if isinstance(item, dict) else None
                if iid not in pending:
                    continue  # unknown or repeated id: ignored
                value, why = self.validate(item)
                if value is None:
                    bad[iid] = why
                    continue
                value["input_tokens"], value["output_tokens"] = per_item_tokens
                values[iid] = value
                del pending[iid]
            if not pending:
                break
            reasons = {iid: bad.get(iid, "id missing from the reply") for iid in pending}
            if asked_missing:
                failures.update(reasons)
                break
            asked_missing = True
            feedback = "these ids were missing or invalid: " + "; ".join(
                f"{iid} ({why})" for iid, why in reasons.items()
            )
        return values, failures


class ApiLabeler(Labeler):
    """A labeler that calls a provider's API through its SDK client.

    Args:
        api_key: the provider's key.
        base_url: another endpoint (a compatible server, a proxy, a test server), or None.
        timeout_s: seconds before a request times out.
        *args / **kwargs: as :class:`Labeler`.
    """

    def __init__(
        self,
        *args: Any,
        api_key: str,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.client = self.make_client(api_key, base_url, timeout_s)

    default_embed_model: ClassVar[str] = ""

    @abstractmethod
    def make_client(self, api_key: str, base_url: str | None, timeout_s: float) -> Any:
        """Return the SDK client, with the SDK's own retries off (the base class retries)."""

    @abstractmethod
    def generate(self, system: str, user: str, schema: dict[str, Any], name: str) -> Reply:
        """Send one JSON-mode request: instructions ``system``, text ``user``, reply ``schema``.

        ``name`` names the schema (OpenAI's ``json_schema.name``). Raises the classes of
        :meth:`Labeler.label_batch`.
        """

    @abstractmethod
    def embed(self, texts: list[str], model: str, dimensions: int) -> Embedded:
        """Return one vector of ``dimensions`` floats per text, in order, from ``model``.

        Raises the classes of :meth:`Labeler.label_batch` (a model that does not exist:
        :class:`ProviderRequestError`).
        """

    def label_batch(self, batch: list[LabelRequest], feedback: str | None = None) -> Reply:
        """Send one labeling request for ``batch``; see :meth:`Labeler.label_batch`."""
        return self.generate(self.instructions, user_prompt(batch, feedback), self.schema, "labels")


def require_key(labeler: type[Labeler], key: str | None) -> str:
    """Return ``key`` or raise the error that names where the key should come from.

    Raises:
        ConfigurationError: no key is set.
    """
    if not key:
        names = " or ".join(labeler.key_env_vars)
        raise ConfigurationError(
            f"provider '{labeler.name}' needs an API key and none is set",
            f"set {names} (in the environment or .env), or use --provider local",
        )
    return key


def sentiment_label(score: float | None) -> str | None:
    """Return ``positive``/``neutral``/``negative`` for a −1…1 score (±0.05 thresholds)."""
    if score is None:
        return None
    if score >= SENTIMENT_NEUTRAL:
        return "positive"
    if score <= -SENTIMENT_NEUTRAL:
        return "negative"
    return "neutral"
