"""The report layer: declarations drive options, rounding and rendering; --save stores reports."""

from __future__ import annotations

import json
import logging

import polars as pl
import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.reports import REPORTS, get_report, run_report
from analytics_framework.reports.catalog import CATALOG
from analytics_framework.storage.lake import Lake
from analytics_framework.storage.query import connect

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_every_report_declares_each_output_column_with_a_unit():
    for report in CATALOG:
        assert report.example.startswith("analytics report"), report.name
        names = [c.name for c in report.columns]
        assert len(names) == len(set(names)), report.name
        for c in report.columns:
            assert c.unit in ("seconds", "percent", "ratio", "count", "text", "date"), c
            assert c.name in report.keys or c.section or c.name == "metric_version", c
    assert list(REPORTS) == [r.name for r in CATALOG]


def test_reading_writes_nothing_and_save_replaces_the_same_report(in_tmp):
    assert invoke("collect", "--no-enrich").exit_code == 0
    assert invoke("report", "--period", "monthly").exit_code == 0
    assert not (in_tmp / "lake" / "reports").exists()
    for _ in range(2):
        saved = invoke("report", "--period", "monthly", "--save", "--format", "json")
        assert saved.exit_code == 0, saved.output
    files = sorted((in_tmp / "lake" / "reports" / "overview" / "monthly").glob("*.parquet"))
    assert len(files) == 1  # the same report, period and filters: replaced, not added
    stored = pl.read_parquet(files[0])
    printed = json.loads(saved.stdout)["rows"]
    assert stored.height == len(printed) == 7
    assert stored.filter(pl.col("period") == "2017-10-01")["conversations"].item() == 1035
    assert set(stored["report"]) == {"overview"}
    other = invoke("report", "--period", "monthly", "--org", "AppleSupport", "--save")
    assert other.exit_code == 0
    assert len(list(files[0].parent.glob("*.parquet"))) == 2  # other filters: another copy


def test_run_saves_its_report(in_tmp):
    assert invoke("run", "--no-enrich").exit_code == 0
    assert list((in_tmp / "lake" / "reports" / "overview" / "monthly").glob("*.parquet"))


def test_options_and_groupings_a_report_does_not_take_are_one_line(in_tmp):
    assert invoke("collect", "--no-enrich").exit_code == 0
    result = invoke("report", "topics", "--by", "assignment")
    assert result.exit_code == 2 and "has no --by 'assignment'" in result.stderr
    unknown = invoke("report", "nope")
    assert unknown.exit_code == 2 and "overview" in unknown.stderr


def test_floats_round_by_their_declared_unit(in_tmp):
    assert invoke("collect", "--no-enrich").exit_code == 0
    rows = json.loads(invoke("report", "--period", "monthly", "--format", "json").stdout)["rows"]
    spec = get_report("overview")
    for row in rows:
        for name, value in row.items():
            if isinstance(value, float):
                places = spec.column(name).decimals
                assert round(value, places) == value, (name, value)
    october = next(r for r in rows if r["period"] == "2017-10-01")
    assert october["reply_rate_pct"] == 100.0 and october["answered"] == 1034  # 1 reply, no FRT


def test_compare_previous_adds_the_previous_value_and_the_change(in_tmp):
    assert invoke("collect", "--no-enrich").exit_code == 0
    out = invoke("report", "--period", "monthly", "--compare", "previous", "--format", "json")
    assert out.exit_code == 0, out.output
    rows = {r["period"]: r for r in json.loads(out.stdout)["rows"]}
    nov, oct_ = rows["2017-11-01"], rows["2017-10-01"]
    assert nov["conversations_prev"] == 1035 and oct_["conversations_prev"] == 3  # Sep: 3
    assert nov["conversations_change_pct"] == round((262 - 1035) / 1035 * 100, 2)  # -74.69
    assert nov["reply_rate_pct_change"] == 0.0  # a rate changes in points: 100 -> 100
    # a month whose previous month has no conversations has no previous value
    assert rows["2016-08-01"]["conversations_prev"] is None
    assert rows["2011-08-01"]["conversations_change_pct"] is None
    table = invoke("report", "--period", "monthly", "--compare", "previous").stdout
    assert "compare" in table and "conversations Δ%" in table


def test_report_help_lists_every_report_with_an_example():
    text = invoke("report", "--help").stdout
    assert "\\b" not in text and "\b" not in text  # click's paragraph marks never show
    for spec in CATALOG:
        assert f"{spec.name}: {spec.description}" in " ".join(text.split())
        assert spec.example in text


def test_a_null_org_is_a_group_of_its_own_with_by_org(in_tmp):
    rows = []
    for c in range(3):  # three conversations without an org, each answered after 600 s
        rows.append(
            f'{{"conversation_id": "c{c}", "sent_at": "2024-03-04T09:0{c}:00Z", '
            '"role": "customer", "text": "hi"}'
        )
        rows.append(
            f'{{"conversation_id": "c{c}", "sent_at": "2024-03-04T09:1{c}:00Z", '
            '"role": "agent", "sender_id": "a", "text": "hello"}'
        )
    (in_tmp / "x.jsonl").write_text("\n".join(rows))
    assert invoke("collect", "--source", "files", "x.jsonl").exit_code == 0
    (row,) = json.loads(invoke("report", "--by", "org", "--format", "json").stdout)["rows"]
    assert row["org_id"] is None and row["replies"] == 3 and row["response_median_s"] == 600.0
    topics = json.loads(invoke("report", "topics", "--by", "org", "--format", "json").stdout)
    assert {r["share_pct"] for r in topics["rows"]} == {100.0}


@pytest.mark.parametrize("old", ["first", "last"])
def test_a_lake_whose_files_differ_in_schema_reports_as_over_checked_views(in_tmp, old, caplog):
    """Label and conversation files written before a column existed, first or last in the glob.

    A report's own connection reads unchecked views first; where those fail it runs again over
    checked ones, so the result is the one a connection that checks every footer gives.
    """
    assert invoke("collect", "--provider", "local").exit_code == 0
    lake = Lake(str(in_tmp / "lake"))
    for table, column in (("labels", "confidence"), ("conversations", "csat_rating")):
        files = sorted((in_tmp / "lake" / table).rglob("*.parquet"))
        target = files[0] if old == "first" else files[-1]
        pl.read_parquet(target).drop(column).write_parquet(target)
    for name in ("intents", "overview", "agents"):
        report = get_report(name)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="analytics_framework.reports.engine"):
            own = run_report(report, lake, period="monthly")
        assert "over unchecked views failed" in caplog.text, name  # the second run was needed
        con = connect(lake)
        try:
            checked = run_report(report, lake, period="monthly", con=con)
        finally:
            con.close()
        assert own.rows == checked.rows and own.rows, name
    confidences = [r["confidence_mean"] for r in run_report(get_report("intents"), lake).rows]
    assert any(c is not None for c in confidences)
