"""Labeling conversations: providers (gemini, openai, local), taxonomy, cache, the enrich stage.

:data:`LABELERS` is the registry; :func:`make_labeler` builds the one the settings choose.
"""

from __future__ import annotations

from analytics_framework.enrich.base import (
    Labeler,
    RateLimiter,
    RetryPolicy,
    require_key,
)
from analytics_framework.enrich.gemini import GeminiLabeler
from analytics_framework.enrich.local import LocalLabeler
from analytics_framework.enrich.openai_labeler import OpenAILabeler
from analytics_framework.enrich.taxonomy import Taxonomy, load_taxonomy
from analytics_framework.errors import UnknownNameError
from analytics_framework.settings import Settings

LABELERS: dict[str, type[Labeler]] = {
    "gemini": GeminiLabeler,
    "openai": OpenAILabeler,
    "local": LocalLabeler,
}


def choose_provider(settings: Settings) -> str:
    """Return the provider the settings name, else the first whose key is set, else ``local``."""
    if settings.llm_provider:
        return settings.llm_provider
    if settings.gemini_api_key:
        return "gemini"
    if settings.openai_api_key:
        return "openai"
    return "local"


def make_labeler(
    settings: Settings, provider: str | None = None, taxonomy: Taxonomy | None = None
) -> Labeler:
    """Build the labeler for ``provider`` (default: :func:`choose_provider`) from settings.

    Raises:
        UnknownNameError: no such provider.
        ConfigurationError: the provider needs a key and none is set; a bad taxonomy file.
    """
    s = settings
    name = provider or choose_provider(s)
    if name not in LABELERS:
        raise UnknownNameError(f"unknown provider {name!r}", f"use one of: {', '.join(LABELERS)}")
    cls = LABELERS[name]
    tax = taxonomy or load_taxonomy(s.taxonomy_file)
    common = {
        "batch_size": s.llm_batch_size,
        "retry": RetryPolicy(
            attempts=s.llm_max_attempts,
            max_wait_s=s.llm_max_wait_s,
            initial_s=s.llm_backoff_initial_s,
            max_backoff_s=s.llm_backoff_max_s,
            jitter_s=min(1.0, s.llm_backoff_initial_s),
        ),
        "max_output_tokens": s.llm_max_output_tokens,
    }
    if name == "local":
        return cls(tax, **common)
    model, key, base_url = {
        "gemini": (s.gemini_model, s.gemini_api_key, s.gemini_base_url),
        "openai": (s.openai_model, s.openai_api_key, s.openai_base_url),
    }[name]
    return cls(
        tax,
        model=model,
        limiter=RateLimiter(s.llm_rpm, s.llm_tpm),
        api_key=require_key(cls, key.get_secret_value() if key else None),
        base_url=base_url,
        timeout_s=s.llm_timeout_s,
        **common,
    )


__all__ = ["LABELERS", "Labeler", "choose_provider", "load_taxonomy", "make_labeler"]
