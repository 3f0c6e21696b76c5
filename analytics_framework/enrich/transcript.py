"""Conversation transcripts as labelers see them, cut to a token budget, content-hashed.

A transcript is one line per message, in time order: ``customer: <text>`` (roles as in the
``messages`` table), whitespace collapsed. Tokens are *estimated* as ⌈characters / 4⌉ (OpenAI's
rule of thumb for English); the estimate feeds the token budget and the tokens-per-minute limit,
while cost accounting uses the token counts the provider reports.

**Cut rule** for a transcript over the budget: keep whole lines from the opening up to a third
of the budget and from the end up to the remaining two thirds, and put
``[… N messages omitted …]`` between them. The opening says what the customer wanted; the end
says how it finished (resolution, satisfaction), which is why the end gets more room. A single
line longer than its share is truncated to it.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from dataclasses import dataclass

import polars as pl

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class LabelRequest:
    """One conversation to label.

    Attributes:
        conversation_id: its id.
        transcript: the (possibly cut) transcript sent to the labeler.
        input_hash: SHA-256 (hex) of ``transcript``; the cache is keyed by it.
        tokens: estimated tokens of ``transcript``.
        message_count: messages in the conversation (whether or not cut).
        customer_texts: the customer's messages, for the offline labeler.
        roles: the role of every message in order, for the offline labeler.
    """

    conversation_id: str
    transcript: str
    input_hash: str
    tokens: int
    message_count: int
    customer_texts: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    last_texts: tuple[str, ...] = ()


def estimate_tokens(text: str) -> int:
    """Return the estimated token count of ``text`` (⌈len / 4⌉)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def normalise(text: str | None) -> str:
    """Return ``text`` NFC-normalised with runs of whitespace collapsed to one space."""
    return " ".join(unicodedata.normalize("NFC", text or "").split())


def cut_to_budget(lines: list[str], budget_tokens: int) -> list[str]:
    """Return ``lines`` cut to ``budget_tokens`` by the module's rule (opening + end)."""
    if estimate_tokens("\n".join(lines)) <= budget_tokens:
        return lines
    head_chars = budget_tokens * CHARS_PER_TOKEN // 3
    tail_chars = budget_tokens * CHARS_PER_TOKEN - head_chars
    head: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > head_chars:
            if not head:
                head.append(line[:head_chars])
            break
        head.append(line)
        used += len(line) + 1
    tail: list[str] = []
    used = 0
    for line in reversed(lines[len(head) :]):
        if used + len(line) + 1 > tail_chars:
            if not tail:
                tail.append(line[-tail_chars:])
            break
        tail.append(line)
        used += len(line) + 1
    tail.reverse()
    omitted = len(lines) - len(head) - len(tail)
    middle = [f"[… {omitted} messages omitted …]"] if omitted > 0 else []
    return head + middle + tail


def build_requests(messages: pl.DataFrame, budget_tokens: int = 3000) -> list[LabelRequest]:
    """Turn ``messages`` rows (canonical columns) into one :class:`LabelRequest` per conversation.

    Conversations come out sorted by id; messages inside by (``sent_at``, ``message_id``).
    """
    if messages.height == 0:
        return []
    grouped = (
        messages.sort("conversation_id", "sent_at", "message_id")
        .group_by("conversation_id", maintain_order=True)
        .agg(pl.col("role"), pl.col("text"))
    )
    out = []
    for cid, roles, texts in grouped.iter_rows():
        clean = [normalise(t) for t in texts]
        lines = cut_to_budget(
            [f"{r}: {t}" for r, t in zip(roles, clean, strict=True)], budget_tokens
        )
        transcript = "\n".join(lines)
        out.append(
            LabelRequest(
                conversation_id=cid,
                transcript=transcript,
                input_hash=hashlib.sha256(transcript.encode("utf-8")).hexdigest(),
                tokens=estimate_tokens(transcript),
                message_count=len(roles),
                customer_texts=tuple(
                    t for r, t in zip(roles, clean, strict=True) if r == "customer"
                ),
                roles=tuple(roles),
                last_texts=tuple(clean[-2:]),
            )
        )
    return out
