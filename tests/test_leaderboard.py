"""The leaderboard report through the CLI: organisations ranked per period, share and change.

Every expected value below is computed by hand from :data:`CONVERSATIONS`.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from analytics_cli.app import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


# (conversation, org or None, customer, day in March 2024, messages); weeks start on Monday:
# week 1 = 03-04..03-10, week 2 = 03-11..03-17, week 3 = 03-18..
CONVERSATIONS = [
    # week 1: acme 3 conversations (u1, u1, u2), 6 messages; beta 2 (u3, u2), 7 messages;
    # gamma 1 (u5), 1 message; no org 1 (u6), 2 messages
    # -> 7 conversations, 5 distinct customers (u1, u2, u3, u5, u6), 16 messages
    ("w1a1", "acme", "u1", 4, 2),
    ("w1a2", "acme", "u1", 5, 2),
    ("w1a3", "acme", "u2", 6, 2),
    ("w1b1", "beta", "u3", 4, 4),
    ("w1b2", "beta", "u2", 7, 3),
    ("w1g1", "gamma", "u5", 8, 1),
    ("w1n1", None, "u6", 9, 2),
    # week 2: beta 4 (u3, u3, u7, u8), 4 messages; delta 2 (u9, u10), 2; acme 1 (u1), 2
    # -> 7 conversations, 6 customers, 8 messages
    ("w2b1", "beta", "u3", 11, 1),
    ("w2b2", "beta", "u3", 12, 1),
    ("w2b3", "beta", "u7", 13, 1),
    ("w2b4", "beta", "u8", 14, 1),
    ("w2d1", "delta", "u9", 11, 1),
    ("w2d2", "delta", "u10", 15, 1),
    ("w2a1", "acme", "u1", 16, 2),
    # week 3: gamma alone, present in week 1 but not in week 2
    ("w3g1", "gamma", "u5", 18, 1),
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """A lake of :data:`CONVERSATIONS`, collected through the CLI (files source, no labels)."""
    home = tmp_path_factory.mktemp("leaderboard")
    rows = []
    for cid, org, customer, day, messages in CONVERSATIONS:
        for i in range(messages):  # the customer writes first, then an agent, alternating
            role = "customer" if i % 2 == 0 else "agent"
            rows.append(
                {
                    "conversation_id": cid,
                    "sent_at": f"2024-03-{day:02d}T09:{i:02d}:00Z",
                    "role": role,
                    "text": "t",
                    "org_id": org,
                    "sender_id": customer if role == "customer" else "a1",
                }
            )
    pl.DataFrame(rows).write_ndjson(home / "chats.jsonl")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        result = invoke("collect", "--source", "files", "chats.jsonl", "--no-enrich")
        assert result.exit_code == 0, result.output
    return home / "lake"


def report(lake: Path, *args: str) -> list[dict]:
    result = invoke(
        "report",
        "leaderboard",
        "--lake",
        str(lake),
        "--period",
        "weekly",
        "--format",
        "json",
        *args,
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["metric_version"] == 1
    return doc["rows"]


def board(rows: list[dict], *columns: str) -> list[tuple]:
    return [(r["period"], r["rank"], r["org_id"], *(r[c] for c in columns)) for r in rows]


def test_ranked_by_conversations_with_share_and_change(in_tmp, lake):
    rows = report(lake)
    assert board(rows, "conversations", "share_pct", "previous", "change_pct") == [
        # week 1, the first period: no change; shares of all 7 conversations (the org-less too)
        ("2024-03-04", 1, "acme", 3, 42.86, None, None),  # 3 / 7
        ("2024-03-04", 2, "beta", 2, 28.57, None, None),  # 2 / 7
        ("2024-03-04", 3, "gamma", 1, 14.29, None, None),  # 1 / 7
        # week 2: beta 2 -> 4 (+100 %), delta new (no change), acme 3 -> 1 (-66.67 %)
        ("2024-03-11", 1, "beta", 4, 57.14, 2, 100.0),
        ("2024-03-11", 2, "delta", 2, 28.57, None, None),
        ("2024-03-11", 3, "acme", 1, 14.29, 3, -66.67),
        # week 3: gamma had none in week 2 (week 1 is not the previous period)
        ("2024-03-18", 1, "gamma", 1, 100.0, None, None),
    ]
    assert {r["metric"] for r in rows} == {"conversations"}
    first = rows[0]
    assert (first["customers"], first["messages"]) == (2, 6)


def test_sort_by_customers_and_messages_and_limit(in_tmp, lake):
    # customers, week 1: acme {u1, u2} and beta {u2, u3} tie at 2 -> by org_id; the total is the
    # week's distinct customers, 5 (u2 counts once, u6 without an org counts too)
    rows = report(lake, "--sort", "customers")
    assert board(rows[:3], "customers", "share_pct") == [
        ("2024-03-04", 1, "acme", 2, 40.0),
        ("2024-03-04", 2, "beta", 2, 40.0),
        ("2024-03-04", 3, "gamma", 1, 20.0),
    ]
    # week 2: beta {u3, u7, u8} 3 of 6 (2 -> 3: +50 %), delta 2, acme {u1} 1 (2 -> 1: -50 %)
    assert board(rows[3:6], "customers", "share_pct", "change_pct") == [
        ("2024-03-11", 1, "beta", 3, 50.0, 50.0),
        ("2024-03-11", 2, "delta", 2, 33.33, None),
        ("2024-03-11", 3, "acme", 1, 16.67, -50.0),
    ]
    # messages, week 1: beta 7, acme 6, gamma 1 of 16; week 2: beta 4 (7 -> 4: -42.86 %), then
    # acme 2 and delta 2 tie -> acme first; --limit 2 keeps the top two of each week
    rows = report(lake, "--sort", "messages", "--limit", "2")
    assert board(rows, "messages", "share_pct", "change_pct") == [
        ("2024-03-04", 1, "beta", 7, 43.75, None),
        ("2024-03-04", 2, "acme", 6, 37.5, None),
        ("2024-03-11", 1, "beta", 4, 50.0, -42.86),
        ("2024-03-11", 2, "acme", 2, 25.0, -66.67),  # 6 -> 2
        ("2024-03-18", 1, "gamma", 1, 100.0, None),
    ]
    assert {r["metric"] for r in rows} == {"messages"}


def test_range_org_and_the_first_period(in_tmp, lake):
    # starting in week 2, week 2 is the first period: its previous (week 1) is outside the range
    rows = report(lake, "--start-date", "2024-03-11", "--end-date", "2024-03-18")
    assert board(rows, "previous", "change_pct") == [
        ("2024-03-11", 1, "beta", None, None),
        ("2024-03-11", 2, "delta", None, None),
        ("2024-03-11", 3, "acme", None, None),
    ]
    # one org: all of its period's total
    rows = report(lake, "--org", "beta")
    assert board(rows, "conversations", "share_pct", "change_pct") == [
        ("2024-03-04", 1, "beta", 2, 100.0, None),
        ("2024-03-11", 1, "beta", 4, 100.0, 100.0),
    ]


def test_bad_input_is_one_line(in_tmp, lake):
    for args, needle in (
        (("--sort", "revenue"), "use one of: conversations, customers, messages"),
        (("--by", "org"), "has no --by 'org'"),
        (("--power-threshold", "3"), "does not take --power-threshold"),
    ):
        result = invoke("report", "leaderboard", "--lake", str(lake), *args)
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], result.stderr
        assert "Traceback" not in result.output


def test_bundled_sample(in_tmp):
    assert invoke("collect", "--no-enrich").exit_code == 0
    result = invoke("report", "leaderboard", "--period", "monthly", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    conversations = pl.read_parquet("lake/conversations/**/*.parquet", hive_partitioning=False)
    october = conversations.filter(
        pl.col("started_at").dt.year() == 2017, pl.col("started_at").dt.month() == 10
    )
    top = october.group_by("org_id").len().sort(["len", "org_id"], descending=[True, False])
    got = [r for r in rows if r["period"] == "2017-10-01"]
    # the top 5 brands of October 2017, counted directly from the lake
    assert [(r["org_id"], r["conversations"]) for r in got] == list(top.head(5).iter_rows())
    assert got[0]["share_pct"] == round(100 * top["len"][0] / october.height, 2)
    for period in {r["period"] for r in rows}:
        ranked = [r for r in rows if r["period"] == period]
        assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
        assert len(ranked) <= 5 and sum(r["share_pct"] for r in ranked) <= 100.0
        values = [r["conversations"] for r in ranked]
        assert values == sorted(values, reverse=True)
    november = next(r for r in rows if r["period"] == "2017-11-01" and r["rank"] == 1)
    if november["previous"] is not None:
        change = (november["conversations"] - november["previous"]) / november["previous"] * 100
        assert november["change_pct"] == round(change, 2)
