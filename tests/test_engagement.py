"""The engagement report through the CLI, over a hand-built Mochi export, hand-computed values.

Conversations (``analytics collect --source mochi export.json``), week of Monday 2024-03-04;
E1-E3 on Monday, E4-E7 on Tuesday. Labels are written straight into the lake.

    conv org messages (seconds after the first)         stage         label: intent, resolved
    E1   7   contact 0, bot 5                           –             ask_question, True
    E2   7   contact 0, bot 2, setter 600, contact 1200 qualified     ask_question, True
    E3   7   contact 0, setter 60, bot 120              won           ask_question, False
    E4   8   contact 0, setter 300                      –             purchase, True
    E5   8   contact 0, setter 600, contact 1800        –             request_help + objection
                                                                      price, False
    E6   7   contact 0, bot 10, contact 300             –             ask_question, False
    E7   7   contact 0                                  –             (no label)

- with a bot: E1 E2 E3 E6. Contained (resolved, no human reply): E1 -> 1/4 = 25 %.
- handoff (a human reply after a bot message): E2; E3's setter wrote before its bot -> 1/4.
- messages 2 + 4 + 3 + 2 + 3 + 3 + 1 = 18, bot 4 -> 22.22 %.
- leads: E2 E3 (a stage), E4 (intent purchase), E5 (an objection) = 4; converted: E3 (won),
  E4 (no stage, resolved) -> 2/4 = 50 %.
- sessions 5, 1200, 120, 300, 1800, 300, 0 -> sorted 0 5 120 300 300 1200 1800: median 300;
  p90 at rank 0.9 x 6 = 5.4: 1200 + 0.4 x 600 = 1440. Messages per conversation 18 / 7.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.model import LABEL_SCHEMA
from analytics_framework.storage.lake import Lake
from tests.mochi_server import generate

runner = CliRunner()
SETTER = {"id": 31, "name": "Sam", "email": "sam@example.com"}


def invoke(*args: str):
    return runner.invoke(app, list(args))


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def conv(n: int, org: int, day: int, events: list[tuple[int, str]], stage: str | None = None):
    """A Mochi object: ``events`` are (seconds after the start, sender_type)."""
    t0 = datetime(2024, 3, day, 8 + n, tzinfo=UTC)

    def iso(s: int) -> str:
        return (t0 + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")

    history = []
    if stage is not None:
        history = [
            {"stage": "new lead", "changed_at": iso(0), "changed_by": None},
            {"stage": stage, "changed_at": iso(60), "changed_by": 31},
        ]
    return {
        "id": n,
        "organization": {"id": org, "name": f"org {org}"},
        "contact": {"id": 500 + n, "name": "Lee", "username": "@lee"},
        "setter": SETTER if any(kind == "setter" for _, kind in events) else None,
        "stage": stage,
        "stage_history": history,
        "messages": [
            {"id": 100 * n + i, "sender_type": kind, "text": kind, "sent_at": iso(s)}
            for i, (s, kind) in enumerate(events)
        ],
        "created_at": iso(0),
        "updated_at": iso(max(s for s, _ in events) + 61),
    }


EXPORT = [
    conv(1, 7, 4, [(0, "contact"), (5, "bot")]),
    conv(2, 7, 4, [(0, "contact"), (2, "bot"), (600, "setter"), (1200, "contact")], "qualified"),
    conv(3, 7, 4, [(0, "contact"), (60, "setter"), (120, "bot")], "won"),
    conv(4, 8, 5, [(0, "contact"), (300, "setter")]),
    conv(5, 8, 5, [(0, "contact"), (600, "setter"), (1800, "contact")]),
    conv(6, 7, 5, [(0, "contact"), (10, "bot"), (300, "contact")]),
    conv(7, 7, 5, [(0, "contact")]),
]

LABELS = {  # intent, resolved, objection
    "mochi:1": ("ask_question", True, None),
    "mochi:2": ("ask_question", True, None),
    "mochi:3": ("ask_question", False, None),
    "mochi:4": ("purchase", True, None),
    "mochi:5": ("request_help", False, "price"),
    "mochi:6": ("ask_question", False, None),
}


def collect_export(objects: list[dict]) -> Lake:
    Path("export.json").write_text(json.dumps(objects), encoding="utf-8")
    ok(invoke("collect", "--source", "mochi", "export.json", "--no-enrich"))
    return Lake("lake")


def write_labels(lake: Lake) -> None:
    from analytics_framework.storage.lake import Partition

    conversations = lake.read_table("conversations")
    for (y, mo, d), part in conversations.group_by(["year", "month", "day"]):
        rows = [
            {
                "conversation_id": cid,
                "intent": LABELS[cid][0],
                "resolved": LABELS[cid][1],
                "objection": LABELS[cid][2],
                "topic": "other",
                "status": "labeled",
            }
            for cid in part["conversation_id"]
            if cid in LABELS
        ]
        frame = pl.DataFrame(rows, schema=LABEL_SCHEMA)
        lake.write_partition("labels", Partition(y, mo, d), frame)


def engagement(*args: str) -> list[dict]:
    return json.loads(ok(invoke("report", "engagement", "--format", "json", *args)))["rows"]


FIELDS = (
    "conversations",
    "bot_conversations",
    "contained",
    "bot_containment_pct",
    "handoffs",
    "handoff_pct",
    "bot_message_share_pct",
    "leads",
    "converted_leads",
    "lead_conversion_pct",
    "session_median_s",
    "session_p90_s",
    "messages_per_conversation",
)


def values(row: dict) -> tuple:
    return tuple(row[f] for f in FIELDS)


def test_weekly_engagement_hand_computed(in_tmp):
    write_labels(collect_export(EXPORT))
    (row,) = engagement("--period", "weekly")
    assert (row["period"], row["metric_version"]) == ("2024-03-04", 1)
    # see the module docstring; 18 / 7 = 2.571428... -> 2.5714
    assert values(row) == (7, 4, 1, 25.0, 1, 25.0, 22.22, 4, 2, 50.0, 300.0, 1440.0, 2.5714)


def test_by_org_and_daily(in_tmp):
    write_labels(collect_export(EXPORT))
    rows = {r["org_id"]: r for r in engagement("--period", "weekly", "--by", "org")}
    # org 7: E1 E2 E3 E6 E7. Bot 4, contained E1, handoff E2; messages 2+4+3+3+1 = 13, bot 4
    #   -> 30.77 %; leads E2 E3, converted E3; sessions 0 5 120 300 1200: median 120,
    #   p90 at rank 3.6: 300 + 0.6 x 900 = 840; 13 / 5 = 2.6 messages
    assert values(rows["7"]) == (5, 4, 1, 25.0, 1, 25.0, 30.77, 2, 1, 50.0, 120.0, 840.0, 2.6)
    # org 8: E4 E5, no bot: containment and handoff have no denominator; leads E4 (purchase,
    #   resolved: converted) and E5 (objection); sessions 300 1800: median 1050,
    #   p90 300 + 0.9 x 1500 = 1650
    assert values(rows["8"]) == (2, 0, 0, None, 0, None, 0.0, 2, 1, 50.0, 1050.0, 1650.0, 2.5)
    daily = {r["period"]: r for r in engagement("--period", "daily")}
    # Monday: E1 E2 E3 -> contained 1/3, handoff 1/3; bot messages 3 of 2+4+3 = 9
    monday = daily["2024-03-04"]
    assert (monday["bot_containment_pct"], monday["handoff_pct"]) == (33.33, 33.33)
    assert monday["bot_message_share_pct"] == 33.33
    # --compare previous: Tuesday (E4-E7: one bot conversation, E6, not contained) against Monday
    tuesday = {r["period"]: r for r in engagement("--compare", "previous")}["2024-03-05"]
    assert (tuesday["bot_containment_pct"], tuesday["bot_containment_pct_prev"]) == (0.0, 33.33)
    assert tuesday["bot_containment_pct_change"] == -33.33  # points
    assert tuesday["conversations_change_pct"] == round((4 - 3) / 3 * 100, 2)  # 33.33 %


def test_without_labels_resolution_is_unknown_and_stages_still_make_leads(in_tmp):
    collect_export(EXPORT)  # no labels, and Mochi has no status: no resolution is known
    (row,) = engagement("--period", "weekly")
    assert (row["contained"], row["bot_containment_pct"]) == (0, None)  # unknown, not 0 %
    assert (row["handoffs"], row["handoff_pct"]) == (1, 25.0)  # needs no label
    assert (row["leads"], row["converted_leads"], row["lead_conversion_pct"]) == (2, 1, 50.0)


def test_generated_mochi_data_matches_plain_python(in_tmp):
    """500 generated conversations (tests/mochi_server.py), recomputed from the objects."""
    data = generate()
    collect_export(data)
    (row,) = engagement("--period", "monthly")  # all in March 2024
    kept = data
    kinds = Counter(m["sender_type"] for c in kept for m in c["messages"])
    bot = [c for c in kept if any(m["sender_type"] == "bot" for m in c["messages"])]

    def handoff(c: dict) -> bool:
        bots = [m["sent_at"] for m in c["messages"] if m["sender_type"] == "bot"]
        humans = [m["sent_at"] for m in c["messages"] if m["sender_type"] == "setter"]
        return bool(humans) and max(humans) >= min(bots)

    assert row["conversations"] == len(kept)
    assert row["bot_conversations"] == len(bot)
    assert row["handoffs"] == sum(handoff(c) for c in bot)
    assert row["bot_message_share_pct"] == round(100 * kinds["bot"] / kinds.total(), 2)
    assert row["leads"] == len(kept)  # every Mochi conversation has a stage
    assert row["converted_leads"] == sum(c["stage"] == "won" for c in kept)
    assert row["bot_containment_pct"] is None  # unlabeled
    assert row["messages_per_conversation"] == pytest.approx(kinds.total() / len(kept), abs=1e-4)
    assert 0 < row["session_median_s"] <= row["session_p90_s"]


def test_the_bundled_sample_labeled_locally(in_tmp):
    ok(invoke("collect", "--provider", "local"))  # Twitter support threads: no bots, no stages
    rows = engagement("--period", "monthly")
    overview = {
        r["period"]: r
        for r in json.loads(ok(invoke("report", "--period", "monthly", "--format", "json")))["rows"]
    }
    labels = Lake("lake").read_table("labels")
    leads = labels.filter((pl.col("intent") == "purchase") | pl.col("objection").is_not_null())
    assert sum(r["leads"] for r in rows) == leads.height
    for r in rows:
        o = overview[r["period"]]
        assert r["conversations"] == o["conversations"]
        assert r["messages_per_conversation"] == pytest.approx(
            o["messages"] / o["conversations"], abs=1e-4
        )
        assert (r["bot_conversations"], r["bot_message_share_pct"]) == (0, 0.0)
        assert r["bot_containment_pct"] is None and r["handoff_pct"] is None
        assert r["session_median_s"] <= r["session_p90_s"]
        assert r["converted_leads"] <= r["leads"]
