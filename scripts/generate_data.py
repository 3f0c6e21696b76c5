"""Write synthetic conversations in any source format, seeded, with realistic shapes.

Shapes: 2–40 messages a conversation; the customer usually opens (10 % agent outreach); reply
gaps log-uniform from 5 seconds to 3 days; several orgs, each with its own agents; returning
customers; 5 % of page messages are autoresponses (bot). Rows are written in time order, so
conversations interleave as they do in real exports.

Usage:
    python scripts/generate_data.py --format parquet --messages 1000000 --out bench-data/m.parquet
    python scripts/generate_data.py --format twcs --messages 100000 --out bench-data/t.csv
    python scripts/generate_data.py --format facebook --messages 100000 --out bench-data/f.json

Formats: ``parquet``, ``jsonl``, ``csv`` (the ``files`` source), ``twcs``, ``facebook``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

ORGS = [
    "AcmeSupport",
    "BetaBank",
    "GammaAir",
    "DeltaTel",
    "EpsilonShop",
    "ZetaCloud",
    "EtaEnergy",
    "ThetaTravel",
]
CUSTOMER_LINES = [
    "my order hasn't arrived yet, can you check?",
    "I was charged twice this month",
    "the app keeps crashing when I log in",
    "how do I change my delivery address?",
    "still waiting for a refund",
    "is there an outage in my area?",
    "thanks, that worked!",
    "can I speak to a manager?",
    "the price went up again, why?",
    "where is my booking?",
]
AGENT_LINES = [
    "Sorry to hear that! Could you DM us your order number?",
    "Thanks for reaching out, let me check.",
    "I've refunded the duplicate charge, it shows in 3-5 days.",
    "Please try reinstalling the app.",
    "You can change it under Settings > Addresses.",
    "Glad we could help!",
    "There is a known outage, engineers are on it.",
    "I'll escalate this to our team.",
]
START = datetime(2024, 1, 1, tzinfo=UTC)


def conversations(n_messages: int, seed: int, days: int):
    """Yield (conversation index, org, customer, [(sent_at, role, sender, text)]) until n msgs."""
    rnd = random.Random(seed)
    made, i = 0, 0
    n_customers = max(1, n_messages // 25)
    while made < n_messages:
        size = min(rnd.randint(2, 40), n_messages - made)
        if size < 1:
            break
        org = rnd.choice(ORGS)
        customer = f"cust{rnd.randrange(n_customers)}"
        t = START + timedelta(seconds=rnd.uniform(0, days * 86400))
        role = "agent" if rnd.random() < 0.10 else "customer"
        msgs = []
        for k in range(size):
            if k:
                t += timedelta(seconds=math.exp(rnd.uniform(math.log(5), math.log(3 * 86400))))
                r = rnd.random()
                role = "customer" if r < 0.5 else ("bot" if r < 0.53 else "agent")
            if role == "customer":
                sender, text = customer, rnd.choice(CUSTOMER_LINES)
            elif role == "bot":
                sender, text = f"{org}-bot", "Thanks for your message! *977# We reply within a day."
            else:
                initials = "ABCDEFGHJK"[rnd.randrange(5)] + "XYZ"[rnd.randrange(3)]
                sender, text = f"{org}^{initials}", f"{rnd.choice(AGENT_LINES)} ^{initials}"
            msgs.append((t, role, sender, text))
        yield i, org, customer, msgs
        made += size
        i += 1


def write_files(path: Path, fmt: str, n: int, seed: int, days: int) -> int:
    rows = [
        {
            "message_id": f"m{i}-{k}",
            "conversation_id": f"c{i}",
            "org_id": org,
            "sent_at": t,
            "role": role,
            "sender_id": sender,
            "text": text,
        }
        for i, org, _c, msgs in conversations(n, seed, days)
        for k, (t, role, sender, text) in enumerate(msgs)
    ]
    df = pl.DataFrame(rows).sort("sent_at")
    if fmt == "parquet":
        df.write_parquet(path)
    else:
        df = df.with_columns(sent_at=pl.col("sent_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
        df.write_ndjson(path) if fmt == "jsonl" else df.write_csv(path)
    return df.height


def write_twcs(path: Path, n: int, seed: int, days: int) -> int:
    rows, tweet = [], 0
    for _i, org, customer, msgs in conversations(n, seed, days):
        parent = None
        for t, role, _sender, text in msgs:
            tweet += 1
            inbound = role == "customer"
            rows.append(
                {
                    "tweet_id": tweet,
                    "author_id": customer.removeprefix("cust") if inbound else org,
                    "inbound": inbound,
                    "created_at": t.strftime("%a %b %d %H:%M:%S +0000 %Y"),
                    "text": f"@{org} {text}" if inbound else f"@{customer} {text}",
                    "response_tweet_id": None,
                    "in_response_to_tweet_id": parent,
                }
            )
            parent = tweet
    df = pl.DataFrame(rows).sample(fraction=1.0, shuffle=True, seed=seed)
    df.write_csv(path)
    return df.height


def write_facebook(path: Path, n: int, seed: int, days: int) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        fh.write("{")
        for i, _org, _customer, msgs in conversations(n, seed, days):
            chat = [
                {
                    "MESSAGE_CONTENT": text,
                    "DIRECTION": "to_company" if role == "customer" else "to_client",
                    "SOCIAL_CREATE_TIME": t.isoformat().replace("+00:00", "Z"),
                    "AGENT_USERNAME": None if role == "customer" else sender,
                    "AGENT_EMAIL": None if role != "agent" else f"{sender.lower()}@example.com",
                }
                for t, role, sender, text in msgs
            ]
            fh.write(("," if i else "") + json.dumps(f"fb_{i}") + ":" + json.dumps(chat))
            count += len(chat)
        fh.write("}")
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--format", required=True, choices=["parquet", "jsonl", "csv", "twcs", "facebook"]
    )
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--days", type=int, default=90, help="span of conversation starts")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    if a.format == "twcs":
        n = write_twcs(a.out, a.messages, a.seed, a.days)
    elif a.format == "facebook":
        n = write_facebook(a.out, a.messages, a.seed, a.days)
    else:
        n = write_files(a.out, a.format, a.messages, a.seed, a.days)
    print(f"wrote {n:,} messages to {a.out}")


if __name__ == "__main__":
    main()
