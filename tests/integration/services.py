"""Real servers for integration tests: moto (S3) and SecantusDB (MongoDB wire protocol).

Both live in their own virtual environment outside the project (``~/.cache/analytics-test-
services/venv``, or ``$ANALYTICS_TEST_SERVICES``): SecantusDB is GPL-2.0 and must never be
imported into the project, and neither belongs in its dependencies. :func:`ensure_installed`
creates the environment on first use (about 10 s with uv); ``.ci/run`` calls it before the
tests. Servers bind to 127.0.0.1 on a free port and are stopped by the PID we started.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HOME = Path(
    os.environ.get("ANALYTICS_TEST_SERVICES", Path.home() / ".cache" / "analytics-test-services")
)
VENV = HOME / "venv"
PACKAGES = ["moto[s3]==5.2.5", "flask", "flask-cors", "secantusdb==0.7.0b3"]


def _bin(name: str) -> Path:
    return VENV / ("Scripts" if os.name == "nt" else "bin") / name


def ensure_installed() -> None:
    """Create the services' virtual environment if it is missing or incomplete."""
    if _bin("moto_server").exists() and _bin("secantusd-py").exists():
        return
    HOME.mkdir(parents=True, exist_ok=True)
    uv = shutil.which("uv") or f"{sys.executable} -m uv"
    subprocess.run(f"{uv} venv -q --allow-existing -p 3.11 {VENV}", shell=True, check=True)
    env = {**os.environ, "VIRTUAL_ENV": str(VENV)}
    quoted = " ".join(f"'{p}'" for p in PACKAGES)
    subprocess.run(f"{uv} pip install -q {quoted}", shell=True, check=True, env=env)


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout} s")


class Server:
    """A started server process; :meth:`stop` ends it by its PID."""

    def __init__(self, proc: subprocess.Popen, port: int) -> None:
        self.proc = proc
        self.port = port

    def stop(self) -> None:
        """Terminate the process (kill after 5 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_moto(port: int | None = None) -> Server:
    """Start ``moto_server`` on 127.0.0.1; its S3 endpoint is ``http://127.0.0.1:PORT``."""
    ensure_installed()
    port = port or free_port()
    proc = subprocess.Popen(
        [str(_bin("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_port(port, proc, "moto_server")
    return Server(proc, port)


def reset_moto(port: int) -> None:
    """Clear every bucket and object of a running moto server."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).read()


def start_mongo(storage: Path | str = ":memory:", port: int | None = None) -> Server:
    """Start SecantusDB (MongoDB wire protocol) on 127.0.0.1."""
    ensure_installed()
    port = port or free_port()
    proc = subprocess.Popen(
        [
            str(_bin("secantusd-py")),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            str(storage),
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_port(port, proc, "secantusd-py")
    return Server(proc, port)


if __name__ == "__main__":  # .ci/run: install before the tests
    ensure_installed()
    print(f"test services ready in {VENV}")
