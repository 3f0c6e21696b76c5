"""A local HTTP server speaking Mochi's conversations API, and generated Mochi data.

``GET /api/conversations/?updated_after=<ISO 8601>&page=N[&page_size=K]`` answers Django REST
framework page-number pagination ``{count, next, previous, results}``: ``next`` / ``previous``
are absolute URLs built from the request's Host, as DRF builds them; ``updated_after`` keeps
conversations updated strictly after it; results are newest first (``-updated_at``, then
``-id``; ``ordering`` can make them oldest first); a page past the end is DRF's 404
``{"detail": "Invalid page."}``. Requests need the cookie ``sessionid=<session>``: without it
the answer is ``auth_status`` (401), or with ``login_redirect`` a 302 to
``/accounts/login/?next=…`` as Django's login_required gives.

Faults are scripted, one behaviour per request: ``script`` (the next requests, whatever page)
and ``page_faults`` (the next requests for page N): ``429:SECONDS`` (Retry-After), ``500``,
``503``, ``html`` (a 200 web page, not JSON), ``notdrf`` (JSON without the DRF keys), ``401``,
``login``. ``before_page[N]`` is called once, just before page N is first served (to change
data in the middle of a read). ``requests`` logs every request.

:func:`generate` makes seeded, realistic data: several organisations with their setters, leads
(contacts) with Instagram handles, bot greetings, setters' replies minutes to hours later,
unassigned leads, and stage histories new lead → qualified → call booked → won / lost.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

SESSION = "sess-0123456789abcdef"
PATH = "/api/conversations/"
STAGES = ("new lead", "qualified", "call booked", "won", "lost")
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """Return ``moment`` as DRF renders a DateTimeField: ``2024-03-04T09:00:00.123456Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse(value: str) -> datetime:
    """Parse an ISO 8601 time (``Z`` or an offset) to an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class MochiServer:
    """The server, on 127.0.0.1 with a free port; use it as a context manager.

    Args:
        conversations: the conversation objects it serves (kept, and changed by :meth:`change`).
        session: the sessionid cookie it accepts.
        page_size: results per page (DRF's PAGE_SIZE).
        max_page_size: the most a ``page_size`` parameter may ask for (0: parameter ignored).
        auth_status: the status answered without the right cookie.
        login_redirect: answer a 302 to the login page instead.
        ordering: ``-updated_at`` (newest first, Mochi's inbox order) or ``updated_at``.
    """

    def __init__(
        self,
        conversations: list[dict[str, Any]],
        *,
        session: str = SESSION,
        page_size: int = 50,
        max_page_size: int = 100,
        auth_status: int = 401,
        login_redirect: bool = False,
        ordering: str = "-updated_at",
    ) -> None:
        assert ordering in ("-updated_at", "updated_at"), ordering
        self.ordering = ordering
        self.conversations = conversations
        self.session = session
        self.page_size = page_size
        self.max_page_size = max_page_size
        self.auth_status = auth_status
        self.login_redirect = login_redirect
        self.script: list[str] = []
        self.page_faults: dict[int, list[str]] = {}
        self.before_page: dict[int, Callable[[], None]] = {}
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.RLock()
        self.clock = max(
            (parse(c["updated_at"]) for c in conversations if c.get("updated_at")), default=T0
        ) + timedelta(days=1)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> MochiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # ---- data ----------------------------------------------------------------------------------

    def tick(self) -> datetime:
        """Advance the server's clock by a minute and a few microseconds; return it."""
        with self.lock:
            self.clock += timedelta(minutes=1, microseconds=137)
            return self.clock

    def change(self, ids: list[int], rng: random.Random | None = None) -> None:
        """Update conversations as a lead's reply and a setter's answer would.

        Each gets a contact message and (when assigned) a setter reply, moves one stage on
        where it can, and its ``updated_at`` becomes the server's clock.
        """
        rng = rng or random.Random(1)
        with self.lock:
            by_id = {c["id"]: c for c in self.conversations}
            for cid in ids:
                conv = by_id[cid]
                now = self.tick()
                next_id = max(m["id"] for c in self.conversations for m in c["messages"]) + 1
                conv["messages"].append(
                    {
                        "id": next_id,
                        "sender_type": "contact",
                        "text": "any update?",
                        "sent_at": iso(now),
                    }
                )
                if conv["setter"] is not None:
                    conv["messages"].append(
                        {
                            "id": next_id + 1,
                            "sender_type": "setter",
                            "text": "yes! here's the link to book",
                            "sent_at": iso(now + timedelta(seconds=rng.randint(30, 900))),
                        }
                    )
                    if conv["stage"] in STAGES[:2]:
                        conv["stage"] = STAGES[STAGES.index(conv["stage"]) + 1]
                        conv["stage_history"].append(
                            {
                                "stage": conv["stage"],
                                "changed_at": iso(now + timedelta(seconds=901)),
                                "changed_by": conv["setter"]["id"],
                            }
                        )
                conv["updated_at"] = iso(self.tick())

    def export(self, path: Path, wrapped: bool = False) -> Path:
        """Write the conversations as an export file: a list, or ``{"conversations": [...]}``."""
        with self.lock:
            doc: Any = {"conversations": self.conversations} if wrapped else self.conversations
            path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    def ordered(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Return ``rows`` in the server's order (ties by id, the same way)."""
        newest_first = self.ordering.startswith("-")
        return sorted(
            rows, key=lambda c: (parse(c["updated_at"]), c.get("id") or 0), reverse=newest_first
        )

    def requests_for(self, page: int) -> list[dict[str, Any]]:
        """Return the logged requests for page ``page``."""
        return [r for r in self.requests if r["page"] == page]

    # ---- serving -------------------------------------------------------------------------------

    def _fault(self, page: int) -> str | None:
        with self.lock:
            queue = self.page_faults.get(page)
            if queue:
                return queue.pop(0)
            return self.script.pop(0) if self.script else None

    def _answer(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], str]:
        split = urlsplit(handler.path)
        params = {k: v[-1] for k, v in parse_qs(split.query).items()}
        try:
            page = int(params.get("page", "1"))
        except ValueError:
            page = -1
        cookie = SimpleCookie(handler.headers.get("Cookie", ""))
        authorized = "sessionid" in cookie and cookie["sessionid"].value == self.session
        entry = {
            "path": split.path,
            "params": params,
            "page": page,
            "authorized": authorized,
            "at": time.monotonic(),
        }
        with self.lock:
            self.requests.append(entry)
        if split.path != PATH:
            return 404, {}, json.dumps({"detail": "Not found."})
        if not authorized:
            if self.login_redirect:
                return 302, {"Location": f"/accounts/login/?next={PATH}"}, ""
            return self.auth_status, {}, json.dumps({"detail": "Authentication credentials."})
        fault = self._fault(page)
        if fault is not None:
            if fault.startswith("429"):
                wait = fault.partition(":")[2] or "1"
                return 429, {"Retry-After": wait}, json.dumps({"detail": "Request was throttled."})
            if fault in ("500", "503"):
                return int(fault), {}, "<h1>Server Error (500)</h1>"
            if fault == "html":
                return 200, {"Content-Type": "text/html"}, "<html><body>Log in</body></html>"
            if fault == "notdrf":
                return 200, {}, json.dumps({"data": [], "total": 0})
            if fault == "401":
                return 401, {}, json.dumps({"detail": "Session expired."})
            if fault == "login":
                return 302, {"Location": f"/accounts/login/?next={PATH}"}, ""
            raise AssertionError(f"unknown fault {fault!r}")
        hook = self.before_page.pop(page, None)
        if hook is not None:
            hook()
        size = self.page_size
        if self.max_page_size and "page_size" in params:
            size = max(1, min(int(params["page_size"]), self.max_page_size))
        with self.lock:
            rows = self.conversations
            if "updated_after" in params:
                try:
                    after = parse(params["updated_after"])
                except ValueError:
                    return 400, {}, json.dumps({"updated_after": ["Enter a valid date/time."]})
                rows = [c for c in rows if parse(c["updated_at"]) > after]
            rows = self.ordered(rows)
            count = len(rows)
            pages = max(1, -(-count // size))
            if page < 1 or page > pages:
                return 404, {}, json.dumps({"detail": "Invalid page."})
            results = json.loads(json.dumps(rows[(page - 1) * size : page * size]))
        base = f"http://{handler.headers.get('Host', '127.0.0.1')}{PATH}"

        def link(n: int) -> str | None:
            if n < 1 or n > pages:
                return None
            query = {k: v for k, v in params.items() if k != "page"}
            if n > 1:
                query["page"] = str(n)
            return f"{base}?{urlencode(query)}" if query else base

        entry["count"] = count
        doc = {
            "count": count,
            "next": link(page + 1),
            "previous": link(page - 1),
            "results": results,
        }
        return 200, {"Content-Type": "application/json"}, json.dumps(doc)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                status, headers, body = server._answer(self)
                data = body.encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


# ---- generated data --------------------------------------------------------------------------

ORGS = (
    "Peak Fitness Coaching",
    "Nova Real Estate Academy",
    "Lumen Skin Studio",
    "Atlas Trading Mentors",
)
FIRST = (
    "Ava",
    "Liam",
    "Mia",
    "Noah",
    "Zoe",
    "Ethan",
    "Isla",
    "Lucas",
    "Chloe",
    "Mateo",
    "Nora",
    "Omar",
)
LAST = ("Garcia", "Smith", "Nguyen", "Okafor", "Rossi", "Kowalski", "Haddad", "Silva", "Kim")
OPENERS = (
    "hey! saw your reel about the program, how does it work?",
    "Hi, is the coaching still open for new people?",
    "how much is it?",
    "interested 👀",
    "I've been trying to lose weight for a year, can you help?",
    "hola, do you do calls in Spanish?",
)
CONTACT_LINES = (
    "ok that sounds good",
    "what's the price though",
    "I need to talk to my wife first",
    "can we do tomorrow instead?",
    "I'm not sure I have the time right now",
    "yes!! let's do it",
    "does it come with a guarantee?",
)
SETTER_LINES = (
    "Hey {name}! Thanks for reaching out 🙌 what made you message us today?",
    "Totally get it. What have you tried so far?",
    "Would a quick 15 min call this week help? I can send the link",
    "Here's the booking link, pick any slot that works for you",
    "No pressure at all, most of our clients felt the same at first",
    "Perfect, you're booked! You'll get a reminder an hour before",
)
BOT_LINES = (
    "Thanks for your message! A member of our team will reply shortly.",
    "Hi! 👋 Tap below to see our free training.",
)


def generate(n: int = 500, seed: int = 20240301) -> list[dict[str, Any]]:
    """Return ``n`` Mochi conversation objects (seeded, so every run makes the same ones).

    Over 4 organisations with 3 setters each; about 1 in 8 leads is unassigned (``setter``
    null, only contact and bot messages); most conversations open with a bot greeting; every
    conversation has at least one message, and its ``updated_at`` is after its last message
    and stage change, with microseconds so that none tie.
    """
    rng = random.Random(seed)
    orgs = [{"id": 10 + i, "name": name} for i, name in enumerate(ORGS)]
    setters = {
        org["id"]: [
            {
                "id": 100 + 3 * i + j,
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "email": f"setter{3 * i + j}@{org['name'].split()[0].lower()}.example",
            }
            for j in range(3)
        ]
        for i, org in enumerate(orgs)
    }
    ids = itertools.count(50_001)
    out = []
    for k in range(n):
        org = rng.choice(orgs)
        setter = None if rng.random() < 0.125 else rng.choice(setters[org["id"]])
        first, last = rng.choice(FIRST), rng.choice(LAST)
        contact = {
            "id": 9000 + k,
            "name": f"{first} {last}",
            "username": f"@{first.lower()}.{last.lower()}{rng.randint(1, 99)}",
        }
        at = T0 + timedelta(
            seconds=rng.randint(0, 29 * 86400), microseconds=rng.randint(0, 999_999)
        )
        created = at
        messages: list[dict[str, Any]] = []

        def say(kind: str, text: str, when: datetime, messages: list = messages) -> None:
            messages.append(
                {"id": next(ids), "sender_type": kind, "text": text, "sent_at": iso(when)}
            )

        say("contact", rng.choice(OPENERS), at)
        if rng.random() < 0.7:
            at += timedelta(seconds=rng.randint(1, 20))
            say("bot", rng.choice(BOT_LINES), at)
        stage_i = 0
        history = [{"stage": STAGES[0], "changed_at": iso(created), "changed_by": None}]
        if setter is not None:
            turns = rng.randint(1, 6)
            for t in range(turns):
                at += timedelta(seconds=rng.randint(45, 6 * 3600))
                say("setter", SETTER_LINES[t % len(SETTER_LINES)].format(name=first), at)
                if rng.random() < 0.15:  # a double text
                    at += timedelta(seconds=rng.randint(30, 600))
                    say("setter", "just following up 🙂", at)
                if rng.random() < 0.8:
                    at += timedelta(seconds=rng.randint(60, 12 * 3600))
                    say("contact", rng.choice(CONTACT_LINES), at)
                if stage_i < 2 and rng.random() < 0.45:
                    stage_i += 1
                    at += timedelta(seconds=rng.randint(5, 300))
                    history.append(
                        {
                            "stage": STAGES[stage_i],
                            "changed_at": iso(at),
                            "changed_by": setter["id"],
                        }
                    )
            if stage_i == 2 and rng.random() < 0.7:
                at += timedelta(days=rng.randint(1, 3))
                final = "won" if rng.random() < 0.45 else "lost"
                history.append({"stage": final, "changed_at": iso(at), "changed_by": setter["id"]})
            elif stage_i == 1 and rng.random() < 0.2:
                at += timedelta(hours=rng.randint(2, 48))
                history.append({"stage": "lost", "changed_at": iso(at), "changed_by": None})
        elif rng.random() < 0.5:
            at += timedelta(hours=rng.randint(1, 30))
            say("contact", "hello??", at)
        updated = at + timedelta(seconds=rng.randint(1, 600), microseconds=k)
        out.append(
            {
                "id": 7000 + k,
                "organization": org,
                "contact": contact,
                "setter": setter,
                "stage": history[-1]["stage"],
                "stage_history": history,
                "messages": messages,
                "created_at": iso(created),
                "updated_at": iso(updated),
            }
        )
    return out
