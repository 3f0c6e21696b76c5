"""What makes exports fast must not change what they hold.

Charts drawn ahead (a thread, or a second process beside the export's own) are the bytes
:func:`charts.draw` draws on its own; a small lake read into memory gives the reports it gives
as views over its files.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.exports import EXPORTERS, charts, get_exporter
from analytics_framework.exports import ahead as ahead_module
from analytics_framework.exports.ahead import ChartsAhead, start_worker
from analytics_framework.exports.base import ExportContext
from analytics_framework.reports import REPORTS, run_report, sql_of
from analytics_framework.status import loaded_days
from analytics_framework.storage.lake import Lake, Partition
from analytics_framework.storage.query import connect

runner = CliRunner()
RANGE = {"period": "weekly", "start": date(2017, 10, 1), "end": date(2017, 12, 1)}


def sample_lake(in_tmp) -> Lake:
    assert runner.invoke(app, ["collect"]).exit_code == 0
    return Lake(str(in_tmp / "lake"))


def context(lake: Lake, con=None) -> ExportContext:
    ctx = ExportContext(
        results={},
        lake_uri="lake",
        generated_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
        filters={"period": "weekly", "timezone": "UTC"},
    )
    for name, options in charts.REPORTS.items():
        if not all(lake.exists(t) for t in REPORTS[name].requires):
            continue  # scripts, personas, languages: not built here (the export notes them)
        ctx.results[name] = run_report(REPORTS[name], lake, options=dict(options), con=con, **RANGE)
    return ctx


def is_view(con, table: str) -> bool:
    """Whether ``table`` is a view over the lake's Parquet files (not a frame in memory)."""
    sql = "SELECT sql FROM duckdb_views() WHERE view_name = ? AND NOT internal"
    return "read_parquet" in (con.execute(sql, [table]).fetchone() or [""])[0]


def test_charts_drawn_ahead_are_the_charts_drawn_after(in_tmp):
    lake = sample_lake(in_tmp)
    plain = context(lake)
    expected = charts.draw(plain, "png")
    assert [n for n, _ in expected][:2] == ["01_conversations.png", "02_response_times.png"]
    for worker in (False, True, "started"):
        ctx = dataclasses.replace(plain, results={}, notes=[], drawn={})
        # "started": the worker an export starts before it reads the lake
        ahead = ChartsAhead(ctx, "png", worker=start_worker() if worker == "started" else worker)
        # funnel comes after overview: the conversations chart, which reads both, waits for it
        for name in ("overview", "topics", "funnel", *plain.results):
            ctx.results[name] = plain.results[name]
            ahead.report_done(name)
        assert charts.draw(ctx, "png") == expected, f"worker={worker}"
        assert ctx.notes == plain.notes
        ahead.finish()  # again: nothing left to do


FRESH = """
import sys
from tests.test_export_speedups import Lake, ChartsAhead, charts, context, dataclasses
plain = context(Lake(sys.argv[1]))
ctx = dataclasses.replace(plain, results={}, notes=[], drawn={})
ahead = ChartsAhead(ctx, "png", worker=True)
for name in plain.results:
    ctx.results[name] = plain.results[name]
    ahead.report_done(name)
assert "matplotlib" not in sys.modules, "the export imported matplotlib before drawing"
ahead.finish()  # draws beside the worker: nearly every chart is still queued
assert len(ctx.drawn["png"]) > 1
assert charts.draw(ctx, "png") == charts.draw(dataclasses.replace(plain, notes=[]), "png")
print("same charts")
"""


def test_a_fresh_export_forks_before_matplotlib_and_draws_the_same_charts(in_tmp):
    # as the CLI runs it: a process that has not loaded matplotlib; the worker imports it,
    # and this process draws the queue beside it once its own work is done
    lake = sample_lake(in_tmp)
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", FRESH, lake.uri],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "same charts"


def test_exporters_load_without_matplotlib():
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from analytics_framework.exports import get_exporter; "
            "get_exporter('zip'); print('matplotlib' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == "False", done.stderr[-2000:]
    get_exporter("zip")
    assert {n for n, cls in EXPORTERS.items() if cls.chart_format} == {"png", "svg", "html", "zip"}


def test_a_chart_whose_report_never_came_is_drawn_by_draw(in_tmp):
    lake = sample_lake(in_tmp)
    plain = context(lake)
    ctx = dataclasses.replace(plain, notes=[], drawn={})
    ChartsAhead(ctx, "png")  # no report_done: nothing drawn ahead
    assert charts.draw(ctx, "png") == charts.draw(plain, "png")


def test_a_small_lake_read_into_memory_gives_the_same_reports(in_tmp):
    lake = sample_lake(in_tmp)
    con = connect(lake, keep_for=sql_of(list(charts.REPORTS)))
    assert not is_view(con, "conversations")  # read once, into memory
    assert is_view(connect(lake), "conversations")
    in_memory = context(lake, con)
    on_files = context(lake)
    assert set(in_memory.results) == set(on_files.results) and "overview" in on_files.results
    for name in on_files.results:
        assert in_memory.results[name].rows == on_files.results[name].rows, name


def test_a_lake_of_mixed_schemas_stays_on_its_files(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    lake.write_partition(
        "conversations", Partition(2024, 3, 4), pl.DataFrame({"conversation_id": ["a"]})
    )
    lake.write_partition(
        "conversations",
        Partition(2024, 3, 5),
        pl.DataFrame({"conversation_id": ["b"], "stage": ["won"]}),
    )
    con = connect(lake, keep_for="SELECT conversation_id, stage FROM conversations")
    assert is_view(con, "conversations")
    got = con.execute("SELECT conversation_id, stage FROM conversations ORDER BY 1").fetchall()
    assert got == [("a", None), ("b", "won")]


def test_status_counts_files_written_before_and_after_a_column_was_added(tmp_path):
    # status reads the files without the schema pass: DuckDB takes the first file's columns
    # and finds them by name in the others, whichever of them lacks a later column
    old = {"conversation_id": ["files:a", "other:b"], "status": ["labeled", "labeled"]}
    new = {
        "objection_quote": ["q", None, None],
        "conversation_id": ["files:c", "files:d", "files:e"],
        "status": ["labeled", "failed", "labeled"],
    }
    counts = {"labels": {"old": 1, "new": 2}, "conversations": {"old": 1, "new": 3}}
    for first, second in ((old, new), (new, old)):  # the first file without the column, or with
        lake = Lake(str(tmp_path / f"lake-{len(first)}"))
        kinds = {4: first, 5: second, 6: first}
        for day, columns in kinds.items():
            lake.write_partition("labels", Partition(2024, 3, day), pl.DataFrame(columns))
            lake.write_partition(
                "conversations", Partition(2024, 3, day), pl.DataFrame(columns).drop("status")
            )
        for table in counts:
            expected = {
                date(2024, 3, d): counts[table]["old" if c is old else "new"]
                for d, c in kinds.items()
            }
            assert loaded_days(lake, "files", None, None, table) == expected, table
        assert loaded_days(lake, "files", date(2024, 3, 5), date(2024, 3, 6), "labels") == {
            date(2024, 3, 5): counts["labels"]["old" if second is old else "new"]
        }


@pytest.mark.parametrize("when", ["ready", "warming up"])
def test_a_worker_that_hangs_is_killed_and_its_charts_drawn_here(in_tmp, monkeypatch, when):
    lake = sample_lake(in_tmp)
    plain = context(lake)
    expected = charts.draw(plain, "png")
    monkeypatch.setattr(ahead_module, "CHART_TIMEOUT_S", 2.0)
    worker = start_worker()
    assert worker.pid is not None
    if when == "ready":
        assert worker.warm.result(30) == worker.pid
    # alive, but it answers nothing from now on ("warming up": most likely, ready or not)
    os.kill(worker.pid, signal.SIGSTOP)
    ctx = dataclasses.replace(plain, results={}, notes=[], drawn={})
    ahead = ChartsAhead(ctx, "png", worker=worker)
    for name in plain.results:
        ctx.results[name] = plain.results[name]
        ahead.report_done(name)
    assert charts.draw(ctx, "png") == expected
    assert ctx.notes == plain.notes
    deadline = time.monotonic() + 10
    while alive(worker.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(worker.pid), "the hung worker was left running"


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # reaped before, or while, it was read
        return False
