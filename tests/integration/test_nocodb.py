"""``analytics collect --source nocodb`` against a real NocoDB, run as a user runs it.

One NocoDB server (npm ``nocodb``, :mod:`tests.integration.nocodb_service`) serves the session;
each test that changes data gets a fresh base. Bases are seeded over the REST API with the 5,000
messages of the bundled TWCS sample, as collected by the ``twcs`` source into a file lake (ids
without their ``twcs:`` prefix), so every NocoDB lake can be compared with that file lake. A small
fault-injecting reverse proxy (:class:`FaultProxy`) sits between the CLI and NocoDB where a test
needs 429s, 500s, HTML pages, or a count of the requests a run made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework import state as st
from analytics_framework.faults import ENV_VAR, EXIT_CODE
from analytics_framework.storage.lake import Lake
from analytics_framework.storage.state_store import default_state_path
from tests.integration.nocodb_service import NocoDB, nocodb_server
from tests.integration.services import free_port

MESSAGE_COLUMNS = {
    "message_id": "SingleLineText",
    "conversation_id": "SingleLineText",
    "sent_at": "DateTime",
    "role": "SingleLineText",
    "sender_id": "SingleLineText",
    "text": "LongText",
}
CONVERSATION_COLUMNS = {
    "conversation_id": "SingleLineText",
    "app_id": "SingleLineText",
    "customer_id": "SingleLineText",
    "status": "SingleLineText",
    "csat_rating": "Number",
}
CONVERSATIONS, MESSAGES = 1312, 5000  # the bundled TWCS sample
BATCHES_OF_100 = 14
OWN_SETTINGS = ("ANALYTICS_", "NOCODB_", "MONGODB_", "GEMINI_", "GOOGLE_", "OPENAI_")
CLEAR = {k: None for k in os.environ if k.startswith(OWN_SETTINGS)}
"""Settings of the machine running the tests, unset for every command (a fresh user)."""
runner = CliRunner()

nocodb = pytest.fixture(scope="session")(nocodb_server)


# ---- running the CLI ---------------------------------------------------------------------------


def cli(cwd: Path, *args: str, env: dict | None = None):
    """Run ``analytics ARGS`` in ``cwd`` (in-process, CliRunner) with only ``env`` set."""
    extra = ["--no-enrich", "--no-mongodb"] if args[0] == "collect" else []
    here = Path.cwd()
    os.chdir(cwd)
    try:
        return runner.invoke(app, [*args, *extra], env={**CLEAR, **(env or {})})
    finally:
        os.chdir(here)


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def one_error_line(result, code: int, *needles: str) -> str:
    """The single stderr line of a command that exited ``code``, holding every needle."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def report(cwd: Path, lake: Path, *args: str) -> str:
    """``report --period monthly --format csv`` of ``lake``: the text, byte for byte."""
    return ok(
        cli(cwd, "report", "--period", "monthly", "--format", "csv", "--lake", str(lake), *args)
    )


def tables(lake: Path) -> dict[str, pl.DataFrame]:
    """The lake's conversations and messages, sorted (as tests/test_crash.py compares them)."""
    lk = Lake(str(lake))
    return {
        "conversations": lk.read_table("conversations").sort("conversation_id"),
        "messages": lk.read_table("messages").sort("message_id"),
    }


def assert_same_lake(lake: Path, reference: dict[str, pl.DataFrame]) -> None:
    got = tables(lake)
    for name, ref in reference.items():
        assert got[name].height == ref.height, name
        assert got[name].equals(ref), f"{name} differs from a clean run's"
    assert not list((lake / "_staging").glob("*/*/*.parquet")), "staging left behind"


def state_of(cwd: Path, lake: Path) -> dict:
    return json.loads(default_state_path(str(cwd / "state"), "nocodb", str(lake)).read_text())


def last_run(cwd: Path, lake: Path) -> dict:
    return state_of(cwd, lake)["runs"][-1]


# ---- the data: the TWCS sample, as canonical messages ------------------------------------------


@dataclass
class Twcs:
    """The bundled TWCS sample collected into a file lake, and the same rows for NocoDB."""

    cwd: Path
    lake: Path
    messages: list[dict]
    conversations: list[dict]


def _bare(column: str) -> pl.Expr:
    return pl.col(column).str.strip_prefix("twcs:")


@pytest.fixture(scope="session")
def twcs(tmp_path_factory) -> Twcs:
    cwd = tmp_path_factory.mktemp("twcs")
    ok(cli(cwd, "collect", "--source", "twcs"))
    t = tables(cwd / "lake")
    assert (t["conversations"].height, t["messages"].height) == (CONVERSATIONS, MESSAGES)
    messages = (
        t["messages"]
        .sort("conversation_id", "sent_at", "message_id")
        .select(
            message_id=_bare("message_id"),
            conversation_id=_bare("conversation_id"),
            sent_at=pl.col("sent_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),  # explicit UTC
            role="role",
            sender_id="sender_id",
            text="text",
        )
    )
    conversations = t["conversations"].select(
        conversation_id=_bare("conversation_id"),
        app_id="org_id",
        customer_id="customer_id",
        status="status",
        csat_rating="csat_rating",
    )
    return Twcs(cwd, cwd / "lake", messages.to_dicts(), conversations.to_dicts())


@dataclass
class Base:
    """A NocoDB base with a messages and a conversations table (their ids), and row Ids."""

    title: str
    id: str
    messages: str
    conversations: str
    message_ids: dict[str, int] = field(default_factory=dict)  # message_id -> NocoDB Id


_bases = iter(range(1, 10_000))


def create_base(
    nc: NocoDB,
    messages: dict[str, str] = MESSAGE_COLUMNS,
    conversations: dict[str, str] = CONVERSATION_COLUMNS,
) -> Base:
    title = f"support{next(_bases)}"
    base = nc.create_base(title)
    m = nc.create_table(base, "messages", messages)
    c = nc.create_table(base, "conversations", conversations)
    return Base(title, base, m, c)


def seed(nc: NocoDB, data: Twcs) -> Base:
    """A fresh base holding the TWCS sample's 5,000 messages and 1,312 conversations."""
    base = create_base(nc)
    ids = nc.insert(base.messages, data.messages)
    base.message_ids = {m["message_id"]: i for m, i in zip(data.messages, ids, strict=True)}
    nc.insert(base.conversations, data.conversations)
    return base


def settings(url: str, token: str, base: Base, **more: str) -> dict[str, str]:
    return {
        "NOCODB_BASE_URL": url,
        "NOCODB_API_TOKEN": token,
        "NOCODB_PROJECT_ID": base.title,
        **more,
    }


@pytest.fixture(scope="module")
def shared(nocodb: NocoDB, twcs: Twcs) -> Base:
    """One seeded base for the tests that only read."""
    return seed(nocodb, twcs)


@pytest.fixture(scope="module")
def clean(nocodb: NocoDB, shared: Base, tmp_path_factory) -> dict:
    """A clean, uninterrupted full collect of the shared base (its lake's tables, its output)."""
    cwd = tmp_path_factory.mktemp("clean")
    env = settings(nocodb.url, nocodb.token, shared)
    out = ok(cli(cwd, "collect", "--source", "nocodb", "--io-workers", "4", env=env))
    return {"cwd": cwd, "lake": cwd / "lake", "tables": tables(cwd / "lake"), "output": out}


# ---- a reverse proxy that injects faults -------------------------------------------------------


@dataclass
class Seen:
    """One request the proxy answered: when, what, and the status it gave."""

    t: float
    method: str
    path: str
    query: dict[str, str]
    status: int


@dataclass
class Fault:
    status: int
    times: int
    match: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"msg":"injected fault"}'
    content_type: str = "application/json"


class FaultProxy:
    """A reverse proxy in front of NocoDB that answers injected faults and logs every request.

    :meth:`inject` queues a fault: the next ``times`` requests whose path contains ``match`` get
    ``status`` (with ``headers``: ``Retry-After``) and ``body`` instead of NocoDB's answer. Faults
    apply in the order queued. Everything else is forwarded as it is.
    """

    def __init__(self, upstream_port: int) -> None:
        import http.client

        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                url = urllib.parse.urlsplit(self.path)
                with proxy._lock:
                    fault = next((f for f in proxy.faults if f.match in url.path), None)
                    if fault is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            proxy.faults.remove(fault)
                    seen = Seen(
                        time.monotonic(),
                        self.command,
                        url.path,
                        dict(urllib.parse.parse_qsl(url.query)),
                        fault.status if fault else 0,
                    )
                    proxy.seen.append(seen)
                if fault is not None:
                    headers = [("Content-Type", fault.content_type), *fault.headers.items()]
                    self._answer(fault.status, headers, fault.body)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = f"127.0.0.1:{upstream_port}"
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                seen.status = resp.status
                self._answer(resp.status, resp.getheaders(), data)
                conn.close()

            def _safe(self) -> None:
                try:
                    self._handle()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PATCH = do_DELETE = _safe  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def inject(self, status: int, times: int, match: str = "", **kwargs) -> None:
        """Answer the next ``times`` requests to a path containing ``match`` with ``status``."""
        with self._lock:
            self.faults.append(Fault(status, times, match, **kwargs))

    def records_requests(self, since: int = 0) -> list[Seen]:
        return [s for s in self.seen[since:] if s.path.endswith("/records")]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def proxy(nocodb: NocoDB) -> Iterator[FaultProxy]:
    p = FaultProxy(nocodb.port)
    yield p
    p.stop()


def sleep_past_second(moment: float) -> None:
    """Sleep until the wall clock is in a later whole second than ``moment`` (NocoDB's stamps)."""
    while int(time.time()) <= int(moment):
        time.sleep(0.05)


# ---- 1. a full collect equals the file lake ----------------------------------------------------


def test_full_collect_gives_the_file_lakes_report(twcs: Twcs, clean: dict, tmp_path: Path):
    assert "conversations written" in clean["output"]
    got, ref = clean["tables"], tables(twcs.lake)
    assert got["conversations"].height == ref["conversations"].height == CONVERSATIONS
    assert got["messages"].height == ref["messages"].height == MESSAGES
    assert set(got["messages"]["source"]) == {"nocodb"}
    assert got["messages"]["message_id"].str.starts_with("nocodb:").all()
    nocodb_report = report(tmp_path, clean["lake"])
    assert nocodb_report.count("\n") > 5  # one row a month, and the header
    assert nocodb_report == report(tmp_path, twcs.lake)


# ---- 2. incremental: exactly what changed, then nothing to do ----------------------------------


def test_incremental_reads_exactly_the_touched_conversations(
    nocodb: NocoDB, twcs: Twcs, proxy: FaultProxy, tmp_path: Path
):
    base = seed(nocodb, twcs)
    seeded_at = time.time()
    env = settings(proxy.url, nocodb.token, base)
    lake = tmp_path / "lake"
    ok(cli(tmp_path, "collect", "--source", "nocodb", "--lookback", "0s", env=env))
    assert last_run(tmp_path, lake)["conversations_written"] == CONVERSATIONS

    by_conv: dict[str, list[dict]] = {}
    for m in twcs.messages:
        by_conv.setdefault(m["conversation_id"], []).append(m)
    grown, edited = sorted(by_conv)[:10], sorted(by_conv)[10:15]
    new = [f"90000{i}" for i in range(5)]
    added = [  # 30 messages in 10 existing conversations, after their last one
        {
            "message_id": f"new-{cid}-{k}",
            "conversation_id": cid,
            "sent_at": (
                datetime.fromisoformat(by_conv[cid][-1]["sent_at"]) + timedelta(minutes=k + 1)
            ).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "role": "agent" if k % 2 == 0 else "customer",
            "sender_id": "agent-x" if k % 2 == 0 else by_conv[cid][0]["sender_id"],
            "text": f"follow-up {k} in {cid}",
        }
        for cid in grown
        for k in range(3)
    ] + [  # 20 messages in 5 new conversations
        {
            "message_id": f"new-{cid}-{k}",
            "conversation_id": cid,
            "sent_at": f"2017-12-01T10:0{k}:00Z",
            "role": "customer" if k % 2 == 0 else "agent",
            "sender_id": f"cust-{cid}" if k % 2 == 0 else "agent-y",
            "text": f"message {k} of new conversation {cid}",
        }
        for cid in new
        for k in range(4)
    ]
    assert len(added) == 50
    sleep_past_second(seeded_at)  # every change lands in a later second than the cursor
    nocodb.insert(base.messages, added)
    nocodb.insert(
        base.conversations,
        [{"conversation_id": c, "app_id": "AppleSupport", "customer_id": f"cust-{c}"} for c in new],
    )
    first_of = {cid: by_conv[cid][0]["message_id"] for cid in edited}
    nocodb.update(
        base.messages,
        [{"Id": base.message_ids[m], "text": f"edited text of {m}"} for m in first_of.values()],
    )
    sleep_past_second(time.time())

    mark = len(proxy.seen)
    again = ok(cli(tmp_path, "collect", "--source", "nocodb", "--lookback", "0s", env=env))
    assert "nothing to do" not in again
    run = last_run(tmp_path, lake)
    assert run["conversations_written"] == 20  # 10 grown + 5 new + 5 edited, nothing else
    touched = sum(len(by_conv[c]) for c in grown + edited) + 50
    assert run["rows_read"] == run["messages_written"] == touched
    for seen in proxy.records_requests(mark):  # no unfiltered read of a table
        assert "UpdatedAt" in seen.query["where"] or "conversation_id" in seen.query["where"]
    t = tables(lake)
    assert t["conversations"].height == CONVERSATIONS + 5
    assert t["messages"].height == MESSAGES + 50
    texts = dict(zip(t["messages"]["message_id"], t["messages"]["text"], strict=True))
    for m in first_of.values():
        assert texts[f"nocodb:{m}"] == f"edited text of {m}"
    counts = dict(
        zip(t["conversations"]["conversation_id"], t["conversations"]["message_count"], strict=True)
    )
    assert all(counts[f"nocodb:{cid}"] == len(by_conv[cid]) + 3 for cid in grown)
    assert all(counts[f"nocodb:{cid}"] == 4 for cid in new)

    mark = len(proxy.seen)
    idle = ok(cli(tmp_path, "collect", "--source", "nocodb", "--lookback", "0s", env=env))
    assert "nothing to do" in idle
    records = proxy.records_requests(mark)
    assert len(records) == 2  # one cheap request per table ...
    assert all(s.query["limit"] == "1" and s.query["fields"] == "Id" for s in records)
    assert len(proxy.seen) - mark <= 6  # ... besides the meta requests that find the tables
    assert last_run(tmp_path, lake)["outcome"] == "skipped"


# ---- 3. 429 and 500 bursts are waited out ------------------------------------------------------


def test_429_and_500_bursts_are_waited_out(
    nocodb: NocoDB, shared: Base, clean: dict, proxy: FaultProxy, tmp_path: Path
):
    proxy.inject(429, 4, "/api/v2/meta/bases", headers={"Retry-After": "1"})
    proxy.inject(500, 2, "/records")
    env = settings(proxy.url, nocodb.token, shared)
    ok(cli(tmp_path, "collect", "--source", "nocodb", "--io-workers", "4", env=env))
    assert_same_lake(tmp_path / "lake", clean["tables"])

    def waits(status: int) -> list[float]:
        """Seconds from each answer ``status`` to the same request sent again."""
        out = []
        for i, f in enumerate(proxy.seen):
            if f.status == status:
                again = next(
                    s for s in proxy.seen[i + 1 :] if (s.path, s.query) == (f.path, f.query)
                )
                out.append(again.t - f.t)
        return out

    # Retry-After is the floor of each wait (plus up to 1 s of jitter); the exponential backoff
    # alone would have waited 1-2, 2-3, 4-5, 8-9 s
    assert [s.status for s in proxy.seen[:5]] == [429, 429, 429, 429, 200]
    assert len(waits(429)) == 4 and all(0.99 <= w < 2.5 for w in waits(429)), waits(429)
    assert len(waits(500)) == 2 and all(w >= 0.99 for w in waits(500)), waits(500)  # backoff


# ---- 4. errors a user makes, and records that cannot be used ------------------------------------


def test_wrong_token_is_one_line_naming_the_setting(nocodb: NocoDB, shared: Base, tmp_path: Path):
    secret = "wrong-token-8f3e1c"
    result = cli(
        tmp_path, "collect", "--source", "nocodb", env=settings(nocodb.url, secret, shared)
    )
    one_error_line(result, 1, "NOCODB_API_TOKEN", "401")
    for token in (secret, nocodb.token):
        assert token not in result.stdout + result.stderr


def test_missing_table_names_it_and_the_setting(nocodb: NocoDB, shared: Base, tmp_path: Path):
    env = settings(nocodb.url, nocodb.token, shared, NOCODB_MESSAGES_TABLE="chats")
    line = one_error_line(
        cli(tmp_path, "collect", "--source", "nocodb", env=env),
        2,
        "'chats'",
        "NOCODB_MESSAGES_TABLE",
    )
    assert "conversations, messages" in line  # the tables it has


def test_missing_column_names_it_and_column_map(nocodb: NocoDB, twcs: Twcs, tmp_path: Path):
    columns = {("body" if k == "text" else k): v for k, v in MESSAGE_COLUMNS.items()}
    base = create_base(nocodb, messages=columns)
    some = [c["conversation_id"] for c in twcs.conversations[:3]]
    rows = [m for m in twcs.messages if m["conversation_id"] in some]
    nocodb.insert(
        base.messages, [{("body" if k == "text" else k): v for k, v in m.items()} for m in rows]
    )
    nocodb.insert(base.conversations, twcs.conversations[:3])
    env = settings(nocodb.url, nocodb.token, base)
    one_error_line(
        cli(tmp_path, "collect", "--source", "nocodb", env=env), 2, "no column text", "--column-map"
    )
    # the fix it names works
    ok(cli(tmp_path, "collect", "--source", "nocodb", "--column-map", "text=body", env=env))
    got = tables(tmp_path / "lake")["messages"]
    assert got.height == len(rows)
    assert sorted(got["text"]) == sorted(m["text"] for m in rows)


def test_unreachable_server_names_the_url_and_the_setting(shared: Base, tmp_path: Path):
    url = f"http://127.0.0.1:{free_port()}"
    env = settings(url, "any-token", shared, ANALYTICS_HTTP_MAX_ATTEMPTS="2")
    one_error_line(
        cli(tmp_path, "collect", "--source", "nocodb", env=env), 1, url, "NOCODB_BASE_URL"
    )


def test_a_page_that_is_not_json_is_one_line(
    nocodb: NocoDB, shared: Base, proxy: FaultProxy, tmp_path: Path
):
    page = b"<!DOCTYPE html><html><body><h1>Welcome to NocoDB</h1></body></html>"
    proxy.inject(200, 1000, "/records", body=page, content_type="text/html")
    env = settings(proxy.url, nocodb.token, shared)
    one_error_line(
        cli(tmp_path, "collect", "--source", "nocodb", env=env), 1, "not JSON", proxy.url
    )
    assert not (tmp_path / "lake" / "conversations").exists()


def test_malformed_records_are_quarantined_and_the_rest_loaded(
    nocodb: NocoDB, twcs: Twcs, tmp_path: Path
):
    base = seed(nocodb, twcs)
    cid = twcs.conversations[0]["conversation_id"]
    good = {"conversation_id": cid, "sent_at": "2017-11-01T10:00:00Z", "role": "customer"}
    bad = [
        {**good, "message_id": "bad-1", "conversation_id": "", "text": "whose is this?"},
        {**good, "message_id": "bad-2", "sent_at": None, "text": "when was this?"},
        {**good, "message_id": "bad-3", "role": "robot", "text": "who wrote this?"},
    ]
    assert nocodb.insert(base.messages, bad) == [MESSAGES + 1, MESSAGES + 2, MESSAGES + 3]
    env = settings(nocodb.url, nocodb.token, base)
    out = ok(cli(tmp_path, "collect", "--source", "nocodb", "--io-workers", "1", env=env))
    assert "3 malformed record(s) quarantined" in out
    run = last_run(tmp_path, tmp_path / "lake")
    assert run["quarantined"] == 3 and run["messages_written"] == MESSAGES
    t = tables(tmp_path / "lake")
    assert (t["conversations"].height, t["messages"].height) == (CONVERSATIONS, MESSAGES)
    files = sorted((tmp_path / "lake" / "_rejected").rglob("*.jsonl"))
    rejected = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert [(r["record"], r["reason"]) for r in rejected] == [
        ("messages page 6 offset 0 (Id 5001)", "conversation_id is missing"),
        ("messages page 6 offset 1 (Id 5002)", "sent_at is missing or not a time"),
        ("messages page 6 offset 2 (Id 5003)", "role is not one of customer, agent, bot, system"),
    ]
    assert json.loads(rejected[2]["raw"])["text"] == "who wrote this?"


# ---- 5. --app-id ---------------------------------------------------------------------------


def biggest_app(twcs: Twcs) -> tuple[str, int]:
    counts = pl.DataFrame(twcs.conversations)["app_id"].value_counts(sort=True)
    app_id, n = counts.row(0)
    assert 0 < n < CONVERSATIONS
    return app_id, n


def test_app_id_keeps_exactly_that_apps_conversations(
    nocodb: NocoDB, twcs: Twcs, shared: Base, tmp_path: Path
):
    app_id, n = biggest_app(twcs)
    env = settings(nocodb.url, nocodb.token, shared)
    ok(cli(tmp_path, "collect", "--source", "nocodb", "--app-id", app_id, env=env))
    got = tables(tmp_path / "lake")
    assert got["conversations"].height == n
    assert set(got["conversations"]["org_id"]) == set(got["messages"]["org_id"]) == {app_id}
    ref = tables(twcs.lake)["conversations"].filter(pl.col("org_id") == app_id)
    assert set(got["conversations"]["conversation_id"].str.strip_prefix("nocodb:")) == set(
        ref["conversation_id"].str.strip_prefix("twcs:")
    )
    assert report(tmp_path, tmp_path / "lake") == report(tmp_path, twcs.lake, "--org", app_id)


def test_incremental_app_id_reads_only_that_apps_changes(
    nocodb: NocoDB, twcs: Twcs, proxy: FaultProxy, tmp_path: Path
):
    app_id, _ = biggest_app(twcs)
    ours = [c for c in twcs.conversations if c["app_id"] == app_id][:10]
    others = [c for c in twcs.conversations if c["app_id"] != app_id][:10]
    wanted = {c["conversation_id"] for c in ours + others}
    rows = [m for m in twcs.messages if m["conversation_id"] in wanted]
    base = create_base(nocodb)
    ids = dict(
        zip((m["message_id"] for m in rows), nocodb.insert(base.messages, rows), strict=True)
    )
    conv_ids = nocodb.insert(base.conversations, ours + others)
    seeded_at = time.time()
    env = settings(proxy.url, nocodb.token, base)
    args = ["collect", "--source", "nocodb", "--app-id", app_id, "--lookback", "0s"]
    ok(cli(tmp_path, *args, env=env))
    assert last_run(tmp_path, tmp_path / "lake")["conversations_written"] == 10

    sleep_past_second(seeded_at)
    first = {m["conversation_id"]: m["message_id"] for m in reversed(rows)}
    edited = [first[c["conversation_id"]] for c in (ours[0], others[0])]
    nocodb.update(  # a message of one of ours and of one of theirs
        base.messages, [{"Id": ids[m], "text": f"edited {m}"} for m in edited]
    )
    nocodb.update(  # the conversation row of one of ours and of one of theirs
        base.conversations,
        [{"Id": conv_ids[1], "status": "closed"}, {"Id": conv_ids[11], "status": "closed"}],
    )
    sleep_past_second(time.time())
    ok(cli(tmp_path, *args, env=env))
    run = last_run(tmp_path, tmp_path / "lake")
    assert run["conversations_written"] == 2  # ours[0] (a message) and ours[1] (its row)
    conv = tables(tmp_path / "lake")["conversations"]
    assert conv.height == 10 and set(conv["org_id"]) == {app_id}
    closed = conv.filter(pl.col("status") == "closed")["conversation_id"].to_list()
    assert closed == [f"nocodb:{ours[1]['conversation_id']}"]
    texts = tables(tmp_path / "lake")["messages"]["text"].to_list()
    assert f"edited {edited[0]}" in texts and f"edited {edited[1]}" not in texts
    assert "nothing to do" in ok(cli(tmp_path, *args, env=env))


# ---- 6. doctor ---------------------------------------------------------------------------------


# needs the doctor's source check
def test_doctor_checks_nocodb_and_names_the_fix(nocodb: NocoDB, shared: Base, tmp_path: Path):
    wide = {"COLUMNS": "240"}
    good = cli(tmp_path, "doctor", env={**settings(nocodb.url, nocodb.token, shared), **wide})
    assert good.exit_code == 0, good.output
    row = next(line for line in good.stdout.splitlines() if line.strip().startswith("NocoDB"))
    assert " ok " in row and "token accepted" in row, row

    secret = "wrong-token-77aa"
    bad = cli(tmp_path, "doctor", env={**settings(nocodb.url, secret, shared), **wide})
    assert bad.exit_code == 1, bad.output
    lines = bad.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("NocoDB"))
    assert "FAIL" in lines[at] and "401" in lines[at], lines[at]
    assert "fix:" in lines[at + 1] and "NOCODB_API_TOKEN" in lines[at + 1], lines[at + 1]
    assert secret not in bad.output and nocodb.token not in bad.output


# ---- 7. killed mid-collect, then --resume ------------------------------------------------------


def test_killed_collect_resumes_to_the_same_lake(
    nocodb: NocoDB, shared: Base, clean: dict, tmp_path: Path
):
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
    env.update(settings(nocodb.url, nocodb.token, shared))
    argv = [sys.executable, "-m", "analytics_cli", "collect", "--source", "nocodb"]
    argv += ["--batch-size", "100", "--no-enrich", "--no-mongodb"]

    def run(*extra: str, fail_at: str | None = None) -> subprocess.CompletedProcess:
        more = {ENV_VAR: fail_at} if fail_at else {}
        return subprocess.run(
            [*argv, *extra],
            cwd=tmp_path,
            env={**env, **more},
            capture_output=True,
            text=True,
            timeout=300,
        )

    lake = tmp_path / "lake"
    crashed = run(fail_at="after_commit:2")
    assert crashed.returncode == EXIT_CODE, crashed.stderr
    before = state_of(tmp_path, lake)
    load_id = before["active"]["load_id"]
    assert st.last_committed_seq(before, load_id) == 1  # two batches committed, then killed
    resumed = run("--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "took over a stale lock" in resumed.stderr
    assert_same_lake(lake, clean["tables"])
    after = state_of(tmp_path, lake)
    assert "active" not in after and after["runs"][-1]["outcome"] == "succeeded"
    seqs = [e["seq"] for e in st.committed_batches(after, load_id)]
    assert seqs == list(range(BATCHES_OF_100)), "a batch was committed twice or skipped"
    assert after["runs"][-1]["batches"] == BATCHES_OF_100 - 2


# ---- 8. --io-workers ---------------------------------------------------------------------------


def test_io_workers_1_and_4_give_identical_lakes(
    nocodb: NocoDB, twcs: Twcs, shared: Base, clean: dict, tmp_path: Path
):
    env = settings(nocodb.url, nocodb.token, shared)
    ok(cli(tmp_path, "collect", "--source", "nocodb", "--io-workers", "1", env=env))
    assert_same_lake(tmp_path / "lake", clean["tables"])  # the clean run used 4
    # by conversation id (--app-id reads chunks of ids in parallel)
    app_id, _ = biggest_app(twcs)
    lakes = {}
    for workers in ("1", "4"):
        lake = tmp_path / f"lake-app-{workers}"
        args = ["--app-id", app_id, "--io-workers", workers, "--lake", str(lake)]
        ok(cli(tmp_path, "collect", "--source", "nocodb", *args, env=env))
        lakes[workers] = tables(lake)
    assert lakes["1"]["messages"].height > 0
    assert_same_lake(tmp_path / "lake-app-4", lakes["1"])
