"""``enrich --executor ray``: day partitions labeled on two nodes under one shared rate limit.

The fake LLM (tests/llm_server.py, Gemini's format over HTTP on 127.0.0.1) counts and times every
request the workers of both nodes send.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.llm_server import FakeLLM
from tests.ray.test_sharded_collect import ANALYTICS, sharded

RPM = 240  # one request every 0.25 s for the whole cluster
JITTER = 1.0  # seconds a request may reach the server after its booked slot
DAYS = ["--start-date", "2024-01-01", "--end-date", "2024-01-05"]


@pytest.fixture
def llm():
    with FakeLLM() as srv:
        yield srv


def enrich(env, bucket, address, *extra):
    cmd = [
        ANALYTICS,
        "enrich",
        "--lake",
        f"s3://{bucket}/lake",
        "--no-mongodb",
        *DAYS,
        "--executor",
        "ray",
        "--ray-address",
        address,
        "--workers",
        "4",
        *extra,
    ]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def figure(output: str, row: str) -> int:
    return int(re.search(rf"{row}\s+│?\s*([\d,]+)", output).group(1).replace(",", ""))


@pytest.fixture
def llm_env(cluster_env, llm):
    return {
        **cluster_env,
        "ANALYTICS_LLM_PROVIDER": "gemini",
        "GEMINI_API_KEY": "test-key",
        "ANALYTICS_GEMINI_BASE_URL": llm.url,
        "ANALYTICS_LLM_RPM": str(RPM),
        "ANALYTICS_LLM_BATCH_SIZE": "10",
        "COLUMNS": "200",
    }


def test_two_nodes_label_under_one_rate_limit_and_add_up_their_tokens(
    llm_env, ray_address, bucket, messages_file, llm
):
    sharded(llm_env, bucket, messages_file, ray_address, "--shard-days", "2")
    run = enrich(llm_env, bucket, ray_address)
    labeled = re.findall(r"day (\d{4}-\d\d-\d\d) labeled", run.stderr)
    assert sorted(labeled) == ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]
    times = sorted(r["at"] for r in llm.requests)
    assert len(times) >= 8, run.stdout + run.stderr
    # slots are booked 60 / RPM = 0.25 s apart for the whole cluster; a request reaches the server
    # after its slot by the client's own latency, up to JITTER on a loaded 2-core machine, so a
    # 2 s window holds at most (2 + JITTER) / 0.25 + 1 requests and the run spans at least its
    # slots less JITTER (without the shared limit, 4 workers would send 16 a second)
    interval = 60 / RPM
    per_two_seconds = max(sum(t <= u < t + 2.0 for u in times) for t in times)
    assert per_two_seconds <= int((2.0 + JITTER) / interval) + 1, times
    assert times[-1] - times[0] >= (len(times) - 1) * interval - JITTER, times
    out = run.stdout
    assert figure(out, "calls") == len(llm.requests)
    assert figure(out, "input tokens") == sum(r["input_tokens"] for r in llm.requests)
    conversations = figure(out, "labeled")
    assert conversations == sum(len(r["ids"]) for r in llm.requests)
    # the cache is in the lake: with the labels gone, every label comes from it, no call
    from analytics_framework.storage.s3 import open_lake

    lake = open_lake(f"s3://{bucket}/lake", llm_env["AWS_ENDPOINT_URL"])
    lake.delete(lake.path("labels"))
    before = len(llm.requests)
    again = enrich(llm_env, bucket, ray_address)
    assert len(llm.requests) == before
    assert figure(again.stdout, "cache hits") == conversations


def test_a_429_on_one_worker_pauses_every_worker(llm_env, ray_address, bucket, messages_file, llm):
    sharded(llm_env, bucket, messages_file, ray_address, "--shard-days", "2")
    llm.script = ["ok", "ok", "429:3"]
    enrich(llm_env, bucket, ray_address)
    limited = next(r for r in llm.requests if r["behaviour"].startswith("429"))
    after = [r["at"] - limited["at"] for r in llm.requests if r["at"] > limited["at"]]
    # requests already on their way may land just after it (1 s of grace on a loaded machine);
    # then nobody sends until the 3 s are over
    assert after and not [t for t in after if 1.0 < t < 2.9], after
