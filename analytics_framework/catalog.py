"""What the command line offers before any heavy library loads: sources, providers, defaults.

``analytics --help`` builds every command's options, and their help lists the sources and the
labeling providers. Importing the registries themselves
(:data:`analytics_framework.sources.SOURCES`, :data:`analytics_framework.enrich.LABELERS`) loads
polars, pyarrow and the HTTP clients, which would make every start-up pay for them (issue 14:
``--help`` in 0.4 s). So the names and descriptions live here; each source class takes its
``description`` from :data:`SOURCE_DESCRIPTIONS`, and the tests check the registries against
this module.
"""

from __future__ import annotations

from analytics_framework.errors import UnknownNameError

SOURCE_DESCRIPTIONS: dict[str, str] = {
    "twcs": "Customer Support on Twitter CSV (tweet_id, author_id, inbound, created_at, …)",
    "facebook": "grouped_chats JSON: {FB_CHAT_ID: [{MESSAGE_CONTENT, DIRECTION, …}]}",
    "files": "canonical messages in JSONL, CSV or Parquet (conversation_id, sent_at, role, text)",
    "messenger": "Facebook/Messenger export (.zip or folder): messages/inbox/*/message_N.json",
    "nocodb": "NocoDB tables (messages, conversations) over the data API, by UpdatedAt",
    "mochi": "Mochi CRM conversations (API by updated_at, or an export JSON file)",
}
"""Each source's name (``--source``) and one line for ``--help`` and the README, in registry
order."""


def check_source(name: str) -> None:
    """Refuse a source name that is not registered.

    Raises:
        UnknownNameError: no such source; the message lists the known ones.
    """
    if name not in SOURCE_DESCRIPTIONS:
        raise UnknownNameError(
            f"unknown source {name!r}", f"use one of: {', '.join(sorted(SOURCE_DESCRIPTIONS))}"
        )


PROVIDERS: tuple[str, ...] = ("gemini", "openai", "local")
"""The labeling providers (``--provider``, ``ANALYTICS_LLM_PROVIDER``), in registry order."""

CONVERSATIONS_PAGE = 50
"""Conversations per page of ``analytics conversations list`` when no ``--limit`` is given."""
