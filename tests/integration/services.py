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


class FaultyProxy:
    """A reverse proxy in front of an S3 server that answers 500 when told to.

    ``fail_next = N`` fails the next N requests; ``fail_from = N`` fails every request from the
    N-th on (an outage) until ``heal()``. Everything else is forwarded byte for byte.
    """

    def __init__(self, upstream_port: int) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.upstream_port = upstream_port
        self.fail_next = 0
        self.fail_from: int | None = None
        self.requests = 0
        self.failed = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    raw = b""
                    while True:
                        size_line = self.rfile.readline()
                        raw += size_line
                        size = int(size_line.split(b";")[0].strip(), 16)
                        if size == 0:  # then optional trailers and a blank line
                            while True:
                                line = self.rfile.readline()
                                raw += line
                                if line in (b"\r\n", b"\n", b""):
                                    return raw
                        raw += self.rfile.read(size + 2)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                with proxy._lock:
                    proxy.requests += 1
                    fail = proxy.fail_next > 0 or (
                        proxy.fail_from is not None and proxy.requests >= proxy.fail_from
                    )
                    if proxy.fail_next > 0:
                        proxy.fail_next -= 1
                    if fail:
                        proxy.failed += 1
                if fail:
                    data = (
                        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError'
                        b"</Code><Message>injected fault</Message></Error>"
                    )
                    self.send_response(500)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items()}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(k, v)
                length = resp.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            def _safe(self) -> None:
                try:
                    self._handle()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client hung up (it retries on its own)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _safe  # noqa: N815

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def heal(self) -> None:
        """Stop failing."""
        with self._lock:
            self.fail_next, self.fail_from = 0, None

    def stop(self) -> None:
        """Shut the proxy down."""
        self.httpd.shutdown()
        self.httpd.server_close()


# -- NocoDB: a real server from npm (tests/integration/nocodb_service.py) --------------------
# Imported lazily so that this module keeps working as a plain script.


def ensure_nocodb_installed(verbose: bool = True) -> Path:
    """Install NocoDB (npm, cached in ``$ANALYTICS_TEST_SERVICES/nocodb``); return its folder."""
    from tests.integration.nocodb_service import ensure_nocodb_installed as ensure

    return ensure(verbose)


def start_nocodb(tmpdir: Path | str, port: int | None = None, **kwargs):
    """Start NocoDB on 127.0.0.1; see :func:`tests.integration.nocodb_service.start_nocodb`."""
    from tests.integration.nocodb_service import start_nocodb as start

    return start(tmpdir, port, **kwargs)
