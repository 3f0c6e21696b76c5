"""The ``gemini`` labeler: Gemini ``generateContent`` with a JSON response schema.

Uses the official ``google-genai`` SDK. The key comes from ``GEMINI_API_KEY`` or
``GOOGLE_API_KEY``; ``ANALYTICS_GEMINI_BASE_URL`` points it at another endpoint. The SDK's own
retries are off (no ``retry_options``): retries, backoff and rate limits are the base class's.
A 429's ``google.rpc.RetryInfo`` ``retryDelay`` (``"13s"``) is honoured as the wait floor.
The SDK is imported when a client is made, not with this module, so commands that never label
start without paying for it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Iterator
from typing import Any, ClassVar

from analytics_framework.enrich.base import (
    ApiLabeler,
    Embedded,
    ProviderAuthError,
    ProviderRequestError,
    RateLimitedError,
    Reply,
    TransientError,
    retry_after_s,
)
from analytics_framework.enrich.transcript import estimate_tokens


@functools.cache
def _transient_errors() -> tuple[type[BaseException], ...]:
    """Timeout and transport errors of whichever HTTP client the SDK sends through.

    google-genai uses ``httpx`` or ``httpx2`` (a drop-in fork), whichever is installed.
    """
    found: list[type[BaseException]] = []
    for module in ("httpx", "httpx2"):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        found += [mod.TimeoutException, mod.TransportError]
    return tuple(found)


RETRIABLE_STATUS = {429, 500, 502, 503, 504}


def retry_delay_s(details: Any) -> float | None:
    """Return the ``retryDelay`` of a Google RPC ``RetryInfo`` in an error body, or None."""
    error = details.get("error", details) if isinstance(details, dict) else {}
    for d in error.get("details", []) if isinstance(error, dict) else []:
        if isinstance(d, dict) and str(d.get("@type", "")).endswith("RetryInfo"):
            delay = str(d.get("retryDelay", "")).strip()
            if delay.endswith("s"):
                try:
                    return float(delay[:-1])
                except ValueError:
                    return None
    return None


class GeminiLabeler(ApiLabeler):
    """Labels through the Gemini API."""

    name: ClassVar[str] = "gemini"
    key_env_vars: ClassVar[tuple[str, ...]] = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    default_model: ClassVar[str] = "gemini-2.5-flash"
    default_embed_model: ClassVar[str] = "gemini-embedding-001"

    def make_client(self, api_key: str, base_url: str | None, timeout_s: float) -> Any:
        """Return the SDK client (no SDK retries)."""
        from google import genai
        from google.genai import types

        return genai.Client(
            api_key=api_key,
            http_options=types.HttpOptions(base_url=base_url, timeout=int(timeout_s * 1000)),
        )

    def generate(self, system: str, user: str, schema: dict[str, Any], name: str) -> Reply:
        """Send one generateContent; see :meth:`ApiLabeler.generate`."""
        from google.genai import types

        with self._errors():
            resp = self.client.models.generate_content(
                model=self.model,
                contents=user,
                config=types.GenerateContentConfig(
                    system_instruction=system,
                    response_mime_type="application/json",
                    response_json_schema=schema,
                    temperature=0,
                    max_output_tokens=self.max_output_tokens,
                ),
            )
        candidate = resp.candidates[0] if resp.candidates else None
        usage = resp.usage_metadata
        text = ""
        if candidate is not None and candidate.content and candidate.content.parts:
            text = "".join(p.text or "" for p in candidate.content.parts)
        return Reply(
            text=text,
            truncated=bool(candidate and candidate.finish_reason == types.FinishReason.MAX_TOKENS),
            input_tokens=(usage.prompt_token_count or 0) if usage else 0,
            output_tokens=(usage.candidates_token_count or 0) if usage else 0,
        )

    def embed(self, texts: list[str], model: str, dimensions: int) -> Embedded:
        """Send one ``embed_content`` (batchEmbedContents); see :meth:`ApiLabeler.embed`.

        The Gemini API reports no token count for embeddings: input tokens are estimated
        (:func:`~analytics_framework.enrich.transcript.estimate_tokens`).
        """
        from google.genai import types

        with self._errors():
            resp = self.client.models.embed_content(
                model=model,
                contents=texts,
                config=types.EmbedContentConfig(
                    output_dimensionality=dimensions, task_type="CLUSTERING"
                ),
            )
        vectors = [list(e.values or []) for e in resp.embeddings or []]
        if len(vectors) != len(texts):
            raise TransientError(f"{len(vectors)} embeddings for {len(texts)} texts")
        return Embedded(vectors, sum(estimate_tokens(t) for t in texts))

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Translate the SDK's errors into the base classes (see the module docstring)."""
        from google.genai import errors

        try:
            yield
        except errors.APIError as exc:
            code = exc.code or 0
            if code in (401, 403):
                raise ProviderAuthError(
                    f"Gemini refused the API key (HTTP {code}): {exc.message}",
                    "check GEMINI_API_KEY / GOOGLE_API_KEY",
                ) from None
            after = retry_delay_s(exc.details)
            if after is None and exc.response is not None:
                after = retry_after_s(getattr(exc.response, "headers", None))
            if code == 429:
                raise RateLimitedError(f"HTTP 429: {exc.message}", after) from None
            if code in RETRIABLE_STATUS:
                raise TransientError(f"HTTP {code}: {exc.message}", after) from None
            raise ProviderRequestError(f"HTTP {code}: {exc.message}") from None
        except _transient_errors() as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from None
