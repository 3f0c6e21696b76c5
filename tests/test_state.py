"""The state document: pure transitions without I/O, atomic store, the corrupt-state error."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework import state as st
from analytics_framework.pipeline import collect
from analytics_framework.settings import load_settings
from analytics_framework.sources.twcs import TwcsSource
from analytics_framework.storage.lake import Lake
from analytics_framework.storage.state_store import (
    CorruptStateError,
    StateStore,
    default_state_path,
)


def test_watermark_only_moves_forward_with_id_tie_breaker():
    s0 = st.new_state("twcs")
    s1 = st.advance_watermark(s0, "twcs", "2017-10-31T22:00:00+00:00", "twcs:5")
    s2 = st.advance_watermark(s1, "twcs", "2017-10-30T00:00:00+00:00", "twcs:9")  # older
    s3 = st.advance_watermark(s2, "twcs", "2017-10-31T22:00:00+00:00", "twcs:7")  # tie, id >
    assert s0["streams"] == {}  # inputs are never changed
    assert s2["streams"]["twcs"]["watermark"]["message_id"] == "twcs:5"
    assert s3["streams"]["twcs"]["watermark"] == {
        "sent_at": "2017-10-31T22:00:00+00:00",
        "message_id": "twcs:7",
    }


def test_files_are_known_by_size_and_hash():
    s = st.record_file(st.new_state("files"), "files", "/in/a.csv", 10, "abc", "t")
    assert st.file_unchanged(s, "files", "/in/a.csv", 10, "abc")
    assert not st.file_unchanged(s, "files", "/in/a.csv", 11, "abc")
    assert not st.file_unchanged(s, "files", "/in/a.csv", 10, "abd")
    assert not st.file_unchanged(s, "files", "/in/b.csv", 10, "abc")


def test_committing_a_batch_twice_keeps_one_ledger_entry():
    entry = {"batch_id": "L:000001", "load_id": "L", "rows_in": 5}
    s = st.record_batch(st.record_batch(st.new_state("x"), entry), dict(entry, rows_in=6))
    assert [e["rows_in"] for e in s["ledger"]] == [6]
    assert st.committed_batches(s, "L") == s["ledger"]


@pytest.mark.parametrize(
    "doc, problem",
    [
        ([], "not a JSON object"),
        ({"schema_version": 99}, "schema_version"),
        ({"schema_version": 1, "pipeline": "x", "streams": {}, "ledger": {}, "runs": []}, "ledger"),
    ],
)
def test_validate_rejects_foreign_documents(doc, problem):
    with pytest.raises(st.StateFormatError, match=problem):
        st.validate(doc)


def test_store_round_trip_and_corrupt_file(tmp_path):
    store = StateStore(tmp_path / "state" / "twcs.json", "twcs")
    assert store.load() == st.new_state("twcs")
    s = st.advance_watermark(store.load(), "twcs", "2017-01-01T00:00:00+00:00", "twcs:1")
    store.save(s)
    assert store.load() == s
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["twcs.json"]  # no temp left
    store.path.write_text('{"schema_version": 1, "pipe')
    with pytest.raises(CorruptStateError, match="not valid JSON") as info:
        store.load()
    line = info.value.one_line()
    assert str(store.path) in line and "analytics state reset" in line and "--yes" in line


def test_collect_records_ledger_watermark_files_and_run(tmp_path):
    store = StateStore(tmp_path / "twcs.json", "twcs")
    summary = collect(
        TwcsSource(None, load_settings()), Lake(str(tmp_path / "lake")), batch_size=500, store=store
    )
    s = store.load()
    ledger = st.committed_batches(s, summary.load_id)
    assert len(ledger) == summary.batches == 3
    assert sum(e["rows_in"] for e in ledger) == 5000
    assert sum(e["conversations"] for e in ledger) == 1312
    # the newest tweet in the excerpt
    assert s["streams"]["twcs"]["watermark"]["sent_at"].startswith("2017-12-")
    ((path, seen),) = s["streams"]["twcs"]["files"].items()
    assert path.endswith("twcs_sample.csv.gz") and seen["size"] == 315063
    assert s["runs"][-1]["outcome"] == "succeeded"


def test_a_backfill_does_not_move_the_watermark(tmp_path):
    from datetime import date

    store = StateStore(tmp_path / "twcs.json", "twcs")
    collect(
        TwcsSource(None, load_settings()),
        Lake(str(tmp_path / "lake")),
        store=store,
        start=date(2017, 10, 1),
        end=date(2017, 11, 1),
    )
    s = store.load()
    assert s["streams"].get("twcs", {}).get("watermark") is None
    assert s["ledger"] and s["runs"][-1]["outcome"] == "succeeded"


def test_a_failed_run_is_recorded(tmp_path):
    bad = tmp_path / "empty.csv"
    bad.write_text(
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
    )
    store = StateStore(tmp_path / "twcs.json", "twcs")
    with pytest.raises(Exception, match="no records"):
        collect(TwcsSource(str(bad), load_settings()), Lake(str(tmp_path / "lake")), store=store)
    assert store.load()["runs"][-1]["outcome"] == "failed"


def test_cli_state_show_reset_and_corrupt_state(in_tmp):
    runner = CliRunner()
    assert runner.invoke(app, ["collect"]).exit_code == 0
    shown = runner.invoke(app, ["state", "show"])
    assert json.loads(shown.stdout)["pipeline"] == "twcs"
    path = default_state_path("state", "twcs", "./lake")
    path.write_text("not json")
    result = runner.invoke(app, ["collect"])
    assert result.exit_code == 1
    assert str(path) in result.stderr and "state reset" in result.stderr
    assert runner.invoke(app, ["state", "reset"]).exit_code == 2  # needs --yes
    assert runner.invoke(app, ["state", "reset", "--yes"]).exit_code == 0
    assert runner.invoke(app, ["collect"]).exit_code == 0


def _sorted_tables(lake: Lake) -> dict:
    return {
        "conversations": lake.read_table("conversations").sort("conversation_id"),
        "messages": lake.read_table("messages").sort("message_id"),
    }


def test_an_abort_mid_run_keeps_committed_batches_staged_for_the_next_run(tmp_path):
    """A second Ctrl-C raises KeyboardInterrupt mid-run: nothing committed may be lost."""
    from analytics_framework.pipeline import run_collect

    lake, store = Lake(str(tmp_path / "lake")), StateStore(tmp_path / "twcs.json", "twcs")

    def abort(report):
        if report.seq == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_collect(
            TwcsSource(None, load_settings()),
            lake,
            store,
            batch_size=100,
            timezone="UTC",
            on_batch=abort,
        )
    s = store.load()
    assert s["runs"][-1]["outcome"] == "interrupted" and "active" in s
    load_id = s["active"]["load_id"]
    assert st.last_committed_seq(s, load_id) == 4
    # batches 0-4 reach 2017-10-31, which is still open: staged, durable, not yet published
    assert lake.list_files(lake.path("_staging", load_id))
    assert not (tmp_path / "twcs.json.lock.json").exists()  # the lock was released

    summary = run_collect(
        TwcsSource(None, load_settings()), lake, store, batch_size=100, timezone="UTC"
    )
    assert summary.recovered_load == load_id and summary.mode == "incremental"
    assert not lake.list_files(lake.path("_staging"))
    clean = Lake(str(tmp_path / "clean"))
    collect(TwcsSource(None, load_settings()), clean)
    got, want = _sorted_tables(lake), _sorted_tables(clean)
    for name in want:
        assert got[name].equals(want[name]), name
