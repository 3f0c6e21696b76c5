"""Run ``tests/ray`` (a real two-node Ray cluster) inside a private network namespace.

Ray binds some of its services to every interface and talks to the machine's own address
(../shared/TEST-SERVICES.md), so the cluster, moto and the drivers run in ``unshare -n`` with
only loopback up: no connection can leave the machine. The inner session is the same pytest on
``tests/ray`` with ``ANALYTICS_RAY_NETNS=1``; its report is shown when it fails.

Needs Ray (``uv sync --extra ray``) and permission to create a network namespace (root, as in
CI). Without them the test is skipped, unless ``ANALYTICS_REQUIRE_RAY_TESTS=1`` (set by
``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tests

ROOT = Path(tests.__file__).resolve().parent.parent  # the repository


def _unavailable() -> str | None:
    if importlib.util.find_spec("ray") is None:
        return "Ray is not installed (uv sync --extra ray)"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip is missing"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        return "cannot create a network namespace here (unshare -n needs root)"
    return None


def test_the_ray_suite_passes_inside_a_private_network_namespace():
    why = _unavailable()
    if why:
        if os.environ.get("ANALYTICS_REQUIRE_RAY_TESTS") == "1":
            pytest.fail(f"the Ray tests cannot run: {why}")
        pytest.skip(why)
    inner = (
        f"ip link set lo up && exec {sys.executable} -m pytest tests/ray -q -p no:cacheprovider "
        "-o addopts='' -x"
    )
    env = {**os.environ, "ANALYTICS_RAY_NETNS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    run = subprocess.run(
        ["unshare", "-n", "sh", "-c", inner],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-4000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-2000:]
