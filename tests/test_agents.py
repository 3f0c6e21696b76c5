"""The agents report through the CLI, over small lakes with hand-computed values."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.model import LABEL_SCHEMA
from analytics_framework.pipeline import collect
from analytics_framework.settings import load_settings
from analytics_framework.sources.files import FilesSource
from analytics_framework.storage.lake import Lake, Partition

runner = CliRunner()


def m(cid, sent_at, role, sender=None, **conv):
    """One message; customers are ``u-<conversation>``, a bot is ``bot``."""
    sender = sender or {"customer": f"u-{cid}", "bot": "bot"}.get(role)
    return {
        "conversation_id": cid,
        "sent_at": sent_at,
        "role": role,
        "text": "t",
        "org_id": "acme",
        "sender_id": sender,
        **conv,
    }


# Monday 4 March 2024 (UTC); agents ann, bob and cat. Replies (response time, whose, first?):
ROWS = [
    # c1: a bot autoresponse at 09:00:05 is no reply (else FRT would be 5 s);
    #     ann answers 09:00 at 09:10 (600, first), bob answers 09:20 at 09:25 (300),
    #     cat adds a follow-up that answers nobody. Surveyed 5, resolved by the source.
    m("c1", "2024-03-04T09:00:00Z", "customer", csat_rating=5, status="resolved"),
    m("c1", "2024-03-04T09:00:05Z", "bot"),
    m("c1", "2024-03-04T09:10:00Z", "agent", "ann"),
    m("c1", "2024-03-04T09:20:00Z", "customer"),
    m("c1", "2024-03-04T09:25:00Z", "agent", "bob", assigned_agent_id="bob"),
    m("c1", "2024-03-04T09:26:00Z", "agent", "cat"),
    # c2: bob answers 10:00 at 10:20 (1200, first); ann answers 10:30 (the first of two
    #     waiting messages) at 10:40 (600), then a follow-up. Surveyed 2.
    m("c2", "2024-03-04T10:00:00Z", "customer", csat_rating=2, assigned_agent_id="bob"),
    m("c2", "2024-03-04T10:20:00Z", "agent", "bob"),
    m("c2", "2024-03-04T10:30:00Z", "customer"),
    m("c2", "2024-03-04T10:31:00Z", "customer"),
    m("c2", "2024-03-04T10:40:00Z", "agent", "ann"),
    m("c2", "2024-03-04T10:45:00Z", "agent", "ann"),
    # c3: ann answers at 11:30 (1800, first), cat follows up at 11:31
    m("c3", "2024-03-04T11:00:00Z", "customer", assigned_agent_id="ann"),
    m("c3", "2024-03-04T11:30:00Z", "agent", "ann"),
    m("c3", "2024-03-04T11:31:00Z", "agent", "cat"),
    # c4: unanswered, a bot only; nobody handled it and nobody is assigned
    m("c4", "2024-03-04T12:00:00Z", "customer"),
    m("c4", "2024-03-04T12:00:02Z", "bot"),
    # c5, in April: cat answers 09:00 at 09:01 (60, first)
    m("c5", "2024-04-02T09:00:00Z", "customer", assigned_agent_id="cat"),
    m("c5", "2024-04-02T09:01:00Z", "agent", "cat"),
]

LABELS = {  # satisfaction (predicted), sentiment, resolved, objection
    "c1": (5, 0.6, True, "price"),
    "c2": (2, -0.4, False, "timing"),
    "c3": (4, 0.2, True, "timing"),
    "c4": (1, -0.8, False, "price"),
}


def _label(lake: Lake) -> None:
    conv = lake.read_table("conversations")
    for (y, mo, d), part in conv.group_by(["year", "month", "day"]):
        rows = []
        for cid in part["conversation_id"]:
            if cid.split(":")[1] not in LABELS:
                continue
            sat, sentiment, resolved, objection = LABELS[cid.split(":")[1]]
            rows.append(
                {
                    "conversation_id": cid,
                    "satisfaction": sat,
                    "sentiment": sentiment,
                    "resolved": resolved,
                    "objection": objection,
                    "topic": "billing",
                    "intent": "request_help",
                    "status": "labeled",
                }
            )
        if rows:
            lake.write_partition("labels", Partition(y, mo, d), pl.DataFrame(rows, LABEL_SCHEMA))


def build_lake(tmp, rows, labeled=True) -> str:
    pl.DataFrame(rows).write_ndjson(tmp / "in.jsonl")
    lake = Lake(str(tmp / "lake"))
    collect(FilesSource(str(tmp / "in.jsonl"), load_settings()), lake)
    if labeled:
        _label(lake)
    return str(tmp / "lake")


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> str:
    return build_lake(tmp_path_factory.mktemp("agents"), ROWS)


def report(lake: str, *args: str) -> list[dict]:
    out = runner.invoke(app, ["report", *args, "--lake", lake, "--format", "json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)["rows"]


def by_agent(rows: list[dict], period: str = "2024-03-01") -> dict:
    return {r["agent_id"]: r for r in rows if r["period"] == period}


def test_per_agent_attribution_hand_computed(lake):
    rows = report(lake, "agents", "--period", "monthly")
    # conversations desc, ties by agent id: March ann 3, bob 2, cat 2; April cat 1
    assert [(r["period"], r["rank"], r["agent_id"]) for r in rows] == [
        ("2024-03-01", 1, "ann"),
        ("2024-03-01", 2, "bob"),
        ("2024-03-01", 3, "cat"),
        ("2024-04-01", 1, "cat"),
    ]
    march = by_agent(rows)
    assert "bot" not in march  # bot messages are nobody's
    ann, bob, cat = march["ann"], march["bob"], march["cat"]
    # ann: handled c1 c2 c3, 4 human messages (c2 has two), replies 600 (c1), 600 (c2), 1800
    # (c3); she answered in all three: reply rate 100
    assert (ann["conversations"], ann["messages"], ann["replies"]) == (3, 4, 3)
    assert ann["reply_rate_pct"] == 100.0
    # FRT: c1 600 and c3 1800 are hers (c2's first reply is bob's): mean = median = 1200,
    # p90 = 600 + 0.9 x 1200 = 1680
    assert (ann["frt_mean_s"], ann["frt_median_s"], ann["frt_p90_s"]) == (1200.0, 1200.0, 1680.0)
    # response: [600, 600, 1800]: mean 1000, median 600, p90 at rank 1.8 = 600 + 0.8 x 1200
    assert (ann["response_mean_s"], ann["response_median_s"]) == (1000.0, 600.0)
    assert ann["response_p90_s"] == 1560.0
    # bob: c1 c2, replies 300 (c1) and 1200 (c2, first): FRT 1200; response mean = median 750,
    # p90 = 300 + 0.9 x 900 = 1110
    assert (bob["conversations"], bob["messages"], bob["replies"]) == (2, 2, 2)
    assert (bob["frt_mean_s"], bob["frt_median_s"], bob["frt_p90_s"]) == (1200.0, 1200.0, 1200.0)
    assert (bob["response_median_s"], bob["response_p90_s"]) == (750.0, 1110.0)
    # cat only follows up (c1, c3): two messages, no reply that answered anyone: reply rate 0
    assert (cat["conversations"], cat["messages"], cat["replies"]) == (2, 2, 0)
    assert cat["reply_rate_pct"] == 0.0
    assert cat["frt_median_s"] is None and cat["response_median_s"] is None
    # the replies add up to the overview's: c1 2 + c2 2 + c3 1
    (overview,) = [r for r in report(lake, "--period", "monthly") if r["period"] == "2024-03-01"]
    assert overview["replies"] == 5 == sum(r["replies"] for r in march.values())
    assert by_agent(rows, "2024-04-01")["cat"]["frt_median_s"] == 60.0


def test_quality_over_the_conversations_each_agent_handled(lake):
    march = by_agent(report(lake, "agents", "--period", "monthly"))
    ann, bob, cat = march["ann"], march["bob"], march["cat"]
    # surveyed: c1 5, c2 2 (c3 none). ann (c1 c2 c3) and bob (c1 c2): 1 of 2; cat (c1 c3): 1/1
    assert (ann["csat_pct"], bob["csat_pct"], cat["csat_pct"]) == (50.0, 50.0, 100.0)
    # predicted 4-5: c1 5, c3 4 (c2 is 2): ann 2/3, bob 1/2, cat 2/2
    assert (ann["predicted_csat_pct"], bob["predicted_csat_pct"]) == (66.67, 50.0)
    assert cat["predicted_csat_pct"] == 100.0
    # resolved: c1 (source), c3 (label); c2 not: ann 2/3, bob 1/2, cat 2/2
    assert (ann["resolution_pct"], bob["resolution_pct"], cat["resolution_pct"]) == (
        66.67,
        50.0,
        100.0,
    )
    # FCR needs one reply cycle: c1 and c2 have two, c3 one (its customer never returns):
    # ann 1/3, bob 0/2, cat 1/2
    assert (ann["fcr_pct"], bob["fcr_pct"], cat["fcr_pct"]) == (33.33, 0.0, 50.0)
    # sentiment: ann (0.6 - 0.4 + 0.2) / 3, bob (0.6 - 0.4) / 2, cat (0.6 + 0.2) / 2
    assert (ann["sentiment_mean"], bob["sentiment_mean"], cat["sentiment_mean"]) == (
        0.1333,
        0.1,
        0.4,
    )
    # objections: ann timing 2 price 1; bob and cat 1-1, the tie goes to the name: price
    assert (ann["top_objection"], bob["top_objection"], cat["top_objection"]) == (
        "timing",
        "price",
        "price",
    )
    assert ann["metric_version"] == 1
    assert "frt_business_median_s" not in ann  # business time only with --business-hours


def test_by_assignment_gives_each_conversation_to_its_assignee(lake):
    rows = report(lake, "agents", "--period", "monthly", "--by", "assignment")
    # March: bob has c1 c2, ann c3, nobody c4 (a null agent, ranked last among ties)
    assert [(r["rank"], r["agent_id"]) for r in rows if r["period"] == "2024-03-01"] == [
        (1, "bob"),
        (2, "ann"),
        (3, None),
    ]
    march = by_agent(rows)
    bob, ann, unassigned = march["bob"], march["ann"], march[None]
    # bob: every reply of c1 (600, 300) and c2 (1200, 600), whoever sent it; 6 human messages
    assert (bob["conversations"], bob["messages"], bob["replies"]) == (2, 6, 4)
    # FRT c1 600, c2 1200: mean = median 900, p90 = 600 + 0.9 x 600 = 1140
    assert (bob["frt_mean_s"], bob["frt_median_s"], bob["frt_p90_s"]) == (900.0, 900.0, 1140.0)
    # response [300, 600, 600, 1200]: mean 675, median 600, p90 at rank 2.7 = 600 + 0.7 x 600
    assert (bob["response_mean_s"], bob["response_median_s"]) == (675.0, 600.0)
    assert bob["response_p90_s"] == 1020.0
    assert (bob["reply_rate_pct"], bob["csat_pct"]) == (100.0, 50.0)
    # ann: c3, its two human messages (hers and cat's), one reply 1800
    assert (ann["conversations"], ann["messages"], ann["replies"], ann["frt_median_s"]) == (
        1,
        2,
        1,
        1800.0,
    )
    # unassigned c4: no human reply (reply rate 0 by DESIGN's definition), label price
    assert (unassigned["conversations"], unassigned["replies"]) == (1, 0)
    assert (unassigned["reply_rate_pct"], unassigned["top_objection"]) == (0.0, "price")
    assert by_agent(rows, "2024-04-01")["cat"]["replies"] == 1


def test_limit_and_sort(lake):
    # sentiment: cat 0.4, ann 0.1333, bob 0.1
    rows = report(lake, "agents", "--period", "monthly", "--sort", "sentiment_mean")
    assert [r["agent_id"] for r in rows if r["period"] == "2024-03-01"] == ["cat", "ann", "bob"]
    # the limit applies per period: March's top replier is ann (3), April's cat
    top = report(lake, "agents", "--period", "monthly", "--sort", "replies", "--limit", "1")
    assert [(r["period"], r["agent_id"], r["replies"]) for r in top] == [
        ("2024-03-01", "ann", 3),
        ("2024-04-01", "cat", 1),
    ]
    # descending: bob's median response 750 before ann's 600; cat (none) last
    slow = report(lake, "agents", "--period", "monthly", "--sort", "response_median_s")
    assert [r["agent_id"] for r in slow if r["period"] == "2024-03-01"] == ["bob", "ann", "cat"]
    # a tie (FRT median 1200 each) goes to the agent id
    tie = report(lake, "agents", "--period", "monthly", "--sort", "frt_median_s", "--limit", "2")
    assert [r["agent_id"] for r in tie if r["period"] == "2024-03-01"] == ["ann", "bob"]


def test_every_sort_choice_runs(lake):
    from analytics_framework.reports.defs.agents import SORTS

    for column in SORTS:
        extra = ["--business-hours", "Mon-Fri 09:00-17:00"] if "business" in column else []
        rows = report(lake, "agents", "--sort", column, "--limit", "1", *extra)
        assert len(rows) == 2, column  # one per day with conversations


@pytest.mark.parametrize(
    "args, says",
    [
        (["--sort", "nope"], "--sort 'nope' is not one report agents knows"),
        (["--sort", "frt_business_p90_s"], "--sort frt_business_p90_s needs --business-hours"),
        (["--by", "org"], "has no --by 'org'"),
        (["--holidays", "h.txt"], "--holidays needs --business-hours"),
        (["--business-hours", "Mon 17:00-09:00"], "does not end after it starts"),
        (["--compare", "previous"], "does not take --compare"),
    ],
)
def test_bad_options_are_one_line(lake, args, says):
    out = runner.invoke(app, ["report", "agents", "--lake", lake, *args])
    assert out.exit_code == 2
    assert says in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


# Business hours: Mon-Fri 09:00-17:00 in Europe/Berlin (UTC+1 in March 2024), with Wednesday
# 13 March a holiday. Times are local; business time by hand (calendar time after it).
BH_ROWS = [
    # n1, a night: Mon 16:30 -> ann Tue 09:30 = 30 + 30 min = 3600 (calendar 17 h = 61200)
    m("n1", "2024-03-04T16:30:00+01:00", "customer"),
    m("n1", "2024-03-05T09:30:00+01:00", "agent", "ann"),
    # o1: Wed 10:00 -> bob 10:20 = 1200 (first); then 16:50 -> ann Thu 09:10 = 10 + 10 min
    #     = 1200 (calendar 16 h 20 min = 58800)
    m("o1", "2024-03-06T10:00:00+01:00", "customer"),
    m("o1", "2024-03-06T10:20:00+01:00", "agent", "bob"),
    m("o1", "2024-03-06T16:50:00+01:00", "customer"),
    m("o1", "2024-03-07T09:10:00+01:00", "agent", "ann"),
    # w1, a weekend: Fri 16:00 -> bob Mon 10:00 = 1 h + 1 h = 7200 (calendar 66 h = 237600)
    m("w1", "2024-03-08T16:00:00+01:00", "customer"),
    m("w1", "2024-03-11T10:00:00+01:00", "agent", "bob"),
    # s1, all outside: Sat 11:00 -> bob Sat 12:00 = 0 (calendar 3600)
    m("s1", "2024-03-09T11:00:00+01:00", "customer"),
    m("s1", "2024-03-09T12:00:00+01:00", "agent", "bob"),
    # h1, over the holiday: Tue 16:00 -> ann Thu 09:15 = 1 h Tue + 0 Wed + 15 min Thu = 4500
    #     (33300 without the holiday; calendar 41 h 15 min = 148500)
    m("h1", "2024-03-12T16:00:00+01:00", "customer"),
    m("h1", "2024-03-14T09:15:00+01:00", "agent", "ann"),
]


@pytest.fixture(scope="module")
def bh_lake(tmp_path_factory) -> tuple[str, str]:
    tmp = tmp_path_factory.mktemp("bh")
    (tmp / "holidays.txt").write_text("# staff day\n2024-03-13\n")
    return build_lake(tmp, BH_ROWS, labeled=False), str(tmp / "holidays.txt")


BH = [
    "--period",
    "monthly",
    "--timezone",
    "Europe/Berlin",
    "--business-hours",
    "Mon-Fri 09:00-17:00",
]


def test_business_hours_per_agent_hand_computed(bh_lake):
    lake, holidays = bh_lake
    march = by_agent(report(lake, "agents", *BH, "--holidays", holidays))
    ann, bob = march["ann"], march["bob"]
    # ann: FRT n1 3600, h1 4500: mean = median 4050, p90 = 3600 + 0.9 x 900 = 4410
    assert (ann["frt_business_mean_s"], ann["frt_business_median_s"]) == (4050.0, 4050.0)
    assert ann["frt_business_p90_s"] == 4410.0
    # ann's replies [1200 (o1), 3600, 4500]: mean 3100, median 3600, p90 = 3600 + 0.8 x 900
    assert (ann["response_business_mean_s"], ann["response_business_median_s"]) == (3100.0, 3600.0)
    assert ann["response_business_p90_s"] == 4320.0
    # the calendar ones stay: FRT [61200, 148500], median 104850
    assert ann["frt_median_s"] == 104850.0
    # bob, all first replies [0 (s1), 1200 (o1), 7200 (w1)]: mean 2800, median 1200,
    # p90 at rank 1.8 = 1200 + 0.8 x 6000 = 6000
    for stat in ("frt", "response"):
        assert (bob[f"{stat}_business_mean_s"], bob[f"{stat}_business_median_s"]) == (
            2800.0,
            1200.0,
        )
        assert bob[f"{stat}_business_p90_s"] == 6000.0
    # ranked by business FRT, descending: bob's p90 6000 before ann's 4410
    ranked = report(lake, "agents", *BH, "--holidays", holidays, "--sort", "frt_business_p90_s")
    assert [r["agent_id"] for r in ranked] == ["bob", "ann"]


def test_business_hours_in_the_overview(bh_lake):
    lake, holidays = bh_lake
    (row,) = report(lake, *BH, "--holidays", holidays)
    # FRT of n1 3600, o1 1200, w1 7200, s1 0, h1 4500 -> [0, 1200, 3600, 4500, 7200]:
    # mean 3300, median 3600, p90 at rank 3.6 = 4500 + 0.6 x 2700 = 6120
    assert (row["frt_business_mean_s"], row["frt_business_median_s"]) == (3300.0, 3600.0)
    assert row["frt_business_p90_s"] == 6120.0
    # replies [0, 1200, 1200, 3600, 4500, 7200]: mean 2950, median 2400, p90 at rank 4.5
    # = 4500 + 0.5 x 2700 = 5850
    assert (row["response_business_mean_s"], row["response_business_median_s"]) == (2950.0, 2400.0)
    assert row["response_business_p90_s"] == 5850.0
    assert row["frt_mean_s"] == (61200 + 1200 + 237600 + 3600 + 148500) / 5  # calendar: 90420
    # without the holiday h1 counts Wednesday's 8 h: 33300, the largest FRT
    (open_wed,) = report(lake, *BH)
    assert open_wed["frt_business_p90_s"] == 7200 + 0.6 * (33300 - 7200)  # 22860
    # without --business-hours the columns are not there at all
    (plain,) = report(lake, "--period", "monthly", "--timezone", "Europe/Berlin")
    assert not [c for c in plain if "business" in c]


def test_business_hours_show_in_the_table(bh_lake):
    lake, holidays = bh_lake
    out = runner.invoke(app, ["report", "agents", "--lake", lake, *BH, "--holidays", holidays])
    assert out.exit_code == 0, out.output
    assert "business hours" in out.stdout and "FRT biz p50" in out.stdout
    assert "1h 07m" in out.stdout  # ann's business FRT median 4050 s


def test_on_the_bundled_sample(in_tmp):
    assert runner.invoke(app, ["collect", "--no-enrich"]).exit_code == 0
    lake = str(in_tmp / "lake")
    overview = {r["period"]: r for r in report(lake, "--period", "monthly")}
    agents = report(lake, "agents", "--period", "monthly", "--limit", "100000")
    assigned = report(lake, "agents", "--period", "monthly", "--by", "assignment")
    for period, o in overview.items():
        mine = [r for r in agents if r["period"] == period]
        # every reply is some agent's, once; every answered conversation has a handler
        assert sum(r["replies"] for r in mine) == o["replies"], period
        assert sum(r["conversations"] for r in mine) >= o["answered"], period
        # twcs assigns nobody: one null agent holding the whole period
        (nobody,) = [r for r in assigned if r["period"] == period]
        assert nobody["agent_id"] is None
        assert (nobody["conversations"], nobody["replies"]) == (o["conversations"], o["replies"])
        assert nobody["reply_rate_pct"] == o["reply_rate_pct"]
        assert nobody["frt_median_s"] == o["frt_median_s"]
    october = [r for r in agents if r["period"] == "2017-10-01"]
    assert [r["rank"] for r in october] == list(range(1, len(october) + 1))
    counts = [r["conversations"] for r in october]
    assert counts == sorted(counts, reverse=True) and october[0]["agent_id"] == "ChipotleTweets"
    assert len(report(lake, "agents", "--period", "monthly")) <= 20 * len(overview)
