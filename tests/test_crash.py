"""Crash safety with real processes and real signals.

Each test runs ``python -m analytics_cli`` as a user would, kills it (a failure hook at a named
point, SIGKILL at a random moment, SIGTERM, a double Ctrl-C) and checks that a plain re-run or
``--resume`` leaves a lake equal to a clean run's, with consistent state.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from analytics_framework import state as st
from analytics_framework.faults import ENV_VAR, EXIT_CODE
from analytics_framework.storage.lake import Lake
from analytics_framework.storage.lock import wait_for_holder
from analytics_framework.storage.state_store import default_state_path

ENV = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
BACKFILL = ["--start-date", "2017-10-01", "--end-date", "2017-12-01"]
BATCHES_OF_100 = 14  # 1,312 threads in the bundled sample


def _argv(args: tuple[str, ...]) -> list[str]:
    """The command line; collect runs without labeling (labels are tested elsewhere)."""
    extra = ["--no-enrich"] if args and args[0] == "collect" else []
    return [sys.executable, "-m", "analytics_cli", *args, *extra]


def cli(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        _argv(args),
        cwd=cwd,
        env={**ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def spawn(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        _argv(args),
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def state_path(cwd: Path) -> Path:
    """The default state of the twcs pipeline into ``cwd/lake`` (state/<lake slug>/twcs.json)."""
    return default_state_path(str(cwd / "state"), "twcs", str(cwd / "lake"))


def holder_path(cwd: Path) -> Path:
    return Path(f"{state_path(cwd)}.lock.json")


def tables(cwd: Path) -> dict[str, pl.DataFrame]:
    lake = Lake(str(cwd / "lake"))
    return {
        "conversations": lake.read_table("conversations").sort("conversation_id"),
        "messages": lake.read_table("messages").sort("message_id"),
    }


def state_of(cwd: Path) -> dict:
    return json.loads(state_path(cwd).read_text())


def assert_same_lake(cwd: Path, reference: dict[str, pl.DataFrame]) -> None:
    got = tables(cwd)
    for name, ref in reference.items():
        assert got[name].height == ref.height, name
        assert got[name].equals(ref), f"{name} differs from a clean run's"
    assert not list((cwd / "lake" / "_staging").glob("*/*/*.parquet")), "staging left behind"


def assert_consistent_state(cwd: Path, watermark: dict | None) -> dict:
    s = state_of(cwd)
    assert "active" not in s, "the load is still marked in progress"
    outcomes = [r["outcome"] for r in s["runs"]]
    while outcomes and outcomes[-1] == "skipped":  # "nothing to do" after a finished run
        outcomes.pop()
    assert outcomes[-1] == "succeeded"
    assert s["streams"]["twcs"].get("watermark") == watermark
    assert not holder_path(cwd).exists(), "lock holder record left behind"
    return s


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> dict:
    """A clean, uninterrupted incremental run and a clean backfill, for comparison."""
    full = tmp_path_factory.mktemp("clean")
    assert cli(full, "collect", "--batch-size", "100").returncode == 0
    back = tmp_path_factory.mktemp("clean_backfill")
    assert cli(back, "collect", "--batch-size", "50", *BACKFILL).returncode == 0
    return {
        "tables": tables(full),
        "watermark": state_of(full)["streams"]["twcs"]["watermark"],
        "backfill": tables(back),
    }


@pytest.mark.parametrize(
    "point",
    ["after_extract:3", "mid_write:40", "after_write:5", "after_commit:7", "after_commit:14"],
)
@pytest.mark.parametrize("rerun", ["plain", "resume"])
def test_crash_matrix(tmp_path, clean, point, rerun):
    crashed = cli(tmp_path, "collect", "--batch-size", "100", env={ENV_VAR: point})
    assert crashed.returncode == EXIT_CODE, crashed.stderr
    before = state_of(tmp_path)
    assert "active" in before  # the interrupted load is on record
    load_id = before["active"]["load_id"]
    committed = st.last_committed_seq(before, load_id)
    args = ["collect", "--batch-size", "100"] + (["--resume"] if rerun == "resume" else [])
    again = cli(tmp_path, *args)
    assert again.returncode == 0, again.stderr
    assert "took over a stale lock" in again.stderr  # the dead run's lock record
    assert_same_lake(tmp_path, clean["tables"])
    after = assert_consistent_state(tmp_path, clean["watermark"])
    if rerun == "resume":
        seqs = [e["seq"] for e in st.committed_batches(after, load_id)]
        assert seqs == list(range(BATCHES_OF_100)), "a batch was committed twice or skipped"
        assert after["runs"][-1]["batches"] == BATCHES_OF_100 - committed - 1


def test_sigkill_at_random_moments_then_plain_rerun(tmp_path_factory, clean):
    rng = random.Random(20261122)
    interrupted = 0
    for i in range(3):
        cwd = tmp_path_factory.mktemp(f"kill{i}")
        proc = spawn(cwd, "collect", "--batch-size", "20")
        holder = wait_for_holder(holder_path(cwd), 60)
        assert holder is not None and holder.pid == proc.pid
        time.sleep(rng.uniform(0.05, 1.0))
        proc.kill()
        proc.communicate()
        mid_load = "active" in state_of(cwd)  # else the kill came after the run finished
        interrupted += mid_load
        again_args = ("collect", "--batch-size", "20")
        if mid_load:
            status = cli(cwd, "status", "--format", "json")
            stale = json.loads(status.stdout)["pipelines"][0]["stale_lock"]
            assert stale is not None and stale["pid"] == proc.pid  # shown, not yet taken over
        again = cli(cwd, *again_args)
        assert again.returncode == 0, again.stderr
        if mid_load:
            assert f"took over a stale lock left by pid {proc.pid}" in again.stderr
        assert_same_lake(cwd, clean["tables"])
        assert_consistent_state(cwd, clean["watermark"])
    assert interrupted >= 1, "no kill landed during a load; the test proved nothing"


def test_second_collect_exits_75_naming_the_holder_and_wait_queues(tmp_path):
    first = spawn(tmp_path, "collect", "--batch-size", "2")  # about 15 s of batches
    holder = wait_for_holder(holder_path(tmp_path), 60)
    assert holder is not None
    second = cli(tmp_path, "collect")
    assert second.returncode == 75, second.stderr
    assert f"pid {first.pid}" in second.stderr and "--wait" in second.stderr
    status = json.loads(cli(tmp_path, "status", "--format", "json").stdout)["pipelines"][0]
    assert status["running"]["pid"] == first.pid
    queued = cli(tmp_path, "collect", "--wait", "120")
    assert first.wait(timeout=120) == 0
    assert queued.returncode == 0, queued.stderr
    assert "nothing to do" in queued.stdout  # it ran after the first one finished
    assert "took over" not in queued.stderr  # a clean release is not a stale lock


def test_backfill_killed_halfway_reruns_only_the_missing_days(tmp_path, clean):
    args = ["collect", "--batch-size", "50", *BACKFILL]
    assert cli(tmp_path, *args, env={ENV_VAR: "after_commit:12"}).returncode == EXIT_CODE
    done = st.covered_days(state_of(tmp_path), "twcs")
    first_missing = max(done) + date.resolution
    assert date(2017, 10, 1) in done and first_missing < date(2017, 12, 1)
    dry = cli(tmp_path, *args, "--dry-run")
    assert dry.returncode == 0 and "days to collect" in dry.stdout
    assert f"{first_missing}..2017-11-30" in dry.stdout.replace("\n", "").replace(" ", "")
    rerun = cli(tmp_path, *args)
    assert rerun.returncode == 0, rerun.stderr
    s = state_of(tmp_path)
    new_load = s["runs"][-1]["load_id"]
    written = {p for e in st.committed_batches(s, new_load) for p in e["partitions"]}
    assert written and min(written) >= first_missing.isoformat()  # nothing before the gap
    assert s["runs"][-1]["skipped"] > 0  # conversations of completed days were passed over
    assert_same_lake(tmp_path, clean["backfill"])
    assert s["streams"]["twcs"].get("watermark") is None  # a backfill never moves it
    again = cli(tmp_path, *args)
    assert again.returncode == 0 and "already collected" in again.stdout
    forced = cli(tmp_path, *args, "--force")
    assert forced.returncode == 0 and "nothing to do" not in forced.stdout
    assert_same_lake(tmp_path, clean["backfill"])


def test_sigterm_stops_cleanly_and_resume_finishes(tmp_path, clean):
    proc = spawn(tmp_path, "collect", "--batch-size", "5")
    assert wait_for_holder(holder_path(tmp_path), 60) is not None
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "stopping after the current batch" in err and "--resume" in err
    s = state_of(tmp_path)
    assert s["runs"][-1]["outcome"] == "interrupted" and "active" in s
    assert not holder_path(tmp_path).exists()  # the lock was released, not left stale
    status = json.loads(cli(tmp_path, "status", "--format", "json").stdout)["pipelines"][0]
    assert status["interrupted"]["load_id"] == s["active"]["load_id"]
    resumed = cli(tmp_path, "collect", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "took over" not in resumed.stderr
    after = assert_consistent_state(tmp_path, clean["watermark"])
    seqs = [e["seq"] for e in st.committed_batches(after, s["active"]["load_id"])]
    assert seqs == list(range(len(seqs))) and len(seqs) == 263  # ceil(1312 / 5), each once
    assert_same_lake(tmp_path, clean["tables"])


def test_second_ctrl_c_aborts_at_once_and_a_rerun_recovers(tmp_path, clean):
    proc = spawn(tmp_path, "collect", "--batch-size", "5")
    assert wait_for_holder(holder_path(tmp_path), 60) is not None
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    # the second signal aborts the run (130), or, when the first stop was already done, lands
    # on a process shutting down, whose interpreter has restored the default handler (-SIGINT);
    # either way no traceback, and the next run recovers (the abort path itself is also tested
    # in-process, deterministically, in test_state.py)
    assert proc.returncode in (130, -signal.SIGINT), err
    assert ("aborted" in err or "stopped after batch" in err) and "Traceback" not in err
    again = cli(tmp_path, "collect")
    assert again.returncode == 0, again.stderr
    assert_same_lake(tmp_path, clean["tables"])
    assert_consistent_state(tmp_path, clean["watermark"])
