"""The Framer CMS CSV over a small hand-built lake with known numbers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.exports.formatting import duration, format_value, period_title, slugify
from analytics_framework.reports.spec import Column

runner = CliRunner()
BULK = 1234  # one-message conversations of org "Bulk", all in the week of 18 March 2024


def invoke(*args: str):
    return runner.invoke(app, list(args))


def m(cid: str, at: str, role: str, org: str, sender: str | None = None) -> dict:
    who = sender or (f"u-{cid}" if role == "customer" else "agent-1")
    return {
        "conversation_id": cid,
        "sent_at": at,
        "role": role,
        "text": "t",
        "org_id": org,
        "sender_id": who,
    }


APPLE, BETA = "AppleSupport", "Beta Co."
ROWS = [
    # a: FRT 300 s, replies 300 s and 100 s
    m("a", "2024-03-04T09:00:00Z", "customer", APPLE),
    m("a", "2024-03-04T09:01:00Z", "customer", APPLE),
    m("a", "2024-03-04T09:05:00Z", "agent", APPLE),
    m("a", "2024-03-04T09:20:00Z", "customer", APPLE),
    m("a", "2024-03-04T09:21:40Z", "agent", APPLE),
    # b: FRT 600 s after a bot autoresponse (which never counts)
    m("b", "2024-03-04T12:00:00Z", "customer", BETA),
    m("b", "2024-03-04T12:00:02Z", "bot", BETA),
    m("b", "2024-03-04T12:10:00Z", "agent", BETA),
    # c: unanswered, a's customer again
    m("c", "2024-03-05T08:00:00Z", "customer", APPLE, sender="u-a"),
    # d: next week, FRT 13m 46s
    m("d", "2024-03-11T10:00:00Z", "customer", APPLE),
    m("d", "2024-03-11T10:13:46Z", "agent", APPLE),
]
T_BULK = datetime(2024, 3, 18, 8, tzinfo=UTC)
ROWS += [
    m(f"bulk{i}", (T_BULK + timedelta(seconds=i)).isoformat(), "customer", "Bulk")
    for i in range(BULK)
]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A folder with the lake collected from :data:`ROWS` (no labels)."""
    tmp = tmp_path_factory.mktemp("framer")
    pl.DataFrame(ROWS).write_ndjson(tmp / "in.jsonl")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp)
        result = invoke("collect", "--source", "files", "in.jsonl", "--no-enrich", "--lake", "lake")
        assert result.exit_code == 0, result.output
    return tmp


def export(home: Path, out: str, *args: str) -> tuple[str, list[dict[str, str]], list[str]]:
    """Run the export; return the file's name, its rows by header, and the header."""
    lake, dest = str(home / "lake"), str(home / out)
    result = invoke("export", "--format", "framer-csv", "--lake", lake, "--output", dest, *args)
    assert result.exit_code == 0, result.output
    [path] = [Path(line) for line in result.stdout.splitlines()]
    text = path.read_text(encoding="utf-8")
    header = next(csv.reader(io.StringIO(text)))
    return path.name, list(csv.DictReader(io.StringIO(text))), header


def test_by_org_one_item_per_week_and_org_with_display_values(home):
    name, rows, header = export(home, "out", "--by", "org")
    assert name == "framer-overview-weekly-by-org.csv"

    # Slug, Title, then one column per metric, headed by its label, in the report's order
    report = invoke(
        "report", "overview", "--lake", str(home / "lake"), "--by", "org", "--format", "csv"
    )
    columns = report.stdout.splitlines()[0].split(",")
    assert columns[:2] == ["period", "org_id"] and columns[-1] == "metric_version"
    assert header[:4] == ["Slug", "Title", "conversations", "messages"]
    assert len(header) == len(columns) - 1 and "metric_version" not in header
    assert "FRT avg" in header and "reply rate %" in header and "CSAT %" in header

    by_slug = {r["Slug"]: r for r in rows}
    assert list(by_slug) == [
        "2024-03-04-applesupport",
        "2024-03-04-beta-co",
        "2024-03-11-applesupport",
        "2024-03-18-bulk",
    ]
    apple = by_slug["2024-03-04-applesupport"]
    assert apple["Title"] == "Week of 4 Mar 2024 · AppleSupport"
    assert apple["conversations"] == "2" and apple["unanswered"] == "1"
    assert apple["reply rate %"] == "50.0 %"
    assert apple["FRT avg"] == "5m 00s" and apple["resp avg"] == "3m 20s"
    assert apple["CSAT %"] == "" and apple["sentiment"] == ""  # nothing surveyed, no labels
    beta = by_slug["2024-03-04-beta-co"]
    assert beta["Title"] == "Week of 4 Mar 2024 · Beta Co." and beta["FRT p50"] == "10m 00s"
    assert by_slug["2024-03-11-applesupport"]["FRT p90"] == "13m 46s"
    bulk = by_slug["2024-03-18-bulk"]
    assert bulk["conversations"] == "1,234" and bulk["customers"] == "1,234"
    assert bulk["reply rate %"] == "0.0 %" and bulk["FRT avg"] == ""


def test_slugs_are_unique_and_stable_across_exports(home):
    _, first, _ = export(home, "one")
    _, again, _ = export(home, "two")
    assert (home / "one" / "framer-overview-weekly.csv").read_bytes() == (
        home / "two" / "framer-overview-weekly.csv"
    ).read_bytes()
    slugs = [r["Slug"] for r in first]
    assert slugs == ["2024-03-04", "2024-03-11", "2024-03-18"]
    assert len(set(slugs)) == len(slugs)
    assert all(s == slugify(s) for s in slugs)
    assert [r["Title"] for r in first] == [
        "Week of 4 Mar 2024",
        "Week of 11 Mar 2024",
        "Week of 18 Mar 2024",
    ]
    assert first[0]["conversations"] == "3" and first[0]["reply rate %"] == "66.7 %"


def test_daily_and_monthly_titles_and_an_org_filter(home):
    _, daily, _ = export(home, "d", "--period", "daily", "--org", APPLE)
    assert [(r["Slug"], r["Title"]) for r in daily] == [
        ("2024-03-04-applesupport", "Mon 4 Mar 2024 · AppleSupport"),
        ("2024-03-05-applesupport", "Tue 5 Mar 2024 · AppleSupport"),
        ("2024-03-11-applesupport", "Mon 11 Mar 2024 · AppleSupport"),
    ]
    name, monthly, _ = export(home, "m", "--period", "monthly")
    assert name == "framer-overview-monthly.csv"
    assert [(r["Slug"], r["Title"], r["conversations"]) for r in monthly] == [
        ("2024-03-01", "March 2024", f"{4 + BULK:,}")
    ]


def test_a_range_with_no_conversations_writes_the_header_and_a_note(home):
    lake, dest = str(home / "lake"), str(home / "none")
    args = (
        "--lake",
        lake,
        "--output",
        dest,
        "--start-date",
        "2020-01-01",
        "--end-date",
        "2020-02-01",
    )
    result = invoke("export", "--format", "framer-csv", *args)
    assert result.exit_code == 0, result.output
    assert "overview: no rows" in result.stderr
    lines = (home / "none" / "framer-overview-weekly.csv").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Slug,Title,")


@pytest.mark.parametrize(
    ("unit", "value", "shown"),
    [
        ("seconds", 826.0, "13m 46s"),
        ("seconds", 4.25, "4.2s"),
        ("seconds", 20_820.0, "5h 47m"),
        ("percent", 42.5, "42.5 %"),
        ("count", 1234, "1,234"),
        ("ratio", -0.1012, "-0.10"),
        ("text", "acme", "acme"),
        ("count", None, "–"),
    ],
)
def test_values_are_formatted_by_unit(unit, value, shown):
    assert format_value(Column("x", "x", unit), value) == shown


def test_changes_are_signed_and_titles_and_slugs_read_well():
    change = Column("csat_pct_change", "CSAT % Δ", "percent", "compare")
    assert format_value(change, 3.0) == "+3.0 %" and format_value(change, -1.25) == "-1.2 %"
    assert duration(None) == "–" and duration(90_000) == "1d 01h"
    assert period_title("weekly", "2024-03-04") == "Week of 4 Mar 2024"
    assert slugify("Café Noir, Inc.") == "cafe-noir-inc"
