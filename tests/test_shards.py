"""A sharded backfill's plan and the shared rate budget, without a cluster (pure logic)."""

from __future__ import annotations

from datetime import date

import pytest

from analytics_framework import state as st
from analytics_framework.distributed import shards as sh
from analytics_framework.distributed.collect import check_options
from analytics_framework.distributed.limiter import RateBudget
from analytics_framework.errors import ConfigurationError
from analytics_framework.jobs import CollectOptions
from analytics_framework.settings import Settings


def test_a_range_is_cut_into_consecutive_shards_the_last_one_shorter():
    got = sh.plan_shards(date(2024, 1, 1), date(2024, 1, 17), 7)
    assert [(s.start.day, s.end.day) for s in got] == [(1, 8), (8, 15), (15, 17)]
    assert got[2].days() == [date(2024, 1, 15), date(2024, 1, 16)]
    assert got[0].state_name("files") == "files.shard-2024-01-01_2024-01-08"
    with pytest.raises(ConfigurationError, match="--shard-days 0"):
        sh.plan_shards(date(2024, 1, 1), date(2024, 1, 2), 0)
    with pytest.raises(ConfigurationError, match="empty"):
        sh.plan_shards(date(2024, 1, 2), date(2024, 1, 2), 3)


def test_a_re_planned_run_keeps_its_done_shards_and_skips_covered_days():
    shards = sh.plan_shards(date(2024, 1, 1), date(2024, 1, 10), 3)
    key = sh.plan_key("input-a", date(2024, 1, 1), date(2024, 1, 10), 3)
    assert key != sh.plan_key("input-b", date(2024, 1, 1), date(2024, 1, 10), 3)
    state = st.new_state("files")
    state = sh.record_plan(
        state, key, shards, pipeline="files", input_key="input-a", shard_days=3, command="c"
    )
    state = sh.record_outcome(state, key, shards[0], {"status": "done", "messages": 5})
    state = sh.record_outcome(state, key, shards[1], {"status": "failed", "error": "boom"})
    again = sh.record_plan(
        state, key, shards, pipeline="files", input_key="input-a", shard_days=3, command="c"
    )
    entries = again["shards"][key]["shards"]
    assert [e["status"] for e in entries] == ["done", "pending", "pending"]
    assert entries[0]["messages"] == 5 and entries[1]["error"] is None
    todo, done = sh.pending(again, key, shards, "files", "input-a", force=False)
    assert done == [shards[0]] and todo == shards[1:]
    # days a plain backfill already covered count as done, whoever collected them
    covered = st.record_coverage(again, "files", "input-a", date(2024, 1, 4), date(2024, 1, 7))
    todo, done = sh.pending(covered, key, shards, "files", "input-a", force=False)
    assert done == shards[:2] and todo == [shards[2]]
    todo, done = sh.pending(covered, key, shards, "files", "input-a", force=True)
    assert todo == shards and done == []
    assert sh.shard_plans(again)[0]["done"] == 1 and sh.shard_plans(again)[0]["pending"] == 2


def test_what_a_sharded_collect_refuses_is_one_line_each():
    s3 = Settings(lake_uri="s3://bucket/lake")
    cases = [
        (CollectOptions("files", "x.jsonl"), s3, "needs its range"),
        (CollectOptions("files", "x", date(2024, 1, 1), date(2024, 2, 1)), Settings(), "S3 lake"),
        (
            CollectOptions("files", "x", date(2024, 1, 1), date(2024, 2, 1), resume=True),
            s3,
            "resumes by itself",
        ),
    ]
    for options, settings, message in cases:
        with pytest.raises(ConfigurationError, match=message):
            check_options(options, settings)


def test_the_budget_spaces_requests_for_every_caller_and_a_pause_holds_them_all():
    budget = RateBudget(rpm=600)  # one request every 0.1 s
    delays = [budget.reserve() for _ in range(5)]
    assert delays[0] == 0
    assert [round(b - a, 2) for a, b in zip(delays, delays[1:], strict=False)] == [0.1] * 4
    budget.pause(5)
    assert 4.9 < budget.paused_for() <= 5 and budget.reserve() >= 4.9
    tokens = RateBudget(rpm=0, tpm=600)  # 10 tokens a second, 600 in the bucket
    assert tokens.reserve(600) == 0
    assert 0.9 < tokens.reserve(10) <= 1.0  # the bucket is empty: wait for 10 tokens
    assert RateBudget(rpm=0).reserve(10**6) == 0  # no limit
