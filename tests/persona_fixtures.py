"""Customers of three kinds, written for the persona tests (no real data).

Each customer writes two or three messages drawn, with a fixed seed, from their kind's own
sentences (a few words of each kind never appear in another kind's), plus greetings every kind
uses. So the true persona of each customer is known, and a clustering can be scored against it.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

KINDS = {
    "price": [
        "is there a discount code for the premium plan",
        "that price is too expensive for me, any coupon",
        "can I get a cheaper deal or a student discount",
        "the coupon did not lower the price at checkout",
        "do you price match, your competitor is cheaper",
    ],
    "shipping": [
        "where is my package, the tracking number shows nothing",
        "my delivery is late again, when will it arrive",
        "the courier lost my parcel, tracking says delivered",
        "can you ship to another address, delivery is next week",
        "how long does shipping take to Canada",
    ],
    "login": [
        "I cannot login, the app says wrong password",
        "password reset email never arrives, locked out of my account",
        "the app crashes on login after the update",
        "two factor code is not accepted, cannot sign in",
        "my account is locked after too many password attempts",
    ],
}
COMMON = ["hi there", "hello", "thanks", "ok", "please help"]
T0 = datetime(2024, 5, 6, 9, 0)


def customers(per_kind: int = 8, seed: int = 7) -> tuple[list[dict], dict[str, str]]:
    """Return (files-source messages, customer id → true kind), one conversation each.

    Customer ``c000`` … in kind order; each conversation is a customer message or three and one
    agent answer, started on 2024-05-06 + (index mod 3) days.
    """
    rng = random.Random(seed)
    rows: list[dict] = []
    truth: dict[str, str] = {}
    i = 0
    for kind, sentences in KINDS.items():
        for _ in range(per_kind):
            cid = f"c{i:03d}"
            truth[cid] = kind
            start = T0 + timedelta(days=i % 3, minutes=i)
            texts = [rng.choice(COMMON)] + rng.sample(sentences, rng.randint(2, 3))
            for j, text in enumerate(texts):
                rows.append(
                    {
                        "conversation_id": f"conv-{cid}",
                        "sent_at": (start + timedelta(minutes=j)).isoformat() + "Z",
                        "role": "customer",
                        "sender_id": cid,
                        "text": text,
                        "org_id": "acme",
                    }
                )
            rows.append(
                {
                    "conversation_id": f"conv-{cid}",
                    "sent_at": (start + timedelta(minutes=10)).isoformat() + "Z",
                    "role": "agent",
                    "sender_id": "agent-1",
                    "text": "Thanks, we are on it",
                    "org_id": "acme",
                }
            )
            i += 1
    return rows, truth
