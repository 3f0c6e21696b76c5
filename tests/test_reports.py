"""The overview report over a small lake, with hand-computed values."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import polars as pl
import pytest

from analytics_framework.pipeline import collect
from analytics_framework.reports import get_report, run_report
from analytics_framework.settings import load_settings
from analytics_framework.sources.files import FilesSource
from analytics_framework.storage.lake import Lake


def m(cid, sent_at, role, org="acme", sender=None):
    return {
        "conversation_id": cid,
        "sent_at": sent_at,
        "role": role,
        "text": "t",
        "org_id": org,
        "sender_id": sender or (f"u-{cid}" if role == "customer" else "a1"),
    }


# Monday 2024-03-04 and Tuesday 2024-03-05 (same ISO week), then Monday 2024-03-11.
ROWS = [
    # a: FRT 300, replies [300, 100]
    m("a", "2024-03-04T09:00:00Z", "customer"),
    m("a", "2024-03-04T09:01:00Z", "customer"),
    m("a", "2024-03-04T09:05:00Z", "agent"),
    m("a", "2024-03-04T09:20:00Z", "customer"),
    m("a", "2024-03-04T09:21:40Z", "agent"),
    # b: FRT 600, replies [600]; a bot autoresponse first
    m("b", "2024-03-04T12:00:00Z", "customer", org="beta"),
    m("b", "2024-03-04T12:00:02Z", "bot"),
    m("b", "2024-03-04T12:10:00Z", "agent", org="beta"),
    # c: unanswered, same customer as a
    m("c", "2024-03-05T08:00:00Z", "customer", sender="u-a"),
    # d: FRT 300, replies [300], next week
    m("d", "2024-03-11T10:00:00Z", "customer"),
    m("d", "2024-03-11T10:05:00Z", "agent"),
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    tmp = tmp_path_factory.mktemp("rep")
    pl.DataFrame(ROWS).write_ndjson(tmp / "in.jsonl")
    lake = Lake(str(tmp / "lake"))
    collect(FilesSource(str(tmp / "in.jsonl"), load_settings()), lake)
    return lake


def test_weekly_report_hand_computed(lake):
    r = run_report(get_report("overview"), lake, period="weekly")
    assert [row["period"] for row in r.rows] == ["2024-03-04", "2024-03-11"]
    w1 = r.rows[0]
    assert (w1["conversations"], w1["messages"], w1["customers"]) == (3, 9, 2)
    assert (w1["unanswered"], w1["answered"]) == (1, 2)
    # FRT over answered conversations a=300, b=600: mean 450, median 450, p90 300+0.9*300=570
    assert (w1["frt_mean_s"], w1["frt_median_s"]) == (450.0, 450.0)
    assert w1["frt_p90_s"] == pytest.approx(570.0)
    # replies [300, 100, 600] -> sorted [100, 300, 600]: mean 333.33, median 300,
    # p90 at rank 0.9*2 = 1.8 -> 300 + 0.8*300 = 540
    assert w1["replies"] == 3
    assert w1["response_mean_s"] == pytest.approx(1000 / 3)
    assert w1["response_median_s"] == 300.0
    assert w1["response_p90_s"] == pytest.approx(540.0)
    assert w1["metric_version"] == 1
    assert r.rows[1]["frt_mean_s"] == 300.0


def test_daily_by_org_and_filters(lake):
    r = run_report(
        get_report("overview"),
        lake,
        period="daily",
        by="org",
        start=date(2024, 3, 4),
        end=date(2024, 3, 5),
    )
    assert [(x["period"], x["org_id"], x["conversations"]) for x in r.rows] == [
        ("2024-03-04", "acme", 1),
        ("2024-03-04", "beta", 1),
    ]
    only = run_report(get_report("overview"), lake, period="monthly", org="beta")
    assert [(x["period"], x["conversations"], x["frt_mean_s"]) for x in only.rows] == [
        ("2024-03-01", 1, 600.0)
    ]


def test_report_timezone_cuts_days_locally(lake):
    # 2024-03-04T09:00Z is still 2024-03-04 in Los Angeles (01:00); 2024-03-05T08:00Z is 00:00
    r = run_report(get_report("overview"), lake, period="daily", timezone="America/Los_Angeles")
    assert [x["period"] for x in r.rows] == ["2024-03-04", "2024-03-05", "2024-03-11"]


def test_exports_carry_the_metric_version(lake):
    r = run_report(get_report("overview"), lake, period="weekly")
    doc = json.loads(r.to_json())
    assert doc["metric_version"] == 1 and doc["rows"][0]["conversations"] == 3
    rows = list(csv.DictReader(io.StringIO(r.to_csv())))
    assert rows[0]["metric_version"] == "1" and rows[0]["period"] == "2024-03-04"
