"""Planning rules and state transitions for incremental runs, backfills and resume (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from analytics_framework import state as st
from analytics_framework.errors import ConfigurationError
from analytics_framework.planning import Plan, input_key, plan_collect

A = {"/in/a.jsonl": {"size": 10, "sha256": "aa"}}
AB = {**A, "/in/b.jsonl": {"size": 20, "sha256": "bb"}}
WM = "2024-03-10T12:00:00+00:00"


def plan(state, files, **kw):
    kw.setdefault("load_id", "L2")
    kw.setdefault("batch_size", 100)
    kw.setdefault("timezone", "UTC")
    return plan_collect(state, "files", files, **kw)


def after_success(files=A):
    s = st.new_state("files")
    for path, f in files.items():
        s = st.record_file(s, "files", path, f["size"], f["sha256"], "2024-03-10T13:00:00+00:00")
    return st.advance_watermark(s, "files", WM, "files:m9")


def test_first_incremental_run_reads_everything():
    p = plan(st.new_state("files"), A)
    assert (p.mode, list(p.files), p.cutoff, p.nothing_to_do) == (
        "incremental",
        ["/in/a.jsonl"],
        None,
        None,
    )


def test_unchanged_input_is_nothing_to_do_and_full_refresh_reads_it():
    p = plan(after_success(), A)
    assert p.unchanged == ["/in/a.jsonl"] and not p.files
    assert "no new or changed input" in p.nothing_to_do and "--full-refresh" in p.nothing_to_do
    full = plan(after_success(), A, full_refresh=True)
    assert full.mode == "full" and list(full.files) == ["/in/a.jsonl"] and full.cutoff is None


def test_changed_file_is_reread_from_the_watermark_minus_lookback():
    changed = {"/in/a.jsonl": {"size": 12, "sha256": "a2"}}
    p = plan(after_success(), changed, lookback=timedelta(minutes=30))
    assert list(p.files) == ["/in/a.jsonl"]
    assert p.cutoff == datetime(2024, 3, 10, 11, 30, tzinfo=UTC)


def test_a_new_file_is_read_in_full_and_unchanged_ones_skipped():
    p = plan(after_success(), AB)
    assert list(p.files) == ["/in/b.jsonl"] and p.unchanged == ["/in/a.jsonl"]
    assert p.cutoff is None  # b.jsonl was never seen: none of it may be skipped


def test_backfill_skips_completed_days_of_the_same_input_only():
    key = input_key(A)
    s = st.record_coverage(st.new_state("files"), "files", key, date(2024, 3, 1), date(2024, 3, 4))
    p = plan(s, A, start=date(2024, 3, 1), end=date(2024, 3, 6))
    assert p.mode == "backfill"
    assert p.complete_days == [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)]
    assert p.days == [date(2024, 3, 4), date(2024, 3, 5)]
    done = plan(s, A, start=date(2024, 3, 1), end=date(2024, 3, 3))
    assert done.nothing_to_do and "--force" in done.nothing_to_do
    forced = plan(s, A, start=date(2024, 3, 1), end=date(2024, 3, 3), force=True)
    assert forced.days is None and forced.nothing_to_do is None
    other = plan(
        s,
        {"/in/a.jsonl": {"size": 10, "sha256": "changed"}},
        start=date(2024, 3, 1),
        end=date(2024, 3, 3),
    )
    assert other.days is None and other.complete_days == []  # new content: nothing is done


def test_resume_replays_the_interrupted_plan_after_the_last_committed_batch():
    first = plan(
        st.new_state("files"), A, load_id="L1", start=date(2024, 3, 1), end=date(2024, 3, 9)
    )
    s = st.begin_load(st.new_state("files"), first.to_record())
    for seq in (0, 1, 2):
        s = st.record_batch(s, {"batch_id": f"L1:{seq}", "load_id": "L1", "seq": seq})
    p = plan(s, A, resume=True, batch_size=999)
    assert (p.load_id, p.resume_after, p.batch_size, p.mode) == ("L1", 2, 100, "backfill")
    assert p.start == date(2024, 3, 1) and p.end == date(2024, 3, 9)
    with pytest.raises(ConfigurationError, match="input changed"):
        plan(s, AB, resume=True)
    again = plan(s, A)  # a plain re-run starts a new load and recovers the old one's staging
    assert again.load_id == "L2" and again.recover_load == "L1" and again.resume_after == -1


def test_resume_errors():
    with pytest.raises(ConfigurationError, match="nothing to resume"):
        plan(st.new_state("files"), A, resume=True)
    with pytest.raises(ConfigurationError, match="--resume replays"):
        plan(st.new_state("files"), A, resume=True, full_refresh=True)
    with pytest.raises(ConfigurationError, match="do not go together"):
        plan(st.new_state("files"), A, full_refresh=True, start=date(2024, 1, 1))


def test_plan_round_trips_through_the_state_record():
    p = Plan(
        "files",
        "L1",
        "backfill",
        100,
        "Europe/Paris",
        date(2024, 3, 1),
        date(2024, 3, 5),
        files=A,
        input_key="k",
        cutoff=datetime(2024, 3, 1, tzinfo=UTC),
        days=[date(2024, 3, 2)],
        complete_days=[date(2024, 3, 1)],
    )
    assert Plan.from_record(p.to_record()) == p


def test_load_watermark_is_promoted_only_when_the_load_ends():
    s = st.begin_load(st.new_state("files"), {"load_id": "L1"})
    s = st.advance_load_watermark(s, "2024-03-02T00:00:00+00:00", "files:b")
    s = st.advance_load_watermark(s, "2024-03-01T00:00:00+00:00", "files:z")  # older: ignored
    assert s["streams"] == {}  # nothing promoted while the load runs
    assert s["active"]["watermark"] == ["2024-03-02T00:00:00+00:00", "files:b"]
    done = st.end_load(s, "files", promote_watermark=True)
    assert "active" not in done
    assert done["streams"]["files"]["watermark"] == {
        "sent_at": "2024-03-02T00:00:00+00:00",
        "message_id": "files:b",
    }
    assert st.end_load(s, "files", promote_watermark=False)["streams"] == {}  # a backfill


def test_coverage_ranges_merge_and_expand_to_days():
    s = st.new_state("files")
    s = st.record_coverage(s, "files", "k", date(2024, 3, 1), date(2024, 3, 3))
    s = st.record_coverage(s, "files", "k", date(2024, 3, 3), date(2024, 3, 4))  # touches
    s = st.record_coverage(s, "files", "k", date(2024, 3, 10), date(2024, 3, 11))
    s = st.record_coverage(s, "files", "other", date(2024, 3, 20), date(2024, 3, 21))
    assert s["streams"]["files"]["coverage"]["k"] == [
        ["2024-03-01", "2024-03-04"],
        ["2024-03-10", "2024-03-11"],
    ]
    assert st.covered_days(s, "files", "k") == {
        date(2024, 3, 1),
        date(2024, 3, 2),
        date(2024, 3, 3),
        date(2024, 3, 10),
    }
    assert date(2024, 3, 20) in st.covered_days(s, "files")  # any input, for status
