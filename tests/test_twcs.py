"""TWCS thread reconstruction on the real excerpt, checked against values read off the CSV."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from analytics_framework.pipeline import collect
from analytics_framework.settings import load_settings
from analytics_framework.sources.twcs import TwcsSource, integer_keys, thread_roots
from analytics_framework.storage.lake import Lake
from tests.conftest import DATA


@pytest.fixture(scope="module")
def twcs_lake(tmp_path_factory) -> Lake:
    lake = Lake(str(tmp_path_factory.mktemp("twcs") / "lake"))
    collect(TwcsSource(None, load_settings()), lake)
    return lake


def conv(lake: Lake, cid: str) -> dict:
    rows = lake.read_table("conversations").filter(pl.col("conversation_id") == cid)
    assert rows.height == 1
    return rows.row(0, named=True)


def test_the_excerpt_has_1312_threads_and_every_tweet(twcs_lake):
    # SOURCE.txt: 5,000 tweets, 1,312 reply-chain threads.
    assert twcs_lake.read_table("conversations").height == 1312
    messages = twcs_lake.read_table("messages")
    assert messages.height == 5000
    assert messages["message_id"].n_unique() == 5000


def test_thread_rooted_at_tweet_8(twcs_lake):
    # Rows (tweet, role, time): 8 C 21:45:10 / 6 A 21:46:24 / 5 C 21:49:35 / 4 A 21:54:49 /
    # 3 C 22:08:27 / 1 A 22:10:47 / 2 C 22:11:45, all Tue Oct 31 2017, brand sprintcare.
    c = conv(twcs_lake, "twcs:8")
    assert c["org_id"] == "sprintcare"
    assert c["customer_id"] == "115712"
    assert (c["message_count"], c["customer_messages"], c["agent_messages"]) == (7, 4, 3)
    assert c["started_at"] == datetime(2017, 10, 31, 21, 45, 10, tzinfo=UTC)
    assert c["ended_at"] == datetime(2017, 10, 31, 22, 11, 45, tzinfo=UTC)
    assert c["first_response_s"] == 74.0  # 21:46:24 - 21:45:10
    assert c["response_times_s"] == [74.0, 314.0, 140.0]
    assert c["avg_response_s"] == pytest.approx(176.0)
    assert c["agent_ids"] == ["sprintcare"]  # no sign-off on these brand tweets


def test_thread_rooted_at_tweet_18_has_signed_agents(twcs_lake):
    # 18 C 19:56:01 / 17 A 19:59:13 "-AA" / 16 C 20:00:43 / 15 A 20:03:31 "-AA" /
    # 12 C 22:04:47 / 11 A 22:10:35 "-KC"
    c = conv(twcs_lake, "twcs:18")
    assert c["message_count"] == 6
    assert c["response_times_s"] == [192.0, 168.0, 348.0]
    assert c["agent_ids"] == ["sprintcare^AA", "sprintcare^KC"]
    assert (c["year"], c["month"], c["day"]) == (2017, 10, 31)


def test_a_reply_whose_parent_is_outside_the_file_starts_its_own_thread(twcs_lake):
    # Row 138: tweet 222 (customer 115760, Tue Oct 31 19:05:30) answers tweet 223, which the
    # excerpt lacks; row 137: tweet 221 (ATVIAssist, 21:57:23, "^TV") answers 222.
    c = conv(twcs_lake, "twcs:222")
    assert (c["message_count"], c["customer_id"], c["org_id"]) == (2, "115760", "ATVIAssist")
    assert c["first_response_s"] == 10313.0  # 2 h 51 min 53 s
    assert c["agent_ids"] == ["ATVIAssist^TV"]


def test_kaggle_sample_with_integer_ids(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    s = collect(TwcsSource(str(DATA / "twcs" / "twcs_kaggle_sample.csv"), load_settings()), lake)
    assert s.rows_read == 93
    assert s.quarantined == 0
    assert s.messages_written == 93


def test_malformed_rows_are_quarantined_with_reason_and_counted(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text(
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
        "1,111,True,Tue Oct 31 22:10:47 +0000 2017,@brand help,2,\n"
        "2,brand,False,Tue Oct 31 22:12:47 +0000 2017,@111 sure ^AB,,1.0\n"
        "3,112,maybe,Tue Oct 31 22:10:47 +0000 2017,@brand hi,,\n"
        "4,113,True,yesterday,@brand hi,,\n"
        "2,brand,False,Tue Oct 31 22:13:00 +0000 2017,@111 dup,,1.0\n"
    )
    lake = Lake(str(tmp_path / "lake"))
    s = collect(TwcsSource(str(csv), load_settings()), lake)
    assert (s.rows_read, s.quarantined, s.messages_written) == (5, 3, 2)
    lines = (tmp_path / "lake" / "_rejected").rglob("part-*.jsonl")
    text = "".join(p.read_text() for p in lines)
    assert "row 3" in text and "inbound is not True/False" in text
    assert "row 4" in text and "created_at" in text
    assert "row 5" in text and "duplicate tweet_id" in text
    c = lake.read_table("conversations").row(0, named=True)
    assert c["first_response_s"] == 120.0 and c["agent_ids"] == ["brand^AB"]


def test_thread_roots_pointer_doubling_and_loops():
    ids = pl.DataFrame(
        {
            "_tweet": ["1", "2", "3", "4", "5", "6", "7"],
            "_parent": [None, "1", "2", "3", "99", "7", "6"],  # 5: parent outside; 6<->7 loop
        }
    )
    roots = dict(thread_roots(ids).iter_rows())
    assert roots == {"1": "1", "2": "1", "3": "1", "4": "1", "5": "5", "6": None, "7": None}


@pytest.mark.parametrize(
    ("tweets", "parents", "expected"),
    [
        # plain numbers: joined as integers
        (["10", "11", "12"], [None, "10", "11"], ["10", "10", "10"]),
        # "07" and "7" are two tweets: the ids stay text, so 12 answers 7, not 07
        (["07", "7", "12"], [None, None, "7"], ["07", "7", "7"]),
        # past 2**64: text as well
        (
            ["18446744073709551616", "5"],
            [None, "18446744073709551616"],
            ["18446744073709551616"] * 2,
        ),
    ],
    ids=["integers", "leading-zero", "past-2**64"],
)
def test_thread_roots_match_ids_as_text_whatever_they_look_like(tweets, parents, expected):
    ids = pl.DataFrame({"_tweet": tweets, "_parent": parents})
    assert thread_roots(ids)["_root"].to_list() == expected
    as_integers = integer_keys(ids)["_tweet"].dtype == pl.UInt64
    assert as_integers == (tweets[0] == "10")


def test_thread_roots_of_a_three_tweet_loop_a_self_reply_and_a_reply_below_a_loop():
    ids = pl.DataFrame(
        {
            "_tweet": ["a", "b", "c", "d", "s", "t"],
            "_parent": ["c", "a", "b", "a", "s", "s"],  # a->c->b->a loops; d hangs below it
        }
    )
    roots = dict(thread_roots(ids).iter_rows())
    assert roots == {"a": None, "b": None, "c": None, "d": None, "s": "s", "t": "s"}
