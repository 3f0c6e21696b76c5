"""State and lock on S3 beside the lake (``--use-s3-state``): conditional writes, one winner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework import state as st
from analytics_framework.errors import LockHeldError
from analytics_framework.faults import ENV_VAR, EXIT_CODE
from analytics_framework.storage.s3 import open_lake
from analytics_framework.storage.state_store import ConcurrentStateError, S3StateStore

runner = CliRunner()


def store_for(lake_uri: str) -> S3StateStore:
    return S3StateStore(open_lake(lake_uri, os.environ["AWS_ENDPOINT_URL"]), "twcs", stale_s=30)


def test_collect_keeps_its_state_on_s3_and_status_reads_it(s3):
    first = runner.invoke(app, ["collect", "--lake", s3, "--use-s3-state", "--no-enrich"])
    assert first.exit_code == 0, first.output
    assert not os.path.exists("state/twcs.json")  # nothing local
    bucket, prefix = s3[5:].split("/", 1)
    body = boto3.client("s3").get_object(Bucket=bucket, Key=f"{prefix}/_state/twcs.json")["Body"]
    doc = json.loads(body.read())
    assert doc["runs"][-1]["outcome"] == "succeeded" and "active" not in doc
    again = runner.invoke(app, ["collect", "--lake", s3, "--use-s3-state", "--no-enrich"])
    assert again.exit_code == 0 and "nothing to do" in again.stdout
    status = runner.invoke(app, ["status", "--lake", s3, "--use-s3-state", "--format", "json"])
    (pipeline,) = json.loads(status.stdout)["pipelines"]
    assert pipeline["state_file"] == f"s3://{bucket}/{prefix}/_state/twcs.json"
    assert pipeline["last_run"]["outcome"] == "skipped" and pipeline["running"] is None
    local = runner.invoke(app, ["collect", "--use-s3-state"])
    assert local.exit_code == 2 and "s3://" in local.stderr  # a local lake cannot hold it


def test_two_writers_of_the_s3_state_cannot_both_win(s3):
    a, b = store_for(s3), store_for(s3)
    base = a.load()
    b.load()
    a.save(st.record_run(base, {"load_id": "A"}))
    with pytest.raises(ConcurrentStateError, match="changed by another writer"):
        b.save(st.record_run(base, {"load_id": "B"}))
    assert [r["load_id"] for r in b.load()["runs"]] == ["A"]  # A's write is intact


def test_s3_lock_one_holder_then_stale_takeover(s3, caplog):
    store = store_for(s3)
    with store.lock("L1"):
        with pytest.raises(LockHeldError, match="in progress") as info:
            with store.lock("L2"):
                pass
        assert "L1" in info.value.one_line()
        assert store.holder().load_id == "L1"
    assert store.holder() is None  # released
    # a holder from another host whose heartbeat stopped long ago is stale
    old = (datetime.now(UTC) - timedelta(minutes=10)).isoformat(timespec="seconds")
    record = {
        "host": "ci-runner-7",
        "pid": 1,
        "load_id": "L0",
        "started_at": old,
        "heartbeat": old,
        "command": "",
    }
    boto3.client("s3").put_object(
        Bucket=store.bucket, Key=f"{store.key}.lock", Body=json.dumps(record).encode()
    )
    with store.lock("L3") as lock:
        assert lock.took_over is not None and lock.took_over.host == "ci-runner-7"
        assert store.holder().load_id == "L3"
    assert "took over a stale lock" in caplog.text


def test_killed_run_with_s3_state_recovers(s3, in_tmp):
    args = [
        sys.executable,
        "-m",
        "analytics_cli",
        "collect",
        "--lake",
        s3,
        "--use-s3-state",
        "--no-enrich",
        "--batch-size",
        "200",
    ]
    env = {**os.environ, ENV_VAR: "after_commit:2"}
    crashed = subprocess.run(args, cwd=in_tmp, env=env, capture_output=True, text=True)
    assert crashed.returncode == EXIT_CODE, crashed.stderr
    assert "active" in store_for(s3).load()
    again = subprocess.run(args, cwd=in_tmp, env=dict(os.environ), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "took over a stale lock" in again.stderr  # the dead run's lock object
    doc = store_for(s3).load()
    assert "active" not in doc and doc["runs"][-1]["outcome"] == "succeeded"
    lake = open_lake(s3, os.environ["AWS_ENDPOINT_URL"])
    conv = lake.read_table("conversations")
    assert conv.height == 1312 and conv["conversation_id"].n_unique() == 1312
