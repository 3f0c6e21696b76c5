"""A local server speaking Slack's Web API and incoming-webhook wire formats, for slack_sdk.

Web API (``WebClient(base_url=f"{server.url}/api/")``): ``POST /api/chat.postMessage`` checks the
bearer token (``invalid_auth``) and the channel (``channel_not_found``, ``not_in_channel``) as
Slack does and answers ``{"ok": true, "channel": "C…", "ts": "…"}``; ``files.getUploadURLExternal``
hands out an upload URL on this server, ``POST /upload/<file id>`` takes the bytes, and
``files.completeUploadExternal`` shares the file. Webhook (``WebhookClient(url=server.webhook)``):
``POST /services/T/B/X`` answers ``ok``.

Tests script failures with :meth:`SlackServer.fail`: the next requests to a path get the
scripted (status, headers, body) answers first, e.g. ``(429, {"Retry-After": "1"}, …)``.
Every request is kept in :attr:`SlackServer.seen` with its parsed body and arrival time.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "xoxb-test-SECRET-token"
WEBHOOK_PATH = "/services/T000/B000/XSECRETX"


class SlackServer:
    """Slack on 127.0.0.1: channels by name → id, one valid bot token, one webhook."""

    def __init__(self) -> None:
        self.channels = {"#support": "C0SUPPORT", "#apple": "C0APPLE", "#general": "C0GENERAL"}
        self.members_of = set(self.channels.values()) - {"C0GENERAL"}  # the bot is not there
        self.script: list[tuple[str, int, dict[str, str], str]] = []
        self.seen: list[dict[str, Any]] = []
        self.uploads: dict[str, bytes] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, body = outer.answer(self.path, dict(self.headers), raw)
                data = body.encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.api = f"{self.url}/api/"
        self.webhook = f"{self.url}{WEBHOOK_PATH}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        """Forget what was seen and scripted."""
        with self.lock:
            self.script.clear()
            self.seen.clear()
            self.uploads.clear()

    def fail(self, path: str, *answers: tuple[int, dict[str, str], str]) -> None:
        """Answer the next requests to ``path`` (``/api/chat.postMessage``) with ``answers``."""
        with self.lock:
            self.script += [(path, *a) for a in answers]

    def posts(self, path: str = "/api/chat.postMessage") -> list[dict[str, Any]]:
        """The requests to ``path`` that succeeded, in order."""
        return [s for s in self.seen if s["path"] == path and s["status"] == 200]

    # ---- the wire format ----------------------------------------------------------------

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, str]:
        """Return (status, headers, body) for one request, and record it."""
        path = urlparse(path).path
        body = None if path.startswith("/upload/") else _parse(headers, raw)
        with self.lock:
            scripted = next((s for s in self.script if s[0] == path), None)
            if scripted is not None:
                self.script.remove(scripted)
                answer = scripted[1:]
            else:
                answer = self._serve(path, headers, body, raw)
            self.seen.append(
                {"path": path, "body": body, "headers": headers, "status": answer[0],
                 "at": time.monotonic()}
            )  # fmt: skip
        return answer

    def _serve(self, path: str, headers: dict, body: Any, raw: bytes) -> tuple[int, dict, str]:
        if path == WEBHOOK_PATH:
            return 200, {"Content-Type": "text/plain"}, "ok"
        if path.startswith("/services/"):
            return 404, {"Content-Type": "text/plain"}, "no_service"
        if path.startswith("/upload/"):
            self.uploads[path.rsplit("/", 1)[1]] = raw
            return 200, {"Content-Type": "text/plain"}, f"OK - {len(raw)}"
        if headers.get("Authorization", headers.get("authorization")) != f"Bearer {TOKEN}":
            return _json({"ok": False, "error": "invalid_auth"})
        method = path.removeprefix("/api/")
        if method == "chat.postMessage":
            given = body.get("channel", "")
            channel = self.channels.get(given, given if given in self.channels.values() else None)
            if channel is None:
                return _json({"ok": False, "error": "channel_not_found"})
            if channel not in self.members_of:
                return _json({"ok": False, "error": "not_in_channel"})
            ts = f"1509408000.{len(self.seen):06d}"
            return _json({"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts}})
        if method == "files.getUploadURLExternal":
            file_id = f"F{len(self.seen):04d}"
            return _json({"ok": True, "upload_url": f"{self.url}/upload/{file_id}",
                          "file_id": file_id})  # fmt: skip
        if method == "files.completeUploadExternal":
            files = json.loads(body.get("files", "[]"))
            return _json({"ok": True, "files": [{"id": f["id"]} for f in files]})
        return _json({"ok": False, "error": "unknown_method"})


def _json(doc: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    return 200, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(doc)


def _parse(headers: dict[str, str], raw: bytes) -> Any:
    kind = headers.get("Content-Type", headers.get("content-type", ""))
    if "json" in kind:
        return json.loads(raw or b"{}")
    if "x-www-form-urlencoded" in kind:
        return {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    return raw.decode(errors="replace")
