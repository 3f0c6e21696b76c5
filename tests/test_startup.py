"""Start-up: the command line loads only what a command uses (issue 14).

``analytics --help`` used to import polars, pyarrow, DuckDB, the LLM SDKs' HTTP stack and Slack's
SDK before printing a line (1.6 s here); each command now imports its own. These tests run the
CLI as a user does, in a fresh interpreter, and read which modules it imported
(``-X importtime``), so they fail the day a top-level import pulls a heavy library back in. No
test here asserts a time: the figures are in BENCHMARKS.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from analytics_framework.catalog import PROVIDERS, SOURCE_DESCRIPTIONS

ENV = {k: v for k, v in os.environ.items() if not k.startswith(("ANALYTICS_", "MONGODB_"))}

DATA = {"polars", "pyarrow", "duckdb", "numpy"}
"""The data libraries: every command that reads or writes the lake needs them, help does not."""

SERVICES = {
    "httpx",
    "google",  # google-genai
    "openai",
    "boto3",
    "botocore",
    "pymongo",
    "matplotlib",
    "sklearn",
    "slack_sdk",
    "lingua",
}
"""The SDKs and heavy libraries only some commands use (labeling, S3, MongoDB, charts, Slack,
personas, translations)."""


def imported(tmp_path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -m analytics_cli ARGS`` in ``tmp_path``; return it and its top-level imports."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "analytics_cli", *args],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return proc, names


@pytest.mark.parametrize(
    "args",
    [("--help",), ("report", "--help"), ("collect", "--help"), ("--version",)],
    ids=["help", "report-help", "collect-help", "version"],
)
def test_help_and_version_load_no_data_library_and_no_sdk(tmp_path, args):
    proc, names = imported(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()
    assert not names & (DATA | SERVICES), sorted(names & (DATA | SERVICES))
    assert "pydantic_settings" not in names  # settings are read by the commands that run


def test_help_still_lists_every_source_and_provider(tmp_path):
    proc, _ = imported(tmp_path, "collect", "--help")
    text = " ".join(proc.stdout.split())
    for name in SOURCE_DESCRIPTIONS:
        assert f"{name} (" in text
    for name in PROVIDERS:
        assert name in text


def test_status_loads_no_sdk(tmp_path):
    proc, names = imported(tmp_path, "status")
    assert proc.returncode == 2 and "nothing has been collected" in proc.stderr
    assert not names & SERVICES, sorted(names & SERVICES)
    assert not names & DATA, sorted(names & DATA)  # no state: no lake opened, nothing counted


def test_a_collect_without_labeling_or_mongodb_and_a_report_load_no_sdk(tmp_path):
    # collect: no labeler (--no-enrich), no MongoDB (no URI), a file source (no HTTP stack)
    run, names = imported(tmp_path, "collect", "--no-enrich")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "partitions written" in run.stdout
    assert not names & SERVICES, sorted(names & SERVICES)
    proc, names = imported(tmp_path, "report", "agents", "--format", "json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"report": "agents"' in proc.stdout
    assert not names & SERVICES, sorted(names & SERVICES)


def test_the_light_catalogue_matches_the_registries():
    from analytics_framework.enrich import LABELERS
    from analytics_framework.sources import SOURCES

    assert list(SOURCES) == list(SOURCE_DESCRIPTIONS)
    assert {n: c.description for n, c in SOURCES.items()} == SOURCE_DESCRIPTIONS
    assert tuple(LABELERS) == PROVIDERS


def test_a_status_whose_partitions_are_all_counted_loads_neither_polars_nor_duckdb(tmp_path):
    # status keeps the partitions' counts (storage/counts.py): a second run only lists the lake
    run, _ = imported(tmp_path, "collect", "--no-enrich")
    assert run.returncode == 0, run.stderr[-2000:]
    old = time.time_ns() - 3600 * 10**9  # collected an hour ago: its files can be kept
    for folder, _, files in os.walk(tmp_path / "lake"):
        for name in files:
            os.utime(os.path.join(folder, name), ns=(old, old))
    first, names = imported(tmp_path, "status", "--format", "json")
    assert first.returncode == 0, first.stderr[-2000:]
    assert {"polars", "duckdb"} <= names  # it counted every partition
    second, names = imported(tmp_path, "status", "--format", "json")
    assert second.stdout == first.stdout
    heavy = {"polars", "duckdb"} | SERVICES
    assert not names & heavy, sorted(names & heavy)
