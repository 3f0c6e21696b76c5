"""The retention report through the CLI: cohorts by first-seen day, day-N retention, usage.

Every expected value below is computed by hand from :data:`CONVERSATIONS` (DESIGN.md,
"retention (day N)": eligible when D + N is not after the data's last day, returned when another
conversation starts on or after D + N, rates pooled over customers).
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


# (conversation, customer, start in UTC): one customer message each
CONVERSATIONS = [
    ("r1", "u7", "2024-02-10T09:00:00Z"),  # u7: first seen in February, before the range
    ("r2", "u7", "2024-03-15T09:00:00Z"),
    ("r3", "u1", "2024-03-01T09:00:00Z"),  # u1: back the next day
    ("r4", "u1", "2024-03-02T09:00:00Z"),
    ("r5", "u2", "2024-03-01T09:00:00Z"),  # u2: again the same day, then back on day 8
    ("r6", "u2", "2024-03-01T12:00:00Z"),
    ("r7", "u2", "2024-03-09T09:00:00Z"),
    ("r8", "u3", "2024-03-01T10:00:00Z"),  # u3: again the same day only (not day-1 retained);
    ("r9", "u3", "2024-03-01T18:00:00Z"),  #     18:00 UTC is 03:00 on 03-02 in Tokyo
    ("r10", "u4", "2024-03-15T09:00:00Z"),  # u4: back the next day
    ("r11", "u4", "2024-03-16T09:00:00Z"),
    ("r12", "u5", "2024-03-15T09:00:00Z"),  # u5: never back
    ("r13", "u6", "2024-03-20T09:00:00Z"),  # u6: on the data's last day, eligible for nothing
]
LAST_DAY = "2024-03-20"
RANGE = ("--start-date", "2024-03-01", "--end-date", "2024-03-21")


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """A lake of :data:`CONVERSATIONS`, collected through the CLI (files source, no labels)."""
    home = tmp_path_factory.mktemp("retention")
    rows = [
        {"conversation_id": c, "sent_at": at, "role": "customer", "text": "hi", "sender_id": u}
        for c, u, at in CONVERSATIONS
    ]
    pl.DataFrame(rows).write_ndjson(home / "chats.jsonl")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        result = invoke("collect", "--source", "files", "chats.jsonl", "--no-enrich")
        assert result.exit_code == 0, result.output
    return home / "lake"


def report(lake: Path, *args: str) -> list[dict]:
    result = invoke("report", "retention", "--lake", str(lake), "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["rows"]


def section(rows: list[dict], name: str) -> dict:
    """The rows of one section by period (weekly: by (period, weeks_since))."""
    if name == "weekly":
        return {(r["period"], r["weeks_since"]): r for r in rows if r["section"] == name}
    return {r["period"]: r for r in rows if r["section"] == name}


def day_n(row: dict, n: int) -> tuple:
    return row[f"d{n}_eligible"], row[f"d{n}_returned"], row[f"d{n}_retention_pct"]


def test_cohorts_by_first_seen_day(in_tmp, lake):
    rows = report(lake, *RANGE)
    cohorts = section(rows, "cohorts")
    # periods with new customers (03-01, 03-15, 03-20) or conversations (also 03-02, 03-09, 03-16)
    assert list(cohorts) == [
        "2024-03-01", "2024-03-02", "2024-03-09", "2024-03-15", "2024-03-16", "2024-03-20"
    ]  # fmt: skip
    first = cohorts["2024-03-01"]
    assert first["new_customers"] == 3  # u1, u2, u3
    # day 1 (03-02 <= 03-20, all eligible): u1 (03-02) and u2 (03-09) back; u3's second
    # conversation is on 03-01 itself, so not -> 2 / 3
    assert day_n(first, 1) == (3, 2, round(200 / 3, 2))  # 66.67
    # day 7 (03-08): only u2 (03-09) -> 1 / 3; day 30 (03-31 > 03-20): no one eligible
    assert day_n(first, 7) == (3, 1, round(100 / 3, 2))  # 33.33
    assert day_n(first, 30) == (0, 0, None)
    # u7's 03-15 conversation is a return, not a new customer: first seen 02-10, over the whole
    # lake. u4 (back 03-16) and u5 (never): day 1 1 / 2; day 7 (03-22 > 03-20): not yet eligible
    mid = cohorts["2024-03-15"]
    assert mid["new_customers"] == 2
    assert day_n(mid, 1) == (2, 1, 50.0) and day_n(mid, 7) == (0, 0, None)
    # u6, first seen on the data's last day: day 1 would be 03-21, after it -> not eligible
    assert cohorts[LAST_DAY]["new_customers"] == 1 and day_n(cohorts[LAST_DAY], 1) == (0, 0, None)
    # a period with conversations but no new customer
    assert cohorts["2024-03-02"]["new_customers"] == 0
    assert cohorts["2024-03-02"]["d1_retention_pct"] is None
    assert (cohorts["2024-03-15"]["conversations"], cohorts["2024-03-15"]["customers"]) == (3, 3)


def test_a_range_pools_customers_not_cohort_rates(in_tmp, lake):
    (total,) = section(report(lake, *RANGE), "total").values()
    assert total["period"] == "2024-03-01" and total["new_customers"] == 6
    # pooled day 1: (2 + 1 + 0 returned) / (3 + 2 + 0 eligible) = 3 / 5 = 60 %, where the mean
    # of the two cohort rates would be (66.67 + 50) / 2 = 58.33 %
    assert day_n(total, 1) == (5, 3, 60.0)
    assert day_n(total, 7) == (3, 1, 33.33)
    assert day_n(total, 30) == (0, 0, None)
    # monthly: one March cohort pooling the days the same way
    (march,) = section(report(lake, *RANGE, "--period", "monthly"), "cohorts").values()
    assert day_n(march, 1) == (5, 3, 60.0) and march["period"] == "2024-03-01"
    # weekly: 03-01 (Fri) is in the week of Mon 02-26, 03-15 in 03-11, 03-20 in 03-18; the week
    # of 03-04 has a conversation (u2's, 03-09) and no new customer
    weekly = section(report(lake, *RANGE, "--period", "weekly"), "cohorts")
    assert [(p, r["new_customers"]) for p, r in weekly.items()] == [
        ("2024-02-26", 3),
        ("2024-03-04", 0),
        ("2024-03-11", 2),
        ("2024-03-18", 1),
    ]


def test_usage_and_power_users(in_tmp, lake):
    # conversations started in the range: 03-01 five (u1, u2 x2, u3 x2), 03-02, 03-09, 03-15
    # three (u4, u5, u7), 03-16, 03-20 -> 12, by 7 customers -> 12 / 7 = 1.7143 per customer
    (total,) = section(report(lake, *RANGE), "total").values()
    assert (total["conversations"], total["customers"]) == (12, 7)
    assert total["conversations_per_customer"] == round(12 / 7, 4)
    assert (total["power_users"], total["power_users_pct"]) == (0, 0.0)  # no one has 10
    # in the range u2 has 3; u1, u3, u4 have 2; u5, u6, u7 have 1
    for threshold, users in (("3", 1), ("2", 4)):
        rows = report(lake, *RANGE, "--period", "monthly", "--power-threshold", threshold)
        (total,) = section(rows, "total").values()
        (march,) = section(rows, "cohorts").values()
        for row in (total, march):
            assert row["power_users"] == users
            assert row["power_users_pct"] == round(100 * users / 7, 2)  # 14.29, 57.14
    day = section(report(lake, *RANGE, "--power-threshold", "2"), "cohorts")["2024-03-01"]
    assert (day["conversations"], day["customers"], day["power_users"]) == (5, 3, 2)  # u2, u3
    assert day["conversations_per_customer"] == round(5 / 3, 4)


def test_weekly_cohorts_by_weeks_since_first_seen(in_tmp, lake):
    weekly = section(report(lake, *RANGE), "weekly")
    # cohort 02-26 (u1, u2, u3): week 0 all three, week 1 (03-04..10) u2 only, weeks 2 and 3
    # none; week 4 (03-25) is after the data's last day (03-20), so it is not shown
    got = {
        k: (r["new_customers"], r["active_customers"], r["active_pct"]) for k, r in weekly.items()
    }
    assert got == {
        ("2024-02-26", 0): (3, 3, 100.0),
        ("2024-02-26", 1): (3, 1, 33.33),
        ("2024-02-26", 2): (3, 0, 0.0),
        ("2024-02-26", 3): (3, 0, 0.0),
        ("2024-03-11", 0): (2, 2, 100.0),  # u4, u5
        ("2024-03-11", 1): (2, 0, 0.0),
        ("2024-03-18", 0): (1, 1, 100.0),  # u6
    }
    assert all(r["d1_eligible"] is None and r["conversations"] is None for r in weekly.values())


def test_whole_lake_and_timezone(in_tmp, lake):
    rows = report(lake)  # no range: u7's February cohort too
    feb = section(rows, "cohorts")["2024-02-10"]
    # 02-10 + 30 = 03-11 <= 03-20: eligible for day 30, and back on 03-15
    assert [day_n(feb, n) for n in (1, 7, 30)] == [(1, 1, 100.0)] * 3
    (total,) = section(rows, "total").values()
    assert total["period"] == "2024-02-10"
    # day 1: 6 eligible (u7, u1, u2, u3, u4, u5), 4 back (u7, u1, u2, u4);
    # day 7: 4 eligible (u7, u1, u2, u3), 2 back (u7, u2); day 30: u7 alone
    assert [day_n(total, n) for n in (1, 7, 30)] == [(6, 4, 66.67), (4, 2, 50.0), (1, 1, 100.0)]
    assert (total["conversations"], total["customers"]) == (13, 7)
    # u7's weekly cohort (Mon 02-05): weeks 0..6 reach the data; u7 is back in week 5 (03-11)
    weekly = section(rows, "weekly")
    u7 = [weekly[("2024-02-05", k)]["active_customers"] for k in range(7)]
    assert u7 == [1, 0, 0, 0, 0, 1, 0] and ("2024-02-05", 7) not in weekly
    # in Tokyo u3's 18:00 UTC conversation is on 03-02: day 1 for the 03-01 cohort is 3 / 3
    tokyo = report(lake, *RANGE, "--timezone", "Asia/Tokyo")
    assert day_n(section(tokyo, "cohorts")["2024-03-01"], 1) == (3, 3, 100.0)
    assert day_n(section(tokyo, "total")["2024-03-01"], 1) == (5, 4, 80.0)


def test_bad_input_is_one_line(in_tmp, lake):
    for args, needle in (
        (("--by", "org"), "has no --by 'org'"),
        (("--sort", "customers"), "does not take --sort"),
    ):
        result = invoke("report", "retention", "--lake", str(lake), *args)
        assert result.exit_code == 2, result.output
        assert len(result.stderr.strip().splitlines()) == 1 and needle in result.stderr
        assert "Traceback" not in result.output


def test_bundled_sample(in_tmp):
    assert invoke("collect", "--no-enrich").exit_code == 0
    result = invoke("report", "retention", "--period", "monthly", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["rows"]
    cohorts, (total,) = section(rows, "cohorts"), section(rows, "total").values()
    conversations = pl.read_parquet("lake/conversations/**/*.parquet", hive_partitioning=False)
    customers = conversations["customer_id"].drop_nulls()
    # every customer is new exactly once, and the total pools the months' customers
    assert (
        total["new_customers"]
        == customers.n_unique()
        == sum(r["new_customers"] for r in cohorts.values())
    )
    assert total["conversations"] == customers.len()
    for n in (1, 7, 30):
        eligible = sum(r[f"d{n}_eligible"] for r in cohorts.values())
        returned = sum(r[f"d{n}_returned"] for r in cohorts.values())
        assert (total[f"d{n}_eligible"], total[f"d{n}_returned"]) == (eligible, returned)
        assert 0 <= returned <= eligible <= total["new_customers"]
        assert total[f"d{n}_retention_pct"] == round(100 * returned / eligible, 2)
    # longer windows: fewer eligible customers, and no more returning
    assert total["d1_eligible"] >= total["d7_eligible"] >= total["d30_eligible"]
    assert total["d1_returned"] >= total["d7_returned"] >= total["d30_returned"]
    weekly = [r for r in rows if r["section"] == "weekly"]
    assert all(r["active_pct"] == 100.0 for r in weekly if r["weeks_since"] == 0)
    assert all(0 <= r["weeks_since"] <= 12 for r in weekly)
