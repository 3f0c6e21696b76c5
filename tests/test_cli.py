"""The CLI as a user runs it: one test per user story, through Typer's CliRunner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analytics_cli.app import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def one_error_line(result, code: int, *needles: str) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_run_on_the_bundled_sample_prints_summary_and_real_numbers(in_tmp):
    result = invoke("run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "rows read" in out and "5,000" in out
    assert "conversations written" in out and "1,312" in out
    assert "2017-10-01" in out and "1,035" in out  # October 2017: 1,035 threads
    assert "metric definitions v1" in out
    assert (in_tmp / "lake" / "conversations").is_dir()


def test_collect_then_report_json_and_csv_output(in_tmp):
    assert invoke("collect", "--batch-size", "200").exit_code == 0
    result = invoke("report", "--period", "monthly", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["metric_version"] == 1
    october = next(r for r in doc["rows"] if r["period"] == "2017-10-01")
    assert october["conversations"] == 1035 and october["messages"] == 3809
    result = invoke(
        "report",
        "--period",
        "weekly",
        "--by",
        "org",
        "--format",
        "csv",
        "--output",
        "out/weekly.csv",
        "--start-date",
        "2017-10-30",
        "--end-date",
        "2017-11-06",
    )
    assert result.exit_code == 0, result.output
    text = (in_tmp / "out" / "weekly.csv").read_text()
    assert text.startswith("period,org_id,conversations")
    assert "2017-10-30,AppleSupport," in text


def test_report_org_filter(in_tmp):
    invoke("collect")
    result = invoke("report", "--period", "monthly", "--org", "sprintcare", "--format", "json")
    rows = json.loads(result.stdout)["rows"]
    by_org = json.loads(
        invoke("report", "--period", "monthly", "--by", "org", "--format", "json").stdout
    )["rows"]
    sprint = [r for r in by_org if r["org_id"] == "sprintcare"]
    assert sprint and "org_id" not in rows[0]
    assert [(r["period"], r["conversations"]) for r in rows] == [
        (r["period"], r["conversations"]) for r in sprint
    ]


def test_missing_file(in_tmp):
    one_error_line(invoke("collect", "nope.csv"), 2, "nope.csv", "not found")


def test_unknown_source(in_tmp):
    one_error_line(invoke("collect", "--source", "myspace"), 2, "unknown source", "twcs")


@pytest.mark.parametrize("value", ["2017-13-01", "yesterday"])
def test_bad_date(in_tmp, value):
    one_error_line(invoke("collect", "--start-date", value), 2, "--start-date", "YYYY-MM-DD")


def test_start_not_before_end(in_tmp):
    one_error_line(
        invoke("collect", "--start-date", "2017-11-01", "--end-date", "2017-10-01"), 2, "before"
    )


def test_empty_input(in_tmp):
    Path("empty.csv").write_text(
        "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
    )
    one_error_line(invoke("collect", "empty.csv"), 1, "no records in", "empty.csv")
    Path("empty.jsonl").write_text("")
    result = invoke("collect", "--source", "files", "empty.jsonl")
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_wrong_format_file(in_tmp):
    Path("x.csv").write_text("a,b\n1,2\n")
    one_error_line(invoke("collect", "x.csv"), 1, "x.csv", "missing column")


def test_report_before_any_collect(in_tmp):
    one_error_line(invoke("report"), 1, "no conversations yet", "analytics collect")


def test_report_bad_format_and_period(in_tmp):
    invoke("collect")
    one_error_line(invoke("report", "--format", "xml"), 2, "--format", "table, json, csv")
    one_error_line(invoke("report", "--period", "hourly"), 2, "period", "daily")
    one_error_line(invoke("report", "nosuch"), 2, "unknown report", "overview")


def test_bad_setting_in_environment(in_tmp, monkeypatch):
    monkeypatch.setenv("ANALYTICS_TIMEZONE", "Mars/Olympus")
    one_error_line(invoke("collect"), 2, "ANALYTICS_TIMEZONE", "IANA")
    monkeypatch.delenv("ANALYTICS_TIMEZONE")
    one_error_line(invoke("collect", "--batch-size", "0"), 2, "batch_size")


def test_dotenv_sets_the_lake(in_tmp):
    Path(".env").write_text("ANALYTICS_LAKE_URI=./elsewhere\n")
    assert invoke("collect").exit_code == 0
    assert (in_tmp / "elsewhere" / "conversations").is_dir()


def test_collect_date_range_keeps_only_conversations_started_inside(in_tmp):
    result = invoke("collect", "--start-date", "2017-10-31", "--end-date", "2017-11-01")
    assert result.exit_code == 0, result.output
    days = sorted(p.name for p in (in_tmp / "lake" / "conversations").glob("*/*/*"))
    assert days == ["day=31"]


def test_python_dash_m_and_help(in_tmp):
    proc = subprocess.run(
        [sys.executable, "-m", "analytics_cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    for cmd in ("collect", "report", "run"):
        assert cmd in proc.stdout


def test_status_on_a_known_history_table_and_json(in_tmp):
    assert (
        invoke("collect", "--start-date", "2017-10-28", "--end-date", "2017-10-31").exit_code == 0
    )
    bad = in_tmp / "chats.jsonl"
    bad.write_text(
        '{"conversation_id": "c1", "sent_at": "2024-03-04T09:00:00Z", "role": "customer", '
        '"text": "hi"}\n'
        '{"conversation_id": "c1", "sent_at": "2024-03-04T09:01:00Z", "role": "agent", '
        '"text": "hello"}\n'
        '{"conversation_id": "c1", "sent_at": "yesterday", "role": "agent", "text": "?"}\n'
    )
    assert invoke("collect", "--source", "files", str(bad)).exit_code == 0

    result = invoke(
        "status", "--start-date", "2017-10-27", "--end-date", "2017-11-01", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    files, twcs = json.loads(result.stdout)["pipelines"]  # every pipeline in state/, sorted
    assert [(c["day"], c["extracted"], c["loaded"]) for c in twcs["coverage"]] == [
        ("2017-10-27", False, 0),
        ("2017-10-28", True, 9),
        ("2017-10-29", True, 11),
        ("2017-10-30", True, 42),
        ("2017-10-31", False, 0),  # outside the backfill: a visible gap
    ]
    assert all(c["labeled"] == c["loaded"] for c in twcs["coverage"])  # collect labels too
    assert twcs["watermark"] is None  # a backfill does not move it
    assert twcs["last_run"]["outcome"] == "succeeded" and twcs["last_run"]["mode"] == "backfill"
    assert twcs["running"] is None and twcs["interrupted"] is None
    assert twcs["batches_committed"] == 2 and twcs["quarantined"] == 0
    assert files["pipeline"] == "files" and files["quarantined"] == 1
    assert files["watermark"]["sent_at"] == "2024-03-04T09:01:00+00:00"
    assert files["files_processed"] == 1

    table = invoke(
        "status", "--source", "twcs", "--start-date", "2017-10-29", "--end-date", "2017-10-31"
    )
    assert table.exit_code == 0, table.output
    out = table.stdout
    assert "pipeline twcs" in out and "succeeded" in out and "backfill" in out
    grid = out.split("(excluded)")[1]
    assert "2017-10-30" in grid and "42" in grid and "2017-10-31" not in grid


def test_status_without_state_says_what_to_do(in_tmp):
    one_error_line(invoke("status"), 2, "nothing has been collected", "analytics collect")


def test_incremental_collect_skips_unchanged_input_and_full_refresh_reads_it(in_tmp):
    assert invoke("collect").exit_code == 0
    again = invoke("collect")
    assert again.exit_code == 0 and "nothing to do" in again.stdout
    full = invoke("collect", "--full-refresh")
    assert full.exit_code == 0 and "(full)" in full.stdout and "5,000" in full.stdout
    assert one_error_line(invoke("collect", "--resume"), 2, "nothing to resume")
    assert one_error_line(invoke("collect", "--lookback", "soon"), 2, "lookback", "30m")
