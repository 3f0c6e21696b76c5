"""Facebook page inbox, ``grouped_chats`` JSON export.

Format: one JSON object whose keys are ``FB_CHAT_ID``s and whose values are arrays of messages
with ``MESSAGE_CONTENT``, ``DIRECTION`` (``to_company``: the customer wrote; ``to_client``: the
page answered), ``SOCIAL_CREATE_TIME`` (ISO 8601), ``AGENT_USERNAME``, ``AGENT_EMAIL``.

Page messages containing the autoresponse marker (setting ``autoresponse_marker``, default
``*977#``) get role ``bot`` and never count as human replies. The file is streamed with ijson, one
chat at a time, so memory holds one batch of chats, never the whole export. The export has no
message ids: each gets a stable hash (:func:`~analytics_framework.model.stable_message_id`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import ijson
import polars as pl

from analytics_framework.catalog import SOURCE_DESCRIPTIONS
from analytics_framework.errors import InputError
from analytics_framework.model import stable_message_id_expr
from analytics_framework.sources.base import SourceBatch, parser_error
from analytics_framework.sources.file_source import FileSource
from analytics_framework.sources.rows import first_reason, parse_timestamp
from analytics_framework.sources.text import check_text

FIELDS = ["MESSAGE_CONTENT", "DIRECTION", "SOCIAL_CREATE_TIME", "AGENT_USERNAME", "AGENT_EMAIL"]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class FacebookSource(FileSource):
    """Facebook/Messenger page conversations from a ``grouped_chats`` JSON export."""

    name = "facebook"
    description = SOURCE_DESCRIPTIONS["facebook"]
    option_names = frozenset({"org_id"})

    def scan(self) -> pl.LazyFrame:
        """Not used: the export is streamed chat by chat in :meth:`batches`."""
        raise NotImplementedError

    def _rows(self) -> Iterator[list[dict[str, str | None]]]:
        """Yield the raw message rows of one chat at a time."""
        path = self.files[0]
        check_text(path, "JSON")
        chats = 0
        try:
            with path.open("rb") as fh:
                for chat_id, messages in ijson.kvitems(fh, "", use_float=True):
                    rows = []
                    items = messages if isinstance(messages, list) else [messages]
                    for i, msg in enumerate(items, start=1):
                        msg = msg if isinstance(msg, dict) else {}
                        row = {k: _text(msg.get(k)) for k in FIELDS}
                        row["FB_CHAT_ID"] = str(chat_id)
                        row["_record"] = f"chat {chat_id} message {i}"
                        rows.append(row)
                    chats += 1
                    yield rows
        except ijson.JSONError as exc:
            raise InputError(
                f"{path} is not valid grouped_chats JSON after {chats} whole chat(s): "
                f"{parser_error(exc)}",
                "re-export the inbox, or check the file is the complete JSON object",
            ) from None

    def reject_reason(self) -> pl.Expr:
        """Unknown DIRECTION, unparsable SOCIAL_CREATE_TIME."""
        return first_reason(
            (
                ~pl.col("DIRECTION").is_in(["to_company", "to_client"])
                | pl.col("DIRECTION").is_null(),
                "DIRECTION is not to_company or to_client",
            ),
            (pl.col("_sent_at").is_null(), "SOCIAL_CREATE_TIME is missing or not ISO 8601"),
        )

    def canonical(self) -> dict[str, pl.Expr]:
        """Canonical columns; the customer's sender id is the chat id."""
        marker = self.settings.autoresponse_marker
        page = pl.col("DIRECTION") == "to_client"
        text = pl.col("MESSAGE_CONTENT").fill_null("")
        role = (
            pl.when(page & text.str.contains(marker, literal=True))
            .then(pl.lit("bot"))
            .when(page)
            .then(pl.lit("agent"))
            .otherwise(pl.lit("customer"))
        )
        sender = (
            pl.when(page)
            .then(pl.coalesce(pl.col("AGENT_EMAIL"), pl.col("AGENT_USERNAME")))
            .otherwise(pl.col("FB_CHAT_ID"))
        )
        return {
            "message_id": pl.lit(None, dtype=pl.String),  # filled in by split()
            "conversation_id": pl.lit(self.prefix) + pl.col("FB_CHAT_ID"),
            "source": pl.lit(self.name),
            "org_id": pl.lit(self.options.get("org_id"), dtype=pl.String),
            "sent_at": pl.col("_sent_at"),
            "role": role,
            "sender_id": sender,
            "text": text,
            "attributes": pl.struct(
                agent_username=pl.col("AGENT_USERNAME"), agent_email=pl.col("AGENT_EMAIL")
            ).struct.json_encode(),
        }

    def split(self, raw: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
        """As the base, then give each message its stable hashed id."""
        good, bad = super().split(raw)
        return good.with_columns(message_id=stable_message_id_expr(self.prefix)), bad

    ordered = False  # chats come in the export's order, not by start time

    def batches(
        self, batch_size: int, since: datetime | None = None, after_key: str | None = None
    ) -> Iterator[SourceBatch]:
        """Stream the export, ``batch_size`` chats at a time (``since``/``after_key`` unused)."""
        schema = {k: pl.String() for k in [*FIELDS, "FB_CHAT_ID", "_record"]}
        seq, pending, n_chats = 0, [], 0
        chats = self._rows()
        while True:
            chat = next(chats, None)
            if chat is not None:
                pending.extend(chat)
                n_chats += 1
            if pending and (n_chats >= batch_size or chat is None):
                raw = pl.from_dicts(pending, schema=schema).lazy()
                raw = raw.with_columns(_sent_at=parse_timestamp(pl.col("SOCIAL_CREATE_TIME")))
                good, bad = self.split(raw)
                yield SourceBatch(seq, good.collect(), bad.collect(), str(self.files[0]))
                seq, pending, n_chats = seq + 1, [], 0
            if chat is None:
                return
