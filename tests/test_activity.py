"""The activity report through the CLI: a weekday x hour heatmap and daily active customers.

Every expected value below is computed by hand from the messages in :data:`MESSAGES`.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console
from typer.testing import CliRunner

from analytics_cli import heatmap
from analytics_cli.app import app
from analytics_framework.reports import get_report, run_report
from analytics_framework.storage.lake import Lake

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def msg(cid: str, sent_at: str, role: str, sender: str, org: str = "acme") -> dict:
    return {
        "conversation_id": cid,
        "sent_at": sent_at,
        "role": role,
        "text": "t",
        "org_id": org,
        "sender_id": sender,
    }


# 2024-03-04 is a Monday. Times are UTC.
MESSAGES = [
    # g: starts Fri 03-01, before the range; its Wed 03-06 message is inside the range
    msg("g", "2024-03-01T10:00:00Z", "customer", "u4"),
    msg("g", "2024-03-06T14:00:00Z", "customer", "u4"),
    # a: Mon 09:00 / 09:10 customer, 09:05 agent, 09:12 a bot (never counts)
    msg("a", "2024-03-04T09:00:00Z", "customer", "u1"),
    msg("a", "2024-03-04T09:05:00Z", "agent", "a1"),
    msg("a", "2024-03-04T09:10:00Z", "customer", "u1"),
    msg("a", "2024-03-04T09:12:00Z", "bot", "bot"),
    # b: Mon 09:30 customer, 10:00 agent
    msg("b", "2024-03-04T09:30:00Z", "customer", "u2"),
    msg("b", "2024-03-04T10:00:00Z", "agent", "a1"),
    # d: the zone case: Mon 23:30 UTC = Tue 08:30 in Tokyo (+9) = Mon 18:30 in New York (-5)
    msg("d", "2024-03-04T23:30:00Z", "customer", "u3"),
    msg("d", "2024-03-05T00:10:00Z", "agent", "a1"),
    # h: another org, Tue 15:00
    msg("h", "2024-03-05T15:00:00Z", "customer", "u5", org="beta"),
    # e: Sun 03-10 12:00, u2 again
    msg("e", "2024-03-10T12:00:00Z", "customer", "u2"),
    # c: Mon 03-11 09:15 customer, 09:20 agent, u1 again
    msg("c", "2024-03-11T09:15:00Z", "customer", "u1"),
    msg("c", "2024-03-11T09:20:00Z", "agent", "a1"),
]

RANGE = ("--start-date", "2024-03-04", "--end-date", "2024-03-18")  # two whole weeks, Mon..Sun


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """A lake of :data:`MESSAGES`, collected through the CLI (files source, no labels)."""
    home = tmp_path_factory.mktemp("activity")
    pl.DataFrame(MESSAGES).write_ndjson(home / "chats.jsonl")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        result = invoke("collect", "--source", "files", "chats.jsonl", "--no-enrich")
        assert result.exit_code == 0, result.output
    return home / "lake"


def report(lake: Path, *args: str) -> list[dict]:
    result = invoke("report", "activity", "--lake", str(lake), "--format", "json", *args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["metric_version"] == 1
    return doc["rows"]


def cells(rows: list[dict], metric: str = "customer_messages") -> dict[tuple[str, int], int]:
    """The heatmap's non-zero cells of ``metric``, by (weekday, hour)."""
    return {
        (r["weekday"], r["hour"]): r[metric]
        for r in rows
        if r["section"] == "heatmap" and r[metric]
    }


def daily(rows: list[dict]) -> dict[str, dict]:
    return {r["period"]: r for r in rows if r["section"] == "daily"}


def test_heatmap_counts_messages_by_weekday_and_hour(in_tmp, lake):
    rows = report(lake, *RANGE)
    heat = [r for r in rows if r["section"] == "heatmap"]
    # 7 x 24 cells, zeros included, Mon 0..23 first, then the 14 days of the range
    assert len(heat) == 168 and len(rows) == 168 + 14
    assert [(r["weekday"], r["hour"]) for r in heat[:2]] == [("Mon", 0), ("Mon", 1)]
    assert (heat[-1]["weekday"], heat[-1]["hour"]) == ("Sun", 23)
    assert {r["period"] for r in heat} == {"2024-03-04"}  # the range's first day
    # customer messages: Mon 09 = a 09:00 + a 09:10 + b 09:30 + c 09:15 (the 11th) = 4;
    # Mon 23 = d; Tue 15 = h; Wed 14 = g's second (g's first, 03-01, is before the range);
    # Sun 12 = e
    assert cells(rows) == {
        ("Mon", 9): 4,
        ("Mon", 23): 1,
        ("Tue", 15): 1,
        ("Wed", 14): 1,
        ("Sun", 12): 1,
    }
    # agent messages: Mon 09 = a 09:05 + c 09:20; Mon 10 = b; Tue 00 = d; a's bot never counts
    assert cells(rows, "agent_messages") == {("Mon", 9): 2, ("Mon", 10): 1, ("Tue", 0): 1}
    # every weekday twice in two weeks: the mean per Monday 09:00 is 4 / 2 and 2 / 2
    mon9 = next(r for r in heat if (r["weekday"], r["hour"]) == ("Mon", 9))
    assert mon9["weekdays"] == 2
    assert (mon9["customer_per_day"], mon9["agent_per_day"]) == (2.0, 1.0)
    assert mon9["active_customers"] is None and mon9["rolling_7d"] is None  # daily only


def test_weekday_and_hour_move_with_the_timezone(in_tmp, lake):
    # d's customer message, Mon 23:30 UTC, is Tue 08:30 in Tokyo and Mon 18:30 in New York
    tokyo = cells(report(lake, *RANGE, "--timezone", "Asia/Tokyo"))
    assert tokyo[("Tue", 8)] == 1 and ("Mon", 23) not in tokyo
    # a, b and c's customer messages (09:00-09:30 UTC) are Mon 18:xx in Tokyo
    assert tokyo[("Mon", 18)] == 4
    new_york = cells(report(lake, *RANGE, "--timezone", "America/New_York"))
    assert new_york[("Mon", 18)] == 1 and ("Mon", 23) not in new_york
    # Tokyo's days: 03-04 has a (2) and b (1), u1 and u2; d moves to 03-05 (u3), and h,
    # 15:00 UTC on the 5th, to midnight on the 6th
    days = daily(report(lake, *RANGE, "--timezone", "Asia/Tokyo"))
    assert (days["2024-03-04"]["customer_messages"], days["2024-03-04"]["active_customers"]) == (
        3,
        2,
    )
    assert (days["2024-03-05"]["customer_messages"], days["2024-03-05"]["active_customers"]) == (
        1,
        1,
    )
    assert days["2024-03-06"]["active_customers"] == 2  # h (u5) and g (u4, 23:00 in Tokyo)


def test_daily_active_customers_and_the_7_day_mean(in_tmp, lake):
    days = daily(report(lake, *RANGE))
    assert list(days) == [f"2024-03-{d:02d}" for d in range(4, 18)]  # zeros included
    active = [days[d]["active_customers"] for d in days]
    # 03-04: u1, u2, u3; 03-05: u5 (h); 03-06: u4 (g); 03-10: u2 (e); 03-11: u1 (c)
    assert active == [3, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert (days["2024-03-04"]["customer_messages"], days["2024-03-04"]["agent_messages"]) == (
        4,
        2,
    )
    assert days["2024-03-05"]["agent_messages"] == 1  # d's reply, 00:10 on the 5th
    # null until the range holds 7 days (03-04..03-09), then the mean of the last 7:
    assert all(days[f"2024-03-0{d}"]["rolling_7d"] is None for d in range(4, 10))
    assert days["2024-03-10"]["rolling_7d"] == round(6 / 7, 4)  # 3+1+1+0+0+0+1 = 6 -> 0.8571
    assert days["2024-03-11"]["rolling_7d"] == round(4 / 7, 4)  # 1+1+0+0+0+1+1 = 4 -> 0.5714
    assert days["2024-03-13"]["rolling_7d"] == round(2 / 7, 4)  # 03-07..13: 1 + 1 -> 0.2857
    assert days["2024-03-17"]["rolling_7d"] == round(1 / 7, 4)  # 03-11..17: 1 -> 0.1429
    assert days["2024-03-10"]["weekday"] == "Sun" and days["2024-03-10"]["hour"] is None


def test_org_filter_and_an_open_range(in_tmp, lake):
    # --org acme drops h (beta): Tue 15 is empty and 03-05 has no active customer
    rows = report(lake, *RANGE, "--org", "acme")
    assert ("Tue", 15) not in cells(rows)
    assert daily(rows)["2024-03-05"]["active_customers"] == 0
    # no dates: from the first message's day (Fri 03-01, g) to the last (Mon 03-11): 11 days,
    # Fridays 03-01 and 03-08 (2), Tuesdays only 03-05 (1); g's 03-01 10:00 counts now
    rows = report(lake)
    heat = {(r["weekday"], r["hour"]): r for r in rows if r["section"] == "heatmap"}
    assert heat[("Fri", 10)]["period"] == "2024-03-01"
    assert (heat[("Fri", 10)]["weekdays"], heat[("Fri", 10)]["customer_per_day"]) == (2, 0.5)
    assert heat[("Tue", 15)]["weekdays"] == 1 and heat[("Tue", 15)]["customer_per_day"] == 1.0
    assert sum(r["weekdays"] for r in heat.values()) == 11 * 24
    assert len(daily(rows)) == 11
    # a range with no message gives no rows, and the table says so
    empty = report(lake, "--start-date", "2025-01-01", "--end-date", "2025-01-08")
    assert empty == []


def test_table_view_is_a_shaded_grid(in_tmp, lake):
    result = run_report(
        get_report("activity"), Lake(str(lake)), start=date(2024, 3, 4), end=date(2024, 3, 18)
    )
    assert heatmap.handles(result)
    wide = Console(width=120, record=True, color_system=None)
    heatmap.render(wide, result)
    text = wide.export_text()
    assert "customer messages by weekday × hour" in text and "agent messages" in text
    mon = next(line for line in text.splitlines() if line.startswith("Mon "))
    assert mon.split()[1:] == ["0"] * 9 + ["4"] + ["0"] * 13 + ["1"]  # Mon 09: 4, Mon 23: 1
    assert "busiest: Mon 09:00, 4 messages (2.00 per Mon)" in text
    assert "2024-03-10" in text and "0.86" in text  # the daily table, 7-day mean 6/7
    narrow = Console(width=80, record=True, color_system=None)
    heatmap.render(narrow, result)
    lines = narrow.export_text().splitlines()
    mon = next(line for line in lines if line.startswith("Mon "))
    # shades only: 1 message is the lowest quartile, 4 the highest (cuts 1, 1, 1)
    assert mon[4:].split() == ["··"] * 9 + ["██"] + ["··"] * 13 + ["░░"]
    assert all(len(line) <= 80 for line in lines)
    # the CLI's table view runs whichever layout it is wired to
    table = invoke("report", "activity", "--lake", str(lake), *RANGE)
    assert table.exit_code == 0, table.output


def test_bad_input_is_one_line(in_tmp, lake):
    for args, needle in (
        (("--by", "org"), "has no --by 'org'"),
        (("--sort", "messages"), "does not take --sort"),
    ):
        result = invoke("report", "activity", "--lake", str(lake), *args)
        assert result.exit_code == 2, result.output
        assert len(result.stderr.strip().splitlines()) == 1 and needle in result.stderr
        assert "Traceback" not in result.output


def test_bundled_sample(in_tmp):
    assert invoke("collect", "--no-enrich").exit_code == 0
    october = ("--start-date", "2017-10-01", "--end-date", "2017-11-01")
    rows = json.loads(invoke("report", "activity", *october, "--format", "json").stdout)["rows"]
    heat = [r for r in rows if r["section"] == "heatmap"]
    days = [r for r in rows if r["section"] == "daily"]
    assert len(heat) == 168 and len(days) == 31
    assert sum(r["weekdays"] for r in heat) == 31 * 24  # every day of October once per hour
    # the grid and the days hold the same messages: those sent in October, counted directly
    messages = pl.read_parquet("lake/messages/**/*.parquet", hive_partitioning=False)
    sent = messages.filter(pl.col("sent_at").dt.year() == 2017, pl.col("sent_at").dt.month() == 10)
    for role in ("customer", "agent"):
        expected = sent.filter(pl.col("role") == role).height
        assert sum(r[f"{role}_messages"] for r in heat) == expected > 0
        assert sum(r[f"{role}_messages"] for r in days) == expected
    assert max(r["active_customers"] for r in days) <= sent["conversation_id"].n_unique()
