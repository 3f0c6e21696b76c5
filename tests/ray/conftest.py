"""A real two-node Ray cluster and a moto S3 server, inside a private network namespace.

These tests run only inside the namespace that ``tests/integration/test_ray_cluster.py`` creates
(``unshare -n``, loopback only; ``ANALYTICS_RAY_NETNS=1``): Ray binds some services to every
interface and talks to the machine's own address, so outside it the cluster could reach the
network. Both nodes (``ray start --head`` and a second ``ray start --address``) have one CPU each
and the moto endpoint and test credentials in their environment; the lock's stale age is 3 s so
that a retried shard takes over its dead attempt's lock quickly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

import tests
from tests.integration.services import free_port, start_moto

ROOT = Path(tests.__file__).resolve().parent.parent  # the repository
BIN = Path(sys.executable).parent
STALE_S = "3"

if os.environ.get("ANALYTICS_RAY_NETNS") != "1":  # collected from the outer test only
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def moto_port():
    srv = start_moto()
    yield srv.port
    srv.stop()


@pytest.fixture(scope="session")
def cluster_env(moto_port):
    """The environment of the cluster's nodes, the drivers and the CLI runs (this one's too)."""
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "ANALYTICS_LOCK_STALE_S": STALE_S,
        "RAY_USAGE_STATS_ENABLED": "0",
        "ANALYTICS_LLM_PROVIDER": "local",
    }
    os.environ.update(env)  # the tests' own S3 clients (this session runs only these tests)
    return {**os.environ}


@pytest.fixture(scope="session")
def ray_address(cluster_env, tmp_path_factory):
    """Start a head node and a second worker node on 127.0.0.1; return the head's address."""
    port = free_port()
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--disable-usage-stats"]
    temp = tmp_path_factory.mktemp("ray")
    log = open(temp / "start.log", "w")  # noqa: SIM115 - kept open for both starts
    ray = str(BIN / "ray")
    head = [ray, "start", "--head", "--port", str(port), "--include-dashboard=false"]
    subprocess.run(head + common, env=cluster_env, check=True, stdout=log, stderr=log)
    join = [ray, "start", "--address", f"127.0.0.1:{port}"]
    subprocess.run(join + common, env=cluster_env, check=True, stdout=log, stderr=log)
    yield f"127.0.0.1:{port}"
    subprocess.run([ray, "stop", "--force"], env=cluster_env, stdout=log, stderr=log)
    log.close()


@pytest.fixture
def bucket(moto_port, cluster_env):
    """A fresh bucket; returns its name."""
    name = f"lake-{uuid.uuid4().hex[:10]}"
    boto3.client(
        "s3",
        endpoint_url=cluster_env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def messages_file(tmp_path_factory) -> Path:
    """20,000 generated canonical messages over 28 days (scripts/generate_data.py, seeded), and
    two malformed lines (one not JSON, one without ``sent_at``) to be quarantined."""
    out = tmp_path_factory.mktemp("input") / "messages.jsonl"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "generate_data.py"),
            "--format",
            "jsonl",
            "--messages",
            "20000",
            "--days",
            "28",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    with out.open("a") as fh:
        fh.write('{"message_id": "bad-1", "conversation_id": "cbad", "role": "customer"\n')
        fh.write('{"message_id": "bad-2", "conversation_id": "cbad", "role": "customer"}\n')
    return out
