"""LLM calls other than labels: names for clusters, translations, embeddings.

They go through the labelers' layer (:mod:`analytics_framework.enrich.base`): the same SDK clients,
batching, retries with backoff, shared rate limiter, content-addressed cache
(``state/label_cache.sqlite3``; the key holds the task, its prompt version, the provider and the
model, so a change of any of them asks again) and token accounting (:class:`LabelStats`).

- :func:`name_clusters` — a few words and one line for each cluster of texts (scripts, personas),
  from a handful of its members; JSON reply ``{"names": [{id, name, description}]}``;
- :func:`translate` — every message of a conversation into English, the conversation as one item;
  JSON reply ``{"translations": [{id, messages: [{id, text_en}]}]}``;
- :func:`embed_texts` — one vector per text (Gemini ``embed_content`` / OpenAI
  ``embeddings.create``), L2-normalised, as a float32 matrix.

Offline labelers (``local``) make none of these calls: the callers use their offline method.
"""

from __future__ import annotations

import base64
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analytics_framework.enrich.base import (
    ApiLabeler,
    LabelCache,
    Labeler,
    LabelStats,
    ProviderRequestError,
)
from analytics_framework.enrich.transcript import estimate_tokens
from analytics_framework.errors import ConfigurationError, RetriableError, TransientError
from analytics_framework.settings import Settings

NAMES_VERSION = "n1"
"""Prompt version of :func:`name_clusters` (part of the cache key)."""
TRANSLATE_VERSION = "t1"
"""Prompt version of :func:`translate` (part of the cache key)."""

EXAMPLES_PER_CLUSTER = 8
"""Members shown to the model per cluster when naming it."""
EXAMPLE_MAX_CHARS = 300
"""A member longer than this is cut before it is shown."""
EMBED_BATCH = 100
"""Texts per embeddings request (Gemini's batchEmbedContents takes at most 100)."""
EMBED_DIMENSIONS = 768
"""Dimensions asked of the embeddings model (Gemini and text-embedding-3 truncate to it)."""
NAME_BATCH = 10
"""Clusters per naming request."""


@dataclass(frozen=True)
class Item:
    """One item of a JSON task: its id, what is sent, and its content hash (cache key part)."""

    id: str
    payload: dict[str, Any]
    tokens: int

    @property
    def input_hash(self) -> str:
        """SHA-256 of the payload (sorted JSON)."""
        blob = json.dumps(self.payload, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _key(labeler: Labeler, task: str, version: str, content_hash: str) -> str:
    """Cache key of one task item: task, prompt version, provider, model, content."""
    blob = f"{task}|{version}|{labeler.name}|{labeler.model}|{content_hash}"
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _user(intro: str, batch: list[Item], feedback: str | None) -> str:
    """Return the request text: an intro line, the items as JSON, feedback on a re-ask."""
    text = intro + "\n" + json.dumps([{"id": i.id, **i.payload} for i in batch], ensure_ascii=False)
    if feedback:
        text += f"\n\nYour previous reply could not be used: {feedback}. Reply again, in full."
    return text


NAMES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "names": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string", "description": "2 to 5 words"},
                    "description": {"type": "string", "description": "one sentence"},
                },
                "required": ["id", "name", "description"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["names"],
    "additionalProperties": False,
}

NAME_INSTRUCTIONS = {
    "script": (
        "You name the message templates (scripts) that sales setters send to leads in DMs. "
        "Each cluster below holds examples of one script (names, links and numbers replaced by "
        "placeholders such as <name>). For each cluster return its exact id, a name of 2 to 5 "
        "words saying what the script does (e.g. 'Discount offer follow-up'), and a one-sentence "
        "description. Reply with JSON only, matching the schema."
    ),
    "persona": (
        "You name customer personas for a support and sales analytics tool. Each cluster below "
        "is a group of customers, given by their most typical messages and the terms that set "
        "the group apart. For each cluster return its exact id, a persona name of 2 to 5 words "
        "(e.g. 'Price-sensitive first-time buyers') and a one-sentence description of who they "
        "are and what they want. Reply with JSON only, matching the schema."
    ),
}


def _valid_name(item: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """Accept a name of 1-8 words and a description string; returns (value, "") or (None, why)."""
    name, description = item.get("name"), item.get("description")
    if not isinstance(name, str) or not name.strip():
        return None, "name is not a non-empty string"
    if len(name.split()) > 8:
        return None, f"name {name!r} is longer than 8 words"
    if not isinstance(description, str):
        return None, "description is not a string"
    return {"name": name.strip(), "description": description.strip()}, ""


def name_clusters(
    labeler: ApiLabeler,
    clusters: dict[str, dict[str, Any]],
    kind: str,
    *,
    cache: LabelCache | None = None,
    workers: int = 1,
    stats: LabelStats | None = None,
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Name each cluster with the LLM, a batch of :data:`NAME_BATCH` clusters per request.

    Args:
        labeler: the provider's labeler (its client, model, retries and rate limit).
        clusters: cluster id → ``{"examples": [text, …], …}`` (more keys, such as ``terms``,
            are shown too); examples are cut to :data:`EXAMPLES_PER_CLUSTER` of
            :data:`EXAMPLE_MAX_CHARS` characters.
        kind: ``script`` or ``persona`` (the instructions).
        cache: the LLM cache (None: none).
        workers: threads sending requests.
        stats: counters to add calls, tokens and cache hits to.

    Returns:
        (cluster id → ``{"name", "description"}``, cluster id → why it could not be named).

    Raises:
        ProviderAuthError: the key was refused.
    """
    items = []
    for cid, info in clusters.items():
        payload = {
            **info,
            "examples": [t[:EXAMPLE_MAX_CHARS] for t in info["examples"][:EXAMPLES_PER_CLUSTER]],
        }
        items.append(Item(cid, payload, estimate_tokens(json.dumps(payload)) + 30))
    system = NAME_INSTRUCTIONS[kind]
    outcome = labeler.run_batches(
        items,
        id_of=lambda i: i.id,
        key_of=lambda i: _key(labeler, f"names:{kind}", NAMES_VERSION, i.input_hash),
        tokens_of=lambda i: i.tokens,
        send=lambda batch, fb: labeler.generate(
            system, _user("Name these clusters:", batch, fb), NAMES_SCHEMA, "names"
        ),
        list_key="names",
        validate=_valid_name,
        batch_size=NAME_BATCH,
        cache=cache,
        workers=workers,
        stats=stats,
    )
    named = {
        cid: {"name": v["name"], "description": v["description"]}
        for cid, v in outcome.labels.items()
    }
    return named, outcome.failures


TRANSLATIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "translations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "messages": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string"},
                                "text_en": {"type": "string"},
                            },
                            "required": ["id", "text_en"],
                            "additionalProperties": False,
                        },
                    },
                },
                "required": ["id", "messages"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["translations"],
    "additionalProperties": False,
}

TRANSLATE_INSTRUCTIONS = (
    "You translate customer conversations into English for an analytics tool. For every "
    "conversation given, return its exact id and every one of its messages, by exact id, with "
    "text_en: the message in natural English, meaning, tone and names kept, nothing added or "
    "left out (a message already in English is copied as is). Reply with JSON only, matching "
    "the schema."
)


def translate(
    labeler: ApiLabeler,
    conversations: dict[str, list[tuple[str, str, str | None]]],
    *,
    cache: LabelCache | None = None,
    workers: int = 1,
    stats: LabelStats | None = None,
    batch_size: int = 5,
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Translate conversations into English, whole conversations per request.

    Args:
        labeler: the provider's labeler (its client, model, retries and rate limit).
        conversations: conversation id → its messages as ``(message_id, text, language)``
            (the detected ISO 639-1 code, or None, shown to the model as a hint).
        batch_size: conversations per request.
        cache: the LLM cache (None: none).
        workers: threads sending requests.
        stats: counters to add calls, tokens and cache hits to.

    Returns:
        (conversation id → {message id → English text}, conversation id → why it failed).
        A reply must give every message of a conversation; one that misses some is re-asked.

    Raises:
        ProviderAuthError: the key was refused.
    """
    items = []
    expected: dict[str, set[str]] = {}
    for cid, messages in conversations.items():
        payload = {
            "messages": [
                {"id": mid, "language": lang, "text": text} for mid, text, lang in messages
            ]
        }
        expected[cid] = {mid for mid, _, _ in messages}
        tokens = sum(estimate_tokens(t) for _, t, _ in messages)
        items.append(Item(cid, payload, 2 * tokens + 20 * len(messages)))

    def send(batch: list[Item], feedback: str | None) -> Any:
        return labeler.generate(
            TRANSLATE_INSTRUCTIONS,
            _user("Translate these conversations:", batch, feedback),
            TRANSLATIONS_SCHEMA,
            "translations",
        )

    def validate(item: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        messages = item.get("messages")
        if not isinstance(messages, list):
            return None, "messages is not a list"
        out: dict[str, str] = {}
        for m in messages:
            if isinstance(m, dict) and isinstance(m.get("id"), str):
                if isinstance(m.get("text_en"), str):
                    out[m["id"]] = m["text_en"]
        missing = expected[item["id"]] - set(out)
        if missing:
            return None, f"{len(missing)} of its messages missing (e.g. {sorted(missing)[0]})"
        return {"messages": {k: v for k, v in out.items() if k in expected[item["id"]]}}, ""

    outcome = labeler.run_batches(
        items,
        id_of=lambda i: i.id,
        key_of=lambda i: _key(labeler, "translate", TRANSLATE_VERSION, i.input_hash),
        tokens_of=lambda i: i.tokens,
        send=send,
        list_key="translations",
        validate=validate,
        batch_size=batch_size,
        cache=cache,
        workers=workers,
        stats=stats,
    )
    done = {cid: v["messages"] for cid, v in outcome.labels.items()}
    return done, outcome.failures


def _pack(vector: np.ndarray) -> dict[str, Any]:
    """Return a vector as a cache value: its float32 bytes in base64."""
    return {"f32": base64.b64encode(vector.astype(np.float32).tobytes()).decode("ascii")}


def _unpack(value: dict[str, Any]) -> np.ndarray:
    """Return the vector of a cache value made by :func:`_pack`."""
    return np.frombuffer(base64.b64decode(value["f32"]), dtype=np.float32)


def _embed_key(labeler: Labeler, model: str, dimensions: int, text: str) -> str:
    """Return the cache key of one vector: provider, embeddings model, dimensions, text.

    Not the labels model, which embeddings do not use.
    """
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return hashlib.sha256(
        f"embed|e1|{labeler.name}|{model}|{dimensions}|{digest}".encode()
    ).hexdigest()


MODEL_MISSING = ("http 404", "not found", "does not exist", "not_found")
"""Words of a rejection that mean the model itself is unknown (Gemini NOT_FOUND, OpenAI 404)."""


def _rejected(labeler: Labeler, model: str, exc: Exception) -> ConfigurationError:
    """Return the one-line error for a rejected embeddings request: the model, or the request."""
    text = str(exc)
    if any(word in text.lower() for word in MODEL_MISSING):
        setting = {
            "gemini": "ANALYTICS_GEMINI_EMBED_MODEL",
            "openai": "ANALYTICS_OPENAI_EMBED_MODEL",
        }.get(labeler.name, "the embeddings model setting")
        return ConfigurationError(
            f"{labeler.name} has no embeddings model {model!r}: {text}",
            f"set --embed-model or {setting} to a model that exists, e.g. "
            f"{type(labeler).default_embed_model}",
        )
    return ConfigurationError(
        f"{labeler.name} rejected an embeddings request to {model!r}: {text}",
        "check the provider's limits for this model (input size, dimensions), or run with "
        "--provider local for offline vectors",
    )


def embed_texts(
    labeler: ApiLabeler,
    texts: list[str],
    *,
    model: str,
    dimensions: int = EMBED_DIMENSIONS,
    cache: LabelCache | None = None,
    workers: int = 1,
    stats: LabelStats | None = None,
) -> np.ndarray:
    """Return the L2-normalised embedding of each text: float32, shape (len(texts), dims).

    Each distinct text is embedded once; requests of :data:`EMBED_BATCH` texts go through the
    labeler's retries and rate limiter; each vector is cached by (provider, model, dimensions,
    text).

    Raises:
        ConfigurationError: the provider has no such model (the message names it and the
            setting that chooses it), or rejected a request otherwise (400: the message quotes
            the provider).
        TransientError: the provider kept failing after the retries.
        ProviderAuthError: the key was refused.
    """
    stats = stats if stats is not None else LabelStats()
    if not texts:
        return np.zeros((0, dimensions), dtype=np.float32)
    distinct = list(dict.fromkeys(texts))
    keys = [_embed_key(labeler, model, dimensions, t) for t in distinct]
    hits = cache.get_many(keys) if cache is not None else {}
    vectors: dict[str, np.ndarray] = {}
    todo: list[int] = []
    for i, key in enumerate(keys):
        if key in hits:
            vectors[distinct[i]] = _unpack(hits[key])
            stats.add(cache_hits=1)
        else:
            todo.append(i)
    stats.add(conversations=len(distinct), labeled=len(distinct) - len(todo))
    batches = [todo[i : i + EMBED_BATCH] for i in range(0, len(todo), EMBED_BATCH)]

    def one(batch: list[int]) -> list[tuple[str, np.ndarray]]:
        part = [distinct[i] for i in batch]
        tokens = sum(estimate_tokens(t) for t in part)
        try:
            reply = labeler.send(lambda: labeler.embed(part, model, dimensions), tokens, stats)
        except ProviderRequestError as exc:
            raise _rejected(labeler, model, exc) from None
        except RetriableError as exc:
            raise TransientError(f"embeddings failed after retries: {exc}") from None
        out = []
        for i, vec in zip(batch, reply.vectors, strict=True):
            arr = np.asarray(vec, dtype=np.float32)
            if cache is not None:
                cache.put(keys[i], _pack(arr))
            out.append((distinct[i], arr))
        stats.add(labeled=len(batch))
        return out

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="embed") as pool:
        for result in pool.map(one, batches):
            vectors.update(result)
    matrix = np.vstack([vectors[t] for t in texts]).astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def api_labeler(settings: Settings, provider: str | None = None) -> ApiLabeler | None:
    """Return the provider's labeler when it calls an API, None for an offline one (``local``).

    Raises:
        UnknownNameError / ConfigurationError: as :func:`~analytics_framework.enrich.
            make_labeler` (an unknown provider, a missing key).
    """
    from analytics_framework.enrich import make_labeler

    labeler = make_labeler(settings, provider)
    return labeler if isinstance(labeler, ApiLabeler) else None


def llm_cache(settings: Settings) -> LabelCache:
    """Return the LLM cache of the settings' state folder (``label_cache.sqlite3``)."""
    return LabelCache(Path(settings.state_dir) / "label_cache.sqlite3")
