"""The activity report reads a rollup (conversations' quarter-hour lists), not the messages.

It must give exactly what the messages give: a customer with two conversations the same day is
one active customer, half- and quarter-hour zones land in the right local hour, and a lake
written before the rollup existed is read from its messages instead. Replies carry their
conversation's start, org and assignee, and reports over replies written without them say how to
rewrite the lake.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.reports import get_report, run_report
from analytics_framework.storage.lake import Lake

runner = CliRunner()


def msg(cid: str, sent_at: str, role: str, sender: str) -> dict:
    return {
        "conversation_id": cid,
        "sent_at": sent_at,
        "role": role,
        "text": "t",
        "org_id": "acme",
        "sender_id": sender,
    }


# 2024-03-04 is a Monday. Times are UTC.
MESSAGES = [
    # u1 writes in two conversations on Mon 03-04 (x, y) and again on Tue in y
    msg("x", "2024-03-04T08:00:00Z", "customer", "u1"),
    msg("x", "2024-03-04T08:14:59Z", "customer", "u1"),  # same quarter-hour: 2 messages
    msg("x", "2024-03-04T08:20:00Z", "agent", "a1"),
    msg("y", "2024-03-04T16:00:00Z", "customer", "u1"),
    msg("y", "2024-03-05T09:00:00Z", "customer", "u1"),
    msg("y", "2024-03-05T09:01:00Z", "bot", "bot"),  # never counts
    # u2 on Mon 18:45 UTC = Tue 00:15 in Kolkata (+5:30) = Tue 00:30 in Kathmandu (+5:45)
    msg("z", "2024-03-04T18:45:00Z", "customer", "u2"),
    msg("z", "2024-03-04T18:50:00Z", "agent", "a2"),
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("rollup")
    pl.DataFrame(MESSAGES).write_ndjson(home / "chats.jsonl")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        result = runner.invoke(app, ["collect", "--source", "files", "chats.jsonl", "--no-enrich"])
        assert result.exit_code == 0, result.output
    return home / "lake"


def rows(lake: Path, timezone: str = "UTC", **kw) -> list[dict]:
    return run_report(get_report("activity"), Lake(str(lake)), timezone=timezone, **kw).rows


def from_messages(lake: Path, timezone: str = "UTC", **kw) -> list[dict]:
    """The same report computed from the messages (the fallback SQL, run directly)."""
    slow = dataclasses.replace(
        get_report("activity"), sql_file="activity_messages.sql", fallback_sql_file=""
    )
    return run_report(slow, Lake(str(lake)), timezone=timezone, **kw).rows


def written_before(lake: Path, dest: Path, *columns: str) -> Path:
    """Copy ``lake`` to ``dest`` without ``columns``: a lake written before they existed."""
    for f in lake.rglob("*.parquet"):
        out = dest / f.relative_to(lake)
        out.parent.mkdir(parents=True, exist_ok=True)
        frame = pl.read_parquet(f)
        frame.drop([c for c in columns if c in frame.columns]).write_parquet(out)
    return dest


def test_quarter_hour_lists_are_written_per_conversation(lake):
    conv = pl.read_parquet(lake / "conversations" / "**" / "*.parquet").sort("conversation_id")
    x = conv.row(0, named=True)
    assert x["conversation_id"] == "files:x"
    monday_8 = 1709539200 // 900  # 2024-03-04T08:00:00Z in quarter-hours
    assert x["customer_quarters"] == [monday_8] and x["customer_quarter_messages"] == [2]
    assert x["agent_quarters"] == [monday_8 + 1] and x["agent_quarter_messages"] == [1]
    y = conv.row(1, named=True)
    assert y["agent_quarters"] == [] and len(y["customer_quarters"]) == 2  # the bot is nobody


def test_a_customer_in_two_conversations_a_day_is_one_active_customer(lake):
    got = {r["period"]: r for r in rows(lake) if r["section"] == "daily"}
    assert got["2024-03-04"]["active_customers"] == 2  # u1 (x and y), u2
    assert got["2024-03-04"]["customer_messages"] == 4
    assert got["2024-03-05"]["active_customers"] == 1  # u1 (y)
    assert got["2024-03-05"]["agent_messages"] == 0


@pytest.mark.parametrize(
    ("zone", "hour"), [("Asia/Kolkata", 0), ("Asia/Kathmandu", 0), ("America/New_York", 13)]
)
def test_half_and_quarter_hour_zones(lake, zone, hour):
    got = rows(lake, zone)
    heat = {
        (r["weekday"], r["hour"]): r["customer_messages"] for r in got if r["section"] == "heatmap"
    }
    # u2's Mon 18:45 UTC: Tue 00:15 (Kolkata), Tue 00:30 (Kathmandu), Mon 13:45 (New York)
    weekday = "Mon" if zone == "America/New_York" else "Tue"
    assert heat[(weekday, hour)] >= 1
    assert got == from_messages(lake, zone)


def test_the_same_as_the_messages_over_ranges(lake):
    for kw in ({}, {"start": date(2024, 3, 5), "end": date(2024, 3, 6)}, {"org": "nobody"}):
        assert rows(lake, "Europe/Berlin", **kw) == from_messages(lake, "Europe/Berlin", **kw)


def test_a_lake_without_the_rollup_reads_its_messages(lake, tmp_path):
    old = written_before(
        lake,
        tmp_path / "old",
        "customer_quarters",
        "customer_quarter_messages",
        "agent_quarters",
        "agent_quarter_messages",
    )
    assert rows(old) == rows(lake)
    days = {r["period"]: r for r in rows(old) if r["section"] == "daily"}
    assert days["2024-03-04"]["active_customers"] == 2


def test_agents_on_a_lake_without_per_agent_counts_says_to_rewrite_it(lake, tmp_path):
    old = written_before(lake, tmp_path / "old", "agent_message_counts", "agent_reply_counts")
    result = runner.invoke(app, ["report", "agents", "--lake", str(old)])
    assert result.exit_code != 0
    assert "--full-refresh" in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) <= 3


def test_reports_on_replies_without_their_conversation_start_say_to_rewrite(lake, tmp_path):
    # replies written before they carried their conversation's start: agents and business-hours
    # FRT put replies in periods by it, so they stop with the fix instead of dropping replies
    old = written_before(lake, tmp_path / "old", "conversation_started_at")
    for args in (["agents"], ["overview", "--business-hours", "Mon-Fri 09:00-17:00"]):
        result = runner.invoke(app, ["report", *args, "--lake", str(old)])
        assert result.exit_code != 0, args
        assert "--full-refresh" in result.output and "Traceback" not in result.output


def test_a_reply_carries_its_conversations_start_org_and_assignee(lake):
    replies = pl.read_parquet(lake / "replies" / "**" / "*.parquet")
    conv = pl.read_parquet(lake / "conversations" / "**" / "*.parquet")
    joined = replies.join(conv, on="conversation_id", suffix="_c")
    assert joined.height == replies.height > 0
    assert (joined["conversation_started_at"] == joined["started_at"]).all()
    assert joined["org_id"].equals(joined["org_id_c"])
