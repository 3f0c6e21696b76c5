"""Metric definitions v1 on hand-built threads, with hand-computed expected values."""

from __future__ import annotations

import polars as pl
import pytest

from analytics_framework.transform.conversations import build_conversations, reply_times
from tests.conftest import frame, msgs


def one(rows: list[dict]) -> dict:
    out = build_conversations(frame(rows))
    assert out.height == 1
    return out.row(0, named=True)


def test_several_customer_messages_wait_from_the_first():
    # C 0s, C 60s, A 300s  -> waiting_since = 0, response 300
    # C 1000s, A 1100s     -> response 100
    c = one(
        msgs(
            "w",
            (0, "customer"),
            (60, "customer"),
            (300, "agent"),
            (1000, "customer"),
            (1100, "agent"),
        )
    )
    assert c["first_response_s"] == 300.0
    assert c["response_times_s"] == [300.0, 100.0]
    assert c["avg_response_s"] == 200.0
    assert c["response_count"] == 2
    assert (c["customer_messages"], c["agent_messages"], c["message_count"]) == (3, 2, 5)


def test_bot_autoresponse_is_not_a_reply_and_does_not_reset_the_wait():
    # C 0, bot 5 (autoresponse), C 100, A 600 -> FRT 600 from the first customer message
    c = one(msgs("b", (0, "customer"), (5, "bot"), (100, "customer"), (600, "agent")))
    assert c["first_response_s"] == 600.0
    assert c["response_times_s"] == [600.0]
    assert c["bot_messages"] == 1
    assert c["agent_messages"] == 1


def test_only_a_bot_answered_means_unanswered():
    c = one(msgs("ob", (0, "customer"), (2, "bot")))
    assert c["first_response_s"] is None
    assert c["response_count"] == 0
    assert c["response_times_s"] == []


def test_never_answered_conversation():
    c = one(msgs("n", (0, "customer"), (30, "customer")))
    assert c["first_response_s"] is None
    assert c["avg_response_s"] is None
    assert c["response_count"] == 0
    assert c["agent_ids"] == []


def test_agent_first_conversation_measures_from_the_first_customer_message():
    # A 0 (outreach), C 100, A 400, A 500 (second reply in a row answers nobody)
    c = one(msgs("a", (0, "agent"), (100, "customer"), (400, "agent"), (500, "agent")))
    assert c["first_response_s"] == 300.0
    assert c["response_times_s"] == [300.0]
    assert c["started_at"] == frame(msgs("a", (0, "agent")))["sent_at"][0]
    assert c["customer_id"] == "cust-a"


def test_out_of_order_input_gives_the_same_metrics():
    rows = msgs(
        "o", (0, "customer"), (60, "customer"), (300, "agent"), (1000, "customer"), (1100, "agent")
    )
    shuffled = [rows[i] for i in (4, 2, 0, 3, 1)]
    a = build_conversations(frame(rows))
    b = build_conversations(frame(shuffled))
    assert a.equals(b)
    assert b.row(0, named=True)["response_times_s"] == [300.0, 100.0]


def test_reply_in_the_same_second_counts_as_zero_whatever_the_input_order():
    # At equal sent_at the question sorts before the reply (model.ROLE_ORDER).
    assert one(msgs("t", (0, "agent"), (0, "customer")))["first_response_s"] == 0.0
    rt = reply_times(frame(msgs("t2", (0, "customer"), (0, "agent"))))
    assert rt["response_s"].to_list() == [0.0]


def test_resolution_time_only_when_the_source_says_resolved():
    rows = msgs("r", (0, "customer"), (60, "agent"), (3600, "customer"))
    resolved = frame(rows).with_columns(conversation_status=pl.lit("Resolved"))
    assert one_frame(resolved)["resolution_s"] == 3600.0
    open_ = frame(rows).with_columns(conversation_status=pl.lit("open"))
    assert one_frame(open_)["resolution_s"] is None
    assert one_frame(open_)["status"] == "open"


def one_frame(f: pl.DataFrame) -> dict:
    return build_conversations(f).row(0, named=True)


def test_many_conversations_in_one_batch_do_not_mix():
    rows = msgs("x", (0, "customer"), (50, "agent")) + msgs("y", (10, "customer"), (20, "agent"))
    out = build_conversations(frame(rows)).sort("conversation_id")
    assert out["first_response_s"].to_list() == [50.0, 10.0]
    assert out["conversation_id"].to_list() == ["x", "y"]


@pytest.mark.parametrize(
    "events, expected",
    [
        (
            [(0, "customer"), (10, "agent"), (20, "agent"), (30, "customer"), (100, "agent")],
            [10.0, 70.0],
        ),
        ([(0, "customer"), (10, "system"), (90, "agent")], [90.0]),
    ],
)
def test_reply_cycles(events, expected):
    assert one(msgs("p", *events))["response_times_s"] == expected
