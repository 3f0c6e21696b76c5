"""The ZIP bundle of the bundled sample: its manifest, and data equal to ``analytics report``."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import UTC, datetime

from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.exports import get_exporter
from analytics_framework.model import METRIC_VERSION
from analytics_framework.reports import get_report
from analytics_framework.storage.state_store import lake_id

runner = CliRunner()
SHARED = ("--period", "monthly", "--start-date", "2017-10-01", "--end-date", "2017-12-01")


def invoke(*args: str):
    return runner.invoke(app, list(args))


def report_args(name: str, extra: dict) -> list[str]:
    """The ``analytics report NAME`` options the bundle computed ``name`` with."""
    args = [*SHARED, *(["--by", "org"] if "org" in get_report(name).by else [])]
    for key, value in extra.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    return args


def test_zip_bundle_matches_the_reports_and_its_manifest(in_tmp):
    assert invoke("collect").exit_code == 0
    assert invoke("scripts").exit_code == 0  # the setters' scripts, which the bundle holds too
    assert invoke("personas").exit_code == 0  # and the personas
    assert invoke("translate").exit_code == 0  # and the languages
    before = datetime.now(UTC).replace(microsecond=0)
    result = invoke("export", "--format", "zip", *SHARED, "--by", "org", "--output", "out")
    assert result.exit_code == 0, result.output
    bundles = list((in_tmp / "out").iterdir())
    assert [b.name for b in bundles] == [f"analytics-monthly-{before.date()}.zip"]
    archive = zipfile.ZipFile(bundles[0])
    names = archive.namelist()

    # deterministic order: manifest, page, charts, then reports (csv before json), each sorted
    charts = [n for n in names if n.startswith("charts/")]
    reports = [n for n in names if n.startswith("reports/")]
    assert names == ["manifest.json", "report.html", *sorted(charts), *sorted(reports)]
    assert charts and all(n.endswith(".png") and n[7:9].isdigit() for n in charts)
    assert all(archive.read(n).startswith(b"\x89PNG\r\n\x1a\n") for n in charts)

    manifest = json.loads(archive.read("manifest.json"))
    listed = {f["path"]: f for f in manifest["files"]}
    assert sorted(listed) == sorted(names[1:])
    for name in names[1:]:
        data = archive.read(name)
        assert listed[name]["size"] == len(data), name
        assert listed[name]["sha256"] == hashlib.sha256(data).hexdigest(), name
    assert manifest["metric_version"] == METRIC_VERSION == 1
    assert manifest["lake"] == lake_id(str(in_tmp / "lake"))
    assert manifest["filters"] == {
        "period": "monthly",
        "timezone": "UTC",
        "start_date": "2017-10-01",
        "end_date": "2017-12-01",
        "org": None,
        "by": "org",
        "compare": None,
    }
    generated = datetime.fromisoformat(manifest["generated_at"])
    assert manifest["generated_at"].endswith("Z") and generated.utcoffset().total_seconds() == 0
    assert before <= generated <= datetime.now(UTC)
    assert manifest["notes"] == [line for line in result.stderr.splitlines()[:-1]]
    assert "funnel: no rows" in " ".join(manifest["notes"])

    # every report's JSON and CSV are what `analytics report NAME` prints with the same options
    expected = get_exporter("zip").reports
    assert reports == [f"reports/{n}.{ext}" for n in sorted(expected) for ext in ("csv", "json")]
    for name, extra in expected.items():
        for fmt in ("json", "csv"):
            cli = invoke("report", name, *report_args(name, extra), "--format", fmt)
            assert cli.exit_code == 0, cli.output
            assert archive.read(f"reports/{name}.{fmt}").decode() == cli.stdout, (name, fmt)
        doc = json.loads(archive.read(f"reports/{name}.json"))
        assert doc["metric_version"] == 1 and doc["period"] == "monthly"
        assert manifest["reports"][name]["rows"] == len(doc["rows"])

    page = archive.read("report.html").decode()
    assert '<section id="overview">' in page and page.count("<figure>") == len(charts)
