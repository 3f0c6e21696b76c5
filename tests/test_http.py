"""The shared HTTP layer against a real local server: status code → behaviour, retries, limits."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from analytics_framework.errors import (
    RateLimitedError,
    ServiceAuthError,
    ServiceError,
    TransientError,
)
from analytics_framework.http import HttpService, RateLimiter, RetryPolicy, retry_after_s


class Scripted:
    """A server answering each request with the next scripted (status, headers, body)."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], str]] = []
        self.seen: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                outer.seen.append(
                    {"path": self.path, "headers": dict(self.headers), "at": time.monotonic()}
                )
                status, headers, body = (
                    outer.script.pop(0) if outer.script else (200, {}, '{"ok": true}')
                )
                if status == 0:  # a slow answer
                    time.sleep(float(body))
                    status, body = 200, '{"ok": true}'
                data = body.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except BrokenPipeError:  # the client gave up waiting (the timeout test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[Scripted]:
    s = Scripted()
    yield s
    s.close()


def service(url: str, **kw: Any) -> HttpService:
    policy = RetryPolicy(attempts=4, max_wait_s=30, initial_s=0.05, max_backoff_s=0.2, jitter_s=0)
    return HttpService(
        "Demo",
        url,
        headers={"xc-token": "tok-SECRET"},
        policy=kw.pop("policy", policy),
        auth_fix="check DEMO_TOKEN",
        timeout_s=kw.pop("timeout_s", 5.0),
        **kw,
    )


@pytest.mark.parametrize(
    ("status", "headers", "body", "error", "needle"),
    [
        (401, {}, '{"msg": "bad token"}', ServiceAuthError, "DEMO_TOKEN"),
        (403, {}, "{}", ServiceAuthError, "refused the credentials"),
        (302, {"Location": "/accounts/login/?next=/api/"}, "", ServiceAuthError, "HTTP 302"),
        (302, {"Location": "/elsewhere"}, "", ServiceError, "redirected to /elsewhere"),
        (404, {}, '{"msg": "no such table"}', ServiceError, "HTTP 404"),
        (400, {}, "x" * 5000, ServiceError, "HTTP 400"),
        (200, {}, "<html>" + "login page " * 500, ServiceError, "not JSON"),
    ],
)
def test_answers_that_retrying_cannot_fix_are_one_line_errors(
    server, status, headers, body, error, needle
):
    server.script[:] = [(status, headers, body)]
    before = len(server.seen)
    with pytest.raises(error) as info:
        service(server.url).get_json("/api/things", {"where": "(a,eq,b)"})
    line = info.value.one_line()
    assert needle in line and f"{server.url}/api/things" in line
    assert "tok-SECRET" not in line and "(a,eq,b)" not in line and len(line) < 300
    assert len(server.seen) == before + 1  # never retried


def test_a_burst_of_500s_and_a_429_are_waited_out_with_retry_after_as_a_floor(server):
    server.script[:] = [
        (500, {}, "{}"),
        (503, {}, "{}"),
        (429, {"Retry-After": "1"}, "{}"),
        (200, {}, '{"rows": [1, 2]}'),
    ]
    before = len(server.seen)
    svc = service(server.url)
    assert svc.get_json("/api/rows") == {"rows": [1, 2]}
    seen = server.seen[before:]
    assert len(seen) == 4 and svc.retries == 3
    assert seen[3]["at"] - seen[2]["at"] >= 1.0  # the server's delay is respected
    assert seen[0]["headers"]["xc-token"] == "tok-SECRET"  # credentials go in headers


def test_an_outage_is_reported_with_the_url_after_the_retries(server):
    server.script[:] = [(502, {}, "{}")] * 4
    with pytest.raises(TransientError) as info:
        service(server.url).get_json("/api/rows")
    assert "HTTP 502" in info.value.one_line() and "try again later" in info.value.one_line()


def test_unreachable_server_and_timeout_name_the_url_and_the_fix(server):
    with socket_closed() as url:
        policy = RetryPolicy(attempts=2, initial_s=0.01, max_backoff_s=0.01, jitter_s=0)
        with pytest.raises(TransientError) as info:
            service(url, policy=policy, unreachable_fix="check DEMO_URL").get_json("/x")
        assert f"cannot reach Demo at {url}/x" in info.value.one_line()
        assert "check DEMO_URL" in info.value.one_line()
    server.script[:] = [(0, {}, "1.5")] * 2
    policy = RetryPolicy(attempts=2, initial_s=0.01, max_backoff_s=0.01, jitter_s=0)
    with pytest.raises(TransientError) as info:
        service(server.url, policy=policy, timeout_s=0.3).get_json("/slow")
    assert "did not answer within 0.3 s" in info.value.one_line()


class socket_closed:
    """A URL on which nothing listens."""

    def __enter__(self) -> str:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: Any) -> None:
        pass


def test_one_limiter_spaces_the_requests_of_every_thread(server):
    svc = service(server.url, limiter=RateLimiter.per_second(20))
    t0 = time.monotonic()
    threads = [threading.Thread(target=svc.get_json, args=("/t",)) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - t0 >= 0.45  # 10 requests at 20/s: 9 gaps of 50 ms


def test_a_client_handed_in_is_used_as_it_is():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"hello": "world"})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    svc = HttpService("Demo", "http://demo.invalid/api", client=client, cookies={"sessionid": "s"})
    assert svc.get_json("v1/x", {"page": 2}) == {"hello": "world"}
    assert str(seen[0].url) == "http://demo.invalid/api/v1/x?page=2"
    assert seen[0].headers["cookie"] == "sessionid=s"


def test_retry_after_reads_seconds_milliseconds_and_dates():
    assert retry_after_s({"retry-after": "7"}) == 7.0
    assert retry_after_s({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_s({}) is None
    assert isinstance(RateLimitedError("x", 3.0), TransientError)
    assert json.dumps(retry_after_s(None)) == "null"
