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


def _quality_lake(tmp) -> Lake:
    from analytics_framework.model import LABEL_SCHEMA
    from analytics_framework.storage.lake import Partition

    def q(cid, sent_at, role, cust, **conv):
        return {**m(cid, sent_at, role, sender=cust if role == "customer" else "a1"), **conv}

    rows = [
        # customer A: a1 answered once (one cycle) but A is back within 7 days with a2
        q("a1", "2024-03-04T09:00:00Z", "customer", "A"),
        q("a1", "2024-03-04T09:10:00Z", "agent", "A"),
        # a2: two reply cycles
        q("a2", "2024-03-06T09:00:00Z", "customer", "A"),
        q("a2", "2024-03-06T09:05:00Z", "agent", "A"),
        q("a2", "2024-03-06T09:20:00Z", "customer", "A"),
        q("a2", "2024-03-06T09:30:00Z", "agent", "A"),
        # b1: one cycle, never back: FCR if resolved
        q("b1", "2024-03-04T10:00:00Z", "customer", "B"),
        q("b1", "2024-03-04T10:03:00Z", "agent", "B"),
        # c1: the source says resolved (wins over the label), surveyed 5
        q("c1", "2024-03-05T11:00:00Z", "customer", "C", status="resolved", csat_rating=5),
        q("c1", "2024-03-05T11:02:00Z", "agent", "C", status="resolved", csat_rating=5),
        # d1: unanswered, surveyed 2
        q("d1", "2024-03-05T12:00:00Z", "customer", "D", csat_rating=2),
    ]
    pl.DataFrame(rows).write_ndjson(tmp / "q.jsonl")
    lake = Lake(str(tmp / "lake"))
    collect(FilesSource(str(tmp / "q.jsonl"), load_settings()), lake)
    labels = {  # satisfaction, sentiment, sentiment_label, resolved, topic, objection
        "a1": (4, 0.5, "positive", True, "billing", None),
        "a2": (5, 0.2, "positive", True, "billing", "price"),
        "b1": (2, -0.6, "negative", True, "travel", None),
        "c1": (3, 0.0, "neutral", False, "billing", None),
        "d1": (1, -0.9, "negative", False, "other", "price"),
    }
    conv = lake.read_table("conversations")
    for (y, mo, d), part in conv.group_by(["year", "month", "day"]):
        frame = pl.DataFrame(
            [
                {
                    "conversation_id": cid,
                    "satisfaction": labels[cid.split(":")[1]][0],
                    "sentiment": labels[cid.split(":")[1]][1],
                    "sentiment_label": labels[cid.split(":")[1]][2],
                    "resolved": labels[cid.split(":")[1]][3],
                    "topic": labels[cid.split(":")[1]][4],
                    "intent": "request_help",
                    "objection": labels[cid.split(":")[1]][5],
                    "status": "labeled",
                }
                for cid in part["conversation_id"]
            ],
            schema=LABEL_SCHEMA,
        )
        lake.write_partition("labels", Partition(y, mo, d), frame)
    return lake


def test_quality_metrics_hand_computed(tmp_path):
    lake = _quality_lake(tmp_path)
    (row,) = run_report(get_report("overview"), lake, period="monthly").rows
    assert row["conversations"] == 5 and row["labeled"] == 5
    assert row["csat_pct"] == pytest.approx(50.0)  # surveyed: 5 and 2
    assert row["predicted_csat_pct"] == pytest.approx(40.0)  # a1 4, a2 5 of five
    assert row["resolution_pct"] == pytest.approx(80.0)  # a1 a2 b1 + c1 (source status)
    assert row["fcr_pct"] == pytest.approx(40.0)  # b1 and c1; a1 has A back in 2 days
    assert row["sentiment_mean"] == pytest.approx(-0.16)  # (0.5 + 0.2 - 0.6 + 0 - 0.9) / 5
    assert (row["positive_pct"], row["neutral_pct"], row["negative_pct"]) == pytest.approx(
        (40.0, 20.0, 40.0)
    )


def test_topics_report_counts_and_shares(tmp_path):
    lake = _quality_lake(tmp_path)
    rows = run_report(get_report("topics"), lake, period="monthly").rows
    got = {
        (r["dimension"], r["value"]): (r["rank"], r["conversations"], r["share_pct"]) for r in rows
    }
    assert got[("topic", "billing")] == (1, 3, pytest.approx(60.0))
    assert got[("topic", "other")] == (2, 1, pytest.approx(20.0))  # ties ranked by name
    assert got[("topic", "travel")] == (3, 1, pytest.approx(20.0))
    assert got[("objection", "price")] == (1, 2, pytest.approx(40.0))
    assert got[("intent", "request_help")] == (1, 5, pytest.approx(100.0))
