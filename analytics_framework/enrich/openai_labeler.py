"""The ``openai`` labeler: OpenAI chat completions with a strict JSON schema.

Uses the official ``openai`` SDK. The key comes from ``OPENAI_API_KEY``; ``OPENAI_BASE_URL`` is
honoured, so any OpenAI-compatible server (vLLM, Ollama, LiteLLM) works. The SDK's own retries
are off (``max_retries=0``): retries, backoff and rate limits are the base class's. The SDK is
imported when a client is made, not with this module.
"""

from __future__ import annotations

import contextlib
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

RETRIABLE_STATUS = {429, 500, 502, 503, 504}


class OpenAILabeler(ApiLabeler):
    """Labels through the OpenAI chat-completions API (or any compatible server)."""

    name: ClassVar[str] = "openai"
    key_env_vars: ClassVar[tuple[str, ...]] = ("OPENAI_API_KEY",)
    default_model: ClassVar[str] = "gpt-4o-mini"
    default_embed_model: ClassVar[str] = "text-embedding-3-small"

    def make_client(self, api_key: str, base_url: str | None, timeout_s: float) -> Any:
        """Return the SDK client (no SDK retries)."""
        import openai

        return openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0)

    def generate(self, system: str, user: str, schema: dict[str, Any], name: str) -> Reply:
        """Send one chat completion with a strict JSON schema; see :meth:`ApiLabeler.generate`."""
        with self._errors():
            resp = self.client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": schema, "strict": True},
                },
                temperature=0,
                max_tokens=self.max_output_tokens,
            )
        choice = resp.choices[0] if resp.choices else None
        usage = resp.usage
        return Reply(
            text=(choice.message.content or "") if choice else "",
            truncated=bool(choice and choice.finish_reason == "length"),
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
        )

    def embed(self, texts: list[str], model: str, dimensions: int) -> Embedded:
        """Send one ``embeddings.create``; see :meth:`ApiLabeler.embed`.

        ``dimensions`` is sent to the text-embedding-3 models only (older ones have one size).
        """
        extra: dict[str, Any] = {"dimensions": dimensions} if "embedding-3" in model else {}
        with self._errors():
            resp = self.client.embeddings.create(model=model, input=texts, **extra)
        data = sorted(resp.data, key=lambda d: d.index)
        if len(data) != len(texts):
            raise TransientError(f"{len(data)} embeddings for {len(texts)} texts")
        usage = resp.usage
        return Embedded([list(d.embedding) for d in data], usage.prompt_tokens if usage else 0)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Translate the SDK's errors into the base classes (see the module docstring)."""
        import openai

        try:
            yield
        except openai.APITimeoutError as exc:
            raise TransientError(f"timeout: {exc}") from None
        except openai.APIConnectionError as exc:
            raise TransientError(f"connection error: {exc}") from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise ProviderAuthError(
                f"OpenAI refused the API key (HTTP {exc.status_code}): {exc.message}",
                "check OPENAI_API_KEY (and OPENAI_BASE_URL if you use another server)",
            ) from None
        except openai.APIStatusError as exc:
            after = retry_after_s(exc.response.headers if exc.response is not None else None)
            if exc.status_code == 429:
                raise RateLimitedError(f"HTTP 429: {exc.message}", after) from None
            if exc.status_code in RETRIABLE_STATUS:
                raise TransientError(f"HTTP {exc.status_code}: {exc.message}", after) from None
            raise ProviderRequestError(f"HTTP {exc.status_code}: {exc.message}") from None
