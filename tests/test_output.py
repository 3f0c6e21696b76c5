"""What the CLI prints, as a user runs it: deterministic reports, tables that fit the terminal,
a status grid that shows the data's days.

Every test goes through Typer's CliRunner on ``analytics_cli.app:app``. The console width is
forced with ``COLUMNS`` (rich reads it at every print).
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.reports import get_report

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def write_chats(path: Path, conversations: int, seed: int = 7) -> None:
    """Conversations with sub-second timestamps over three days and three orgs (JSON lines).

    The bundled TWCS sample has whole-second timestamps: its duration sums are exact in
    float64 whatever the order, so it cannot show order-dependent float sums. These can.
    """
    rng = random.Random(seed)
    t0 = datetime(2024, 3, 4, tzinfo=UTC)
    with path.open("w") as fh:
        for i in range(conversations):
            org = f"org-{i % 3}"
            at = t0 + timedelta(seconds=rng.uniform(0, 3 * 86400))
            rows = [("customer", f"u{i}")]
            rows += [("agent", "a1"), ("customer", f"u{i}"), ("agent", "a2")]
            for role, sender in rows:
                msg = {
                    "conversation_id": f"c{i}",
                    "sent_at": at.isoformat(),
                    "role": role,
                    "text": "thanks, that fixed it" if role == "customer" else "try this",
                    "org_id": org,
                    "sender_id": sender,
                }
                fh.write(json.dumps(msg) + "\n")
                at += timedelta(seconds=rng.uniform(1, 5000))


@pytest.fixture(scope="module")
def fractional_lake(tmp_path_factory) -> str:
    """A labeled lake of 4,000 conversations with sub-second durations, built by ``collect``."""
    home = tmp_path_factory.mktemp("fractional")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)
        import os

        for key in list(os.environ):
            if key.startswith("ANALYTICS_"):
                mp.delenv(key)
        write_chats(home / "chats.jsonl", 4000)
        invoke("collect", "--source", "files", "chats.jsonl", "--batch-size", "500")
    return str(home / "lake")


def decimals(text: str) -> int:
    return len(text.split(".", 1)[1]) if "." in text else 0


def check_precision(column: str, text: str) -> None:
    limit = 3 if column.endswith("_s") else 2 if column.endswith("_pct") else 4
    assert "e" not in text.lower(), (column, text)
    assert decimals(text) <= limit, f"{column}={text}: more than {limit} decimals"


# --- A: the same lake gives byte-identical reports ---------------------------------------------


def test_reports_over_the_same_lake_are_byte_identical_and_rounded(in_tmp, fractional_lake):
    lake = ("--lake", fractional_lake)
    runs = {
        "csv": [
            invoke("report", "--period", "monthly", "--format", "csv", *lake).stdout
            for _ in range(5)
        ],
        "json": [
            invoke("report", "--period", "daily", "--by", "org", "--format", "json", *lake).stdout
            for _ in range(5)
        ],
        "table": [invoke("report", "--period", "daily", *lake).stdout for _ in range(2)],
        "topics": [
            invoke("report", "topics", "--by", "org", "--format", "csv", *lake).stdout
            for _ in range(3)
        ],
    }
    for fmt, outputs in runs.items():
        assert len(set(outputs)) == 1, f"{fmt}: {len(set(outputs))} different outputs"

    rows = list(csv.DictReader(io.StringIO(runs["csv"][0])))
    assert rows and float(rows[0]["frt_mean_s"]) > 0
    for row in rows:
        for column, text in row.items():
            if column.endswith("_s") or column.endswith("_pct") or column == "sentiment_mean":
                check_precision(column, text)
    # JSON carries the same rounded numbers (as JSON numbers, not strings)
    doc = json.loads(runs["json"][0])
    raw = runs["json"][0]
    for column in ("frt_mean_s", "response_mean_s", "frt_p90_s", "positive_pct"):
        for match in re.finditer(rf'"{column}": (-?[0-9.]+)', raw):
            check_precision(column, match.group(1))
    assert all(isinstance(r["frt_mean_s"], float) for r in doc["rows"])


# --- B: tables fit the terminal, paths keep their file name ------------------------------------


def assert_fits(out: str, width: int) -> None:
    for line in out.splitlines():
        assert cell_len(line) <= width, f"{cell_len(line)} cells: {line!r}"
    assert "…" not in out, "a cell was cut"


def test_run_summary_and_org_report_fit_80_columns_with_every_column(in_tmp, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = invoke("run", "--no-enrich").stdout
    (input_line,) = [line for line in out.splitlines() if " input " in line]
    assert input_line.rstrip(" │┃|").endswith("twcs_sample.csv.gz"), input_line  # shortened left

    table = invoke("report", "--period", "monthly", "--by", "org").stdout
    columns = json.loads(
        invoke("report", "--period", "monthly", "--by", "org", "--format", "json").stdout
    )["rows"][0]
    for column in columns:
        if column != "metric_version":
            label = get_report("overview").column(column).label
            assert label in table, f"column {column} ({label}) is missing"
    assert_fits(table, 80)
    assert "AppleSupport" in table and "left out" not in table


def test_topics_by_org_fit_or_say_what_was_left_out(in_tmp, monkeypatch, fractional_lake):
    lake = ("--lake", fractional_lake)
    monkeypatch.setenv("COLUMNS", "80")
    table = invoke("report", "topics", "--period", "monthly", "--by", "org", *lake).stdout
    for header in ("period", "org", "dimension", "rank", "value", "conversations", "share %"):
        assert header in table
    assert_fits(table, 80)

    # too narrow for even one column beside the keys: one line names them and the way out
    monkeypatch.setenv("COLUMNS", "40")
    narrow = invoke("report", "topics", "--period", "monthly", "--by", "org", *lake).stdout
    (note,) = [line for line in narrow.splitlines() if "left out" in line]
    assert "conversations, share_pct" in note and "--format csv" in note


def test_a_value_that_looks_like_markup_is_printed_as_written(in_tmp, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    chats = in_tmp / "chats.jsonl"
    rows = [("customer", "2024-03-04T10:00:00+00:00"), ("agent", "2024-03-04T10:05:00+00:00")]
    with chats.open("w") as fh:
        for role, at in rows:
            msg = {
                "conversation_id": "c1",
                "sent_at": at,
                "role": role,
                "text": "hi",
                "org_id": "[bold]acme[/bold]",
                "sender_id": "a1" if role == "agent" else "u1",
            }
            fh.write(json.dumps(msg) + "\n")
    invoke(
        "collect",
        "--source",
        "files",
        str(chats),
        "--no-enrich",
        "--lake",
        "lk",
        "--state-file",
        "s.json",
    )
    table = invoke("report", "--by", "org", "--lake", "lk").stdout
    assert "[bold]acme[/bold]" in table  # a table cell is text, never rich markup


# --- C: status shows the days the data covers --------------------------------------------------


def test_status_after_a_2017_backfill_shows_the_data_not_the_calendar(in_tmp, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    invoke("run", "--no-enrich", "--start-date", "2017-01-01", "--end-date", "2018-01-01")

    (twcs,) = json.loads(invoke("status", "--format", "json").stdout)["pipelines"]
    assert twcs["coverage_range"] == ["2017-12-01", "2018-01-01"]  # the last 31 days of data
    loaded = {c["day"]: c["loaded"] for c in twcs["coverage"]}
    assert loaded["2017-12-01"] == 7 and loaded["2017-12-02"] == 1
    assert twcs["data_range"] == ["2017-01-01", "2018-01-01"]
    assert (twcs["days_total"], twcs["days_hidden"]) == (365, 334)

    out = invoke("status").stdout
    grid = out.split("(excluded)")[1]
    assert re.search(r"2017-12-01 .* 7 ", grid), grid  # loaded counts, not an empty window
    (note,) = [line for line in out.splitlines() if "earlier day" in line]
    assert "334" in note and "--start-date 2017-01-01" in note and "--days 365" in note

    # `status --days N` (wired by the CLI to pipeline_status(days=N)): the last N days
    wider = json.loads(invoke("status", "--days", "45", "--format", "json").stdout)
    (twcs,) = wider["pipelines"]
    assert twcs["coverage_range"] == ["2017-11-17", "2018-01-01"]
    # loaded Nov 18 - Dec 2: 5 + 9 + 1 + 10 + 13 + 3 + 6 + 115 + 81 + 7 + 1
    assert sum(c["loaded"] for c in twcs["coverage"]) == 251
    assert twcs["days_hidden"] == 320


def test_status_collapses_runs_of_empty_days(in_tmp, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    invoke("run", "--no-enrich", "--start-date", "2017-11-25", "--end-date", "2017-11-27")
    out = invoke("status", "--start-date", "2017-11-20", "--end-date", "2017-12-05").stdout
    grid = out.split("(excluded)")[1]
    assert "… (5 empty days)" in grid and "… (8 empty days)" in grid  # 11-20..24, 11-27..12-04
    assert re.search(r"2017-11-25 .* 115 ", grid) and re.search(r"2017-11-26 .* 81 ", grid)
    assert "2017-11-21" not in grid and "2017-12-01" not in grid
