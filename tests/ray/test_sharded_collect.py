"""``collect --executor ray`` on a real two-node cluster against moto S3, run as users run it."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from analytics_framework.storage.lake import Lake
from analytics_framework.storage.s3 import open_lake

ANALYTICS = str(Path(sys.executable).parent / "analytics")
RANGE = ["--start-date", "2024-01-01", "--end-date", "2024-01-29"]
TABLES = ("conversations", "messages", "replies")


def collect(env, bucket, path, *extra, check=True, timeout=300):
    cmd = [
        ANALYTICS,
        "collect",
        "--source",
        "files",
        str(path),
        "--lake",
        f"s3://{bucket}/lake",
        "--no-enrich",
        "--no-mongodb",
        *RANGE,
        *extra,
    ]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert run.returncode == 0, run.stdout + run.stderr
    return run


def sharded(env, bucket, path, address, *extra, **kw):
    return collect(env, bucket, path, "--executor", "ray", "--ray-address", address, *extra, **kw)


def digests(env, bucket) -> dict[str, str]:
    """A digest of every partition's rows (sorted by every column), per table and partition."""
    lake: Lake = open_lake(f"s3://{bucket}/lake", env["AWS_ENDPOINT_URL"])
    out = {}
    for table in TABLES:
        for part in lake.partitions(table):
            frame = lake.read_partition(table, part)
            assert frame is not None
            rows = frame.sort(frame.columns).write_ndjson()
            out[f"{table}/{part}"] = hashlib.sha256(rows.encode()).hexdigest()
    return out


def state(env, bucket, name="files") -> dict:
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1")
    body = s3.get_object(Bucket=bucket, Key=f"lake/_state/{name}.json")["Body"].read()
    return json.loads(body)


@pytest.fixture(scope="module")
def reference(cluster_env, messages_file, moto_port):
    """The same backfill in one process (state on S3 too): the digests a sharded run must match."""
    import uuid

    name = f"ref-{uuid.uuid4().hex[:8]}"
    boto3.client(
        "s3", endpoint_url=cluster_env["AWS_ENDPOINT_URL"], region_name="us-east-1"
    ).create_bucket(Bucket=name)
    collect(cluster_env, name, messages_file, "--use-s3-state")
    got = digests(cluster_env, name)
    assert len(got) == 3 * 28  # every day of the range, in every table
    return got


def test_a_sharded_backfill_writes_the_same_rows_as_one_process(
    cluster_env, ray_address, bucket, messages_file, reference
):
    run = sharded(cluster_env, bucket, messages_file, ray_address, "--shard-days", "4")
    assert "7 shards collected, 0 already done, 0 failed" in run.stdout, run.stdout
    assert "(2 records quarantined)" in run.stdout  # parsed once: each bad line counted once
    assert digests(cluster_env, bucket) == reference
    s3 = boto3.client("s3", endpoint_url=cluster_env["AWS_ENDPOINT_URL"], region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="lake/")["Contents"]
    rejected = [o["Key"] for o in listed if "/_rejected/" in o["Key"]]
    lines = [
        json.loads(line)
        for k in rejected
        for line in s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode().splitlines()
    ]
    assert sorted(r["record"] for r in lines) == [
        "messages.jsonl line 20001",
        "messages.jsonl line 20002",
    ]
    staged = [o for o in listed if "/_staging/" in o["Key"] and not o["Key"].endswith("/")]
    assert not staged  # the input parsed once for the shards is removed (folder markers aside)
    doc = state(cluster_env, bucket)
    (plan,) = doc["shards"].values()
    assert [(s["start"], s["end"]) for s in plan["shards"]][:2] == [
        ("2024-01-01", "2024-01-05"),
        ("2024-01-05", "2024-01-09"),
    ]
    assert {s["status"] for s in plan["shards"]} == {"done"} and plan["finished_at"]
    assert len({s["node"] for s in plan["shards"]}) == 2  # both nodes ran shards
    assert doc["streams"]["files"]["coverage"]  # a later local backfill skips these days
    (ranges,) = doc["streams"]["files"]["coverage"].values()
    assert ranges == [["2024-01-01", "2024-01-29"]]
    again = sharded(cluster_env, bucket, messages_file, ray_address, "--shard-days", "4")
    assert "0 shards collected, 7 already done" in again.stdout
    assert digests(cluster_env, bucket) == reference
    local = collect(cluster_env, bucket, messages_file, "--use-s3-state")
    assert "already collected" in local.stdout + local.stderr
    status = subprocess.run(
        [
            ANALYTICS,
            "status",
            "--lake",
            f"s3://{bucket}/lake",
            "--use-s3-state",
            "--format",
            "json",
        ],
        env=cluster_env,
        capture_output=True,
        text=True,
    )
    (pipeline,) = json.loads(status.stdout)["pipelines"]  # shard documents are not pipelines
    (plan,) = pipeline["shard_plans"]
    assert plan["done"] == 7 and plan["start"] == "2024-01-01" and plan["finished_at"]


def test_a_many_file_input_is_parsed_in_file_shards(
    cluster_env, ray_address, bucket, messages_file, reference, tmp_path
):
    folder = tmp_path / "export"
    folder.mkdir()
    lines = messages_file.read_text().splitlines(keepends=True)
    for i in range(3):  # a conversation's messages end up in several files
        (folder / f"part-{i}.jsonl").write_text("".join(lines[i::3]))
    run = sharded(cluster_env, bucket, folder, ray_address, "--shard-days", "7")
    assert "4 shards collected" in run.stdout and "(2 records quarantined)" in run.stdout
    assert digests(cluster_env, bucket) == reference
    (plan,) = state(cluster_env, bucket)["shards"].values()
    assert plan["file_groups"] == 3  # one parse task per file


def test_days_without_data_are_done_and_state_reset_removes_the_shards(
    cluster_env, ray_address, bucket, messages_file
):
    days = ["--start-date", "2024-01-22", "--end-date", "2024-02-12"]
    cmd = [
        ANALYTICS, "collect", "--source", "files", str(messages_file),
        "--lake", f"s3://{bucket}/lake", "--no-enrich", "--no-mongodb", *days,
        "--executor", "ray", "--ray-address", ray_address, "--shard-days", "7",
    ]  # fmt: skip
    run = subprocess.run(cmd, env=cluster_env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "3 shards collected, 0 already done, 0 failed" in run.stdout
    assert "shard 2024-02-05..2024-02-12: 0 conversations" in run.stderr  # no data there
    s3 = boto3.client("s3", endpoint_url=cluster_env["AWS_ENDPOINT_URL"], region_name="us-east-1")

    def state_keys():
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="lake/_state/").get("Contents", [])
        return sorted(o["Key"].rsplit("/", 1)[-1] for o in listed)

    assert len([k for k in state_keys() if k.startswith("files.shard-")]) == 3
    reset = subprocess.run(
        [ANALYTICS, "state", "reset", "--source", "files", "--lake", f"s3://{bucket}/lake",
         "--use-s3-state", "--yes"], env=cluster_env, capture_output=True, text=True,
    )  # fmt: skip
    assert reset.returncode == 0 and "3 shard state files" in reset.stderr
    assert not [k for k in state_keys() if k.endswith(".json")]


def test_a_worker_killed_mid_shard_is_retried_and_nothing_is_duplicated(
    cluster_env, ray_address, bucket, messages_file, reference, tmp_path
):
    marker = tmp_path / "crashed"
    env = {
        **cluster_env,
        "ANALYTICS_TEST_FAIL_AT": "after_write",  # staged, some partitions published
        "ANALYTICS_TEST_FAIL_ONCE": str(marker),
    }
    run = sharded(env, bucket, messages_file, ray_address, "--shard-days", "7")
    assert marker.exists()  # one worker process died mid-shard
    assert "4 shards collected, 0 already done, 0 failed" in run.stdout, run.stdout + run.stderr
    assert digests(cluster_env, bucket) == reference


def test_a_killed_driver_resumes_with_the_shards_not_done(
    cluster_env, ray_address, bucket, messages_file, reference
):
    cmd = [
        ANALYTICS,
        "collect",
        "--source",
        "files",
        str(messages_file),
        "--lake",
        f"s3://{bucket}/lake",
        "--no-enrich",
        "--no-mongodb",
        *RANGE,
        "--executor",
        "ray",
        "--ray-address",
        ray_address,
        "--shard-days",
        "2",
    ]
    driver = subprocess.Popen(cmd, env=cluster_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    done = 0
    while time.monotonic() < deadline and driver.poll() is None:
        try:
            plans = state(cluster_env, bucket).get("shards", {})
        except Exception:
            plans = {}
        done = sum(s["status"] == "done" for p in plans.values() for s in p["shards"])
        if done >= 2:
            break
        time.sleep(0.2)
    assert driver.poll() is None, "the driver finished before it could be killed"
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert 2 <= done < 14
    rerun = sharded(
        cluster_env, bucket, messages_file, ray_address, "--shard-days", "2", "--wait", "30"
    )
    line = rerun.stdout.strip().splitlines()[-1]
    skipped = int(line.split(" already done")[0].split(", ")[-1])
    assert skipped >= 2, line
    assert f"{14 - skipped} shards collected" in line
    assert digests(cluster_env, bucket) == reference


def test_a_shard_failing_on_every_attempt_is_reported_with_its_range(
    cluster_env, ray_address, bucket, messages_file
):
    env = {**cluster_env, "ANALYTICS_TEST_FAIL_AT": "after_extract"}  # every attempt dies
    run = sharded(
        env,
        bucket,
        messages_file,
        ray_address,
        "--shard-days",
        "14",
        "--max-retries",
        "1",
        check=False,
    )
    assert run.returncode == 1
    assert "shard 2024-01-01..2024-01-15 failed: the worker process running it died" in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("error: 2 of 2 shards failed")
    doc = state(cluster_env, bucket)
    (plan,) = doc["shards"].values()
    assert {s["status"] for s in plan["shards"]} == {"failed"} and not plan["finished_at"]


def test_one_sharded_run_per_pipeline(cluster_env, ray_address, bucket, messages_file):
    from analytics_framework.storage.state_store import S3StateStore

    lake = open_lake(f"s3://{bucket}/lake", cluster_env["AWS_ENDPOINT_URL"])
    with S3StateStore(lake, "files", stale_s=3).lock("other-run", command="analytics collect"):
        # this lock's heartbeat comes every 5 s: the driver must not think it stale after 3 s
        patient = {**cluster_env, "ANALYTICS_LOCK_STALE_S": "120"}
        run = sharded(patient, bucket, messages_file, ray_address, check=False)
    assert run.returncode == 75, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "in progress" in run.stderr


def test_an_unreachable_cluster_is_one_line(cluster_env, bucket, messages_file):
    run = sharded(cluster_env, bucket, messages_file, "127.0.0.1:9", check=False, timeout=120)
    assert run.returncode != 0
    (line,) = run.stderr.strip().splitlines()
    assert "cannot join the Ray cluster at '127.0.0.1:9'" in line and "ray start --head" in line
    bad = sharded(cluster_env, bucket, messages_file, "head-node", check=False)
    assert "--ray-address 'head-node' is not host:port" in bad.stderr
