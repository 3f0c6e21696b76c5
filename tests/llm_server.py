"""A local HTTP server speaking the Gemini ``generateContent`` and OpenAI chat-completions formats.

The official SDKs are pointed at it by base URL, so tests and the enrichment benchmark exercise
the real client code over real HTTP on 127.0.0.1. It labels deterministically from the
conversation text and can be scripted to misbehave, one behaviour per request, in order:

It also answers the other JSON tasks (cluster names, translations: by the request's first
line) and the embeddings endpoints (Gemini ``batchEmbedContents``, OpenAI ``/v1/embeddings``;
an unknown model is a 404), deterministically.

``ok``, ``missing`` (drop the last id), ``429`` / ``429:SECONDS`` (Retry-After or Gemini
RetryInfo), ``500``, ``slow:SECONDS`` (sleep, then ok), ``malformed`` (not JSON), ``truncated``
(finish_reason length / MAX_TOKENS), ``401``, ``400``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def label_for(cid: str, transcript: str) -> dict[str, Any]:
    """Return a deterministic label from the transcript's words.

    ``confidence`` is 0.9 when a topic word was seen (refund, charge, flight), else 0.6.
    """
    text = transcript.lower()
    topic = "billing" if "refund" in text or "charge" in text else "technical_issue"
    if "flight" in text:
        topic = "travel"
    sure = any(word in text for word in ("refund", "charge", "flight"))
    return {
        "id": cid,
        "topic": topic,
        "intent": "request_help",
        "sentiment": -0.5 if "angry" in text or "worst" in text else 0.5,
        "satisfaction": 2 if "worst" in text else 4,
        "resolved": "thank" in text,
        "objection": "price" if "expensive" in text else None,
        "objection_quote": next(
            (
                line.split(": ", 1)[-1]
                for line in transcript.splitlines()
                if line.lower().startswith("customer") and "expensive" in line.lower()
            ),
            None,
        ),
        "confidence": 0.9 if sure else 0.6,
    }


EMBED_MODELS = {"gemini-embedding-001", "text-embedding-3-small"}
"""The embeddings models the server knows; any other is answered 404 NOT_FOUND."""


def embedding_for(text: str, dims: int) -> list[float]:
    """Return a deterministic vector: the text's words hashed into ``dims`` buckets.

    Texts sharing words get close vectors, so clusters of customers stay apart as they would
    with a real model.
    """
    vec = [0.0] * dims
    for word in re.findall(r"[a-z]{3,}", text.lower()):
        h = int(hashlib.md5(word.encode()).hexdigest(), 16)
        vec[h % dims] += 1.0 if (h >> 64) % 2 else -1.0
    return vec


def name_for(cluster: dict[str, Any]) -> dict[str, Any]:
    """Return a name from the cluster's first example: ``Name: <its first three words>``."""
    words = re.findall(r"[A-Za-z<>]+", (cluster.get("examples") or [""])[0])[:3]
    return {
        "id": cluster["id"],
        "name": "Name: " + " ".join(words),
        "description": f"{len(cluster.get('examples') or [])} examples seen",
    }


def translation_for(conversation: dict[str, Any]) -> dict[str, Any]:
    """Return each message as ``[en] <text>`` (``[en]`` shows the reply went through here)."""
    return {
        "id": conversation["id"],
        "messages": [
            {"id": m["id"], "text_en": f"[en] {m['text']}"} for m in conversation["messages"]
        ],
    }


class FakeLLM:
    """The server; ``script`` is the queue of behaviours, ``requests`` what it received."""

    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.script: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL (Gemini); OpenAI's is ``url + '/v1'``."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def next_behaviour(self) -> str:
        with self._lock:
            return self.script.pop(0) if self.script else "ok"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - zero-cost calls: list / get models
                if self.path.startswith("/v1/models"):
                    self._send(200, {"object": "list", "data": [{"id": "gpt-4o-mini"}]})
                elif self.path.startswith("/v1beta/models/"):
                    name = self.path.split("/v1beta/")[1].split("?")[0]
                    self._send(200, {"name": name, "displayName": "fake"})
                else:
                    self._send(404, {"error": {"code": 404, "message": "not found"}})

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                if ":batchEmbedContents" in self.path or self.path.startswith("/v1/embeddings"):
                    self._embed(body)
                    return
                gemini = ":generateContent" in self.path
                if gemini:
                    prompt = body["contents"][0]["parts"][0]["text"]
                else:
                    prompt = body["messages"][-1]["content"]
                start = prompt.index("\n") + 1
                convs, _ = json.JSONDecoder().raw_decode(prompt[start:])
                behaviour = server.next_behaviour()
                with server._lock:
                    server.requests.append(
                        {
                            "path": self.path,
                            "ids": [c["id"] for c in convs],
                            "behaviour": behaviour,
                            "at": time.monotonic(),
                            "feedback": "could not be used" in prompt,
                            "input_tokens": len(prompt) // 4,  # as the reply's usage says
                        }
                    )
                if server.latency_s:
                    time.sleep(server.latency_s)
                kind, _, arg = behaviour.partition(":")
                if kind == "slow":
                    time.sleep(float(arg or 5))
                if kind in ("429", "500", "401", "400"):
                    self._error(int(kind), gemini, float(arg) if arg else None)
                    return
                intro = prompt[: start - 1]
                if intro.startswith("Name these clusters"):
                    key, items = "names", [name_for(c) for c in convs]
                elif intro.startswith("Translate these conversations"):
                    key, items = "translations", [translation_for(c) for c in convs]
                else:
                    key = "labels"
                    items = [label_for(c["id"], c["transcript"]) for c in convs]
                if kind == "missing":
                    items = items[:-1]
                text = json.dumps({key: items})
                if kind == "malformed":
                    text = text[: len(text) // 2] + " oops"
                truncated = kind == "truncated"
                if truncated:
                    text = text[: len(text) // 2]
                self._reply(text, truncated, gemini, len(prompt) // 4, len(text) // 4, body)

            def _embed(self, body: dict) -> None:
                gemini = "requests" in body
                if gemini:
                    model = self.path.split("/models/")[1].split(":")[0]
                    texts = [r["content"]["parts"][0]["text"] for r in body["requests"]]
                    dims = body["requests"][0].get("outputDimensionality") or 64
                else:
                    model, texts = body["model"], body["input"]
                    texts = [texts] if isinstance(texts, str) else texts
                    dims = body.get("dimensions") or 64
                behaviour = server.next_behaviour()
                with server._lock:
                    server.requests.append(
                        {
                            "path": self.path,
                            "texts": len(texts),
                            "behaviour": behaviour,
                            "model": model,
                            "at": time.monotonic(),
                            "feedback": False,
                        }
                    )
                kind, _, arg = behaviour.partition(":")
                if kind in ("429", "500", "401", "400"):
                    self._error(int(kind), gemini, float(arg) if arg else None)
                    return
                if model not in EMBED_MODELS:
                    self._send(
                        404,
                        {
                            "error": {
                                "code": 404,
                                "message": f"models/{model} is not found",
                                "status": "NOT_FOUND",
                            }
                        },
                    )
                    return
                vectors = [embedding_for(t, int(dims)) for t in texts]
                if gemini:
                    self._send(200, {"embeddings": [{"values": v} for v in vectors]})
                    return
                data = []
                for i, v in enumerate(vectors):
                    vec: Any = v
                    if body.get("encoding_format") == "base64":
                        vec = base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode()
                    data.append({"object": "embedding", "index": i, "embedding": vec})
                tokens = sum(len(t) // 4 + 1 for t in texts)
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "model": model,
                        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                    },
                )

            def _send(self, status: int, doc: dict, headers: dict | None = None) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def _error(self, code: int, gemini: bool, retry_after: float | None) -> None:
                status = {
                    429: "RESOURCE_EXHAUSTED",
                    500: "INTERNAL",
                    401: "UNAUTHENTICATED",
                    400: "INVALID_ARGUMENT",
                }[code]
                headers = {}
                if gemini:
                    details = []
                    if retry_after is not None:
                        details.append(
                            {
                                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                                "retryDelay": f"{retry_after:g}s",
                            }
                        )
                    doc = {
                        "error": {
                            "code": code,
                            "message": f"fake {status}",
                            "status": status,
                            "details": details,
                        }
                    }
                else:
                    if retry_after is not None:
                        headers["Retry-After"] = f"{retry_after:g}"
                    doc = {"error": {"message": f"fake {status}", "type": status.lower()}}
                self._send(code, doc, headers)

            def _reply(
                self, text: str, truncated: bool, gemini: bool, tin: int, tout: int, body: dict
            ) -> None:
                if gemini:
                    self._send(
                        200,
                        {
                            "candidates": [
                                {
                                    "content": {"parts": [{"text": text}], "role": "model"},
                                    "finishReason": "MAX_TOKENS" if truncated else "STOP",
                                    "index": 0,
                                }
                            ],
                            "usageMetadata": {
                                "promptTokenCount": tin,
                                "candidatesTokenCount": tout,
                                "totalTokenCount": tin + tout,
                            },
                            "modelVersion": "fake",
                        },
                    )
                    return
                self._send(
                    200,
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "length" if truncated else "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": tin,
                            "completion_tokens": tout,
                            "total_tokens": tin + tout,
                        },
                    },
                )

        return Handler


GEMINI_PATH = re.compile(r"/v1beta/models/[^:]+:generateContent")
