"""Shared fixtures: paths to the real sample data, and small hand-built conversations.

Every fixture lives inside the repository (``tests/data/``, each with its SOURCE.txt and
licence), so a clone on its own passes ``uv run pytest``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from analytics_framework.model import MESSAGE_SCHEMA

DATA = Path(__file__).resolve().parent / "data"
BUNDLED_TWCS = (
    Path(__file__).resolve().parents[1]
    / "analytics_framework"
    / "sources"
    / "data"
    / "twcs_sample.csv.gz"
)
T0 = datetime(2024, 3, 4, 9, 0, 0, tzinfo=UTC)  # a Monday


def msgs(conversation_id: str, *events: tuple[int, str], org: str = "acme") -> list[dict]:
    """Messages of one conversation: events are (seconds after T0, role)."""
    rows = []
    for i, (sec, role) in enumerate(events):
        sender = {"customer": "cust-" + conversation_id, "agent": "agent-1", "bot": "bot"}.get(role)
        rows.append(
            {
                "message_id": f"{conversation_id}-{i}",
                "conversation_id": conversation_id,
                "source": "files",
                "org_id": org,
                "sent_at": T0 + timedelta(seconds=sec),
                "role": role,
                "sender_id": sender,
                "text": f"{role} says {i}",
                "attributes": None,
            }
        )
    return rows


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=MESSAGE_SCHEMA)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder with no ANALYTICS_* settings, like a fresh user."""
    monkeypatch.chdir(tmp_path)
    import os

    for key in list(os.environ):
        if key.startswith("ANALYTICS_"):
            monkeypatch.delenv(key)
    return tmp_path
