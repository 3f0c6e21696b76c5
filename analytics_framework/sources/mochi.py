"""Mochi, the DM-setting CRM (``--source mochi``): its conversations API, or an export file.

Mochi holds sales conversations between *setters* (our role ``agent``) and *leads* (our
``customer``), each lead moving through stages (new lead → qualified → call booked → won/lost).
The field mapping lives in :mod:`~analytics_framework.sources.mochi_mapping` (adapt another
deployment there); this module reads the objects.

**API** (``analytics collect --source mochi``): ``MOCHI_BASE_URL``, authenticated by the Django
session cookie ``sessionid=<MOCHI_SESSION_ID>``. ``GET /api/conversations/?updated_after=<ISO
8601>&page=N`` answers Django REST framework page-number pagination ``{count, next, previous,
results}``. Page 1 gives ``count`` and the page size, so pages 2..N are fetched by
``--io-workers`` threads (in page order, whichever thread finishes first); after page N, ``next``
is followed for as long as it is set (conversations added during the read). Only the ``page``
number is taken from ``next``: its host may be the server's internal one behind a proxy.

**Incremental** by ``updated_at``: the cursor is the newest ``updated_at`` read; a run with a
cursor first asks ``?updated_after=<cursor>&page_size=1`` whether ``count`` > 0 ("nothing to
do" when not), then reads ``?updated_after=<cursor − lookback>`` (strictly after, as the name
says). Every conversation object comes whole, so each changed conversation is read complete.
Page-number paging is not a snapshot: a conversation changed during the read moves in the
server's order. Newest first (Mochi's inbox order) it jumps to page 1, already read, so this
read misses it and the next one reads it (it is newer than the cursor); the pages after shift,
and a conversation seen twice is kept once (the first copy). Oldest first, its newer copy comes
later in the same read: the first copy is kept and the cursor is held below the newer copy's
``updated_at``, so the next run reads it again; but a conversation it pushed onto a page already
read is missed until ``--lookback`` or ``--full-refresh`` covers it. A page past the end (fewer
conversations matching than page 1 said) ends the read.

**Export file** (``analytics collect --source mochi export.json``): the same objects as a JSON
list, or ``{"conversations": [...]}`` (as posted to Mochi Analytics' analysis endpoint), streamed
with ijson, same mapping, no HTTP and no settings needed. The source is the same class: with a
path it is identified by the file's fingerprint (:func:`~analytics_framework.sources.
file_source.fingerprint_files`), so planning treats it as any file (an unchanged file is
skipped); without one, by its endpoint and cursor.

**Errors**, one line each: a missing ``MOCHI_BASE_URL`` / ``MOCHI_SESSION_ID`` (without a path)
is a :class:`~analytics_framework.errors.ConfigurationError`; 401/403 or a redirect to the login
page says the session expired and to copy a fresh ``sessionid`` cookie; a page that is not JSON,
or JSON without the DRF shape, names the URL and page. Malformed records are quarantined
(see the mapping), the rest loads.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import ijson

from analytics_framework.catalog import SOURCE_DESCRIPTIONS
from analytics_framework.errors import (
    ConfigurationError,
    InputError,
    InputNotFoundError,
    ServiceError,
)
from analytics_framework.http import HttpService, RateLimiter, RetryPolicy
from analytics_framework.settings import Settings
from analytics_framework.sources import mochi_mapping as mapping
from analytics_framework.sources.api_source import ApiPage, ApiSource, fetch_parallel
from analytics_framework.sources.base import InputIdentity, parser_error
from analytics_framework.sources.file_source import fingerprint_files

PATH = "/api/conversations/"
FILE_PAGE = 500
"""Conversations of an export file per page (the unit spilled to disk)."""


class MochiSource(ApiSource):
    """Conversations, messages and stage histories from Mochi's API or an export file."""

    name = mapping.NAME
    title = "Mochi"
    description = SOURCE_DESCRIPTIONS["mochi"]
    option_names = frozenset({"io_workers"})
    settings_needed = ("MOCHI_BASE_URL", "MOCHI_SESSION_ID")
    replication_key = mapping.UPDATED_AT

    def __init__(
        self,
        path: str | None,
        settings: Settings,
        options: dict[str, object] | None = None,
        *,
        client: Any = None,
    ) -> None:
        super().__init__(path, settings, options, client=client)
        self.files: list[Path] = []
        if path is not None:
            self.files = [_readable(path)]
            return
        s = self.settings
        missing = [
            name
            for name, value in zip(
                self.settings_needed, (s.mochi_base_url, s.mochi_session_id), strict=True
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(
                f"the mochi source needs {', '.join(missing)}",
                "set them in the environment or .env (see .env.example), or read an export: "
                "analytics collect --source mochi export.json",
            )

    def make_service(self, client: Any) -> HttpService:
        """Return the Mochi server, the session cookie, with the run's rate limit."""
        s = self.settings
        session = s.mochi_session_id.get_secret_value() if s.mochi_session_id else ""
        return HttpService(
            "Mochi",
            s.mochi_base_url or "",
            client=client,
            cookies={"sessionid": session} if session else None,
            timeout_s=s.http_timeout_s,
            limiter=RateLimiter.per_second(s.rps),
            policy=RetryPolicy(attempts=s.http_max_attempts, max_wait_s=300.0, initial_s=1.0),
            auth_fix="the Mochi session expired (or is not one): log in to Mochi in a browser and "
            "copy a fresh sessionid cookie into MOCHI_SESSION_ID",
            unreachable_fix="check MOCHI_BASE_URL and that Mochi is up",
        )

    def endpoint(self) -> str:
        """Return ``<MOCHI_BASE_URL>/api/conversations/`` (no secret in it)."""
        return self.service.url(PATH)

    @property
    def origin(self) -> str:
        """The export file, or the endpoint."""
        return str(self.files[0]) if self.files else self.endpoint()

    def identity(self) -> InputIdentity:
        """Return the file's fingerprint, or the endpoint (the cursor lives in the state)."""
        if self.files:
            return InputIdentity("files", files=fingerprint_files(self.files))
        return super().identity()

    def check(self) -> str:
        """Open the export file, or make one cheap request (``doctor``)."""
        if self.files:
            _readable(str(self.files[0]))
            return f"{self.files[0]} readable"
        return self.probe()

    def probe(self) -> str:
        """Ask for one conversation: the server answers, the session cookie is accepted."""
        doc = self._page(1, {"page_size": 1})
        return f"{self.endpoint()}: session accepted, {doc['count']:,} conversation(s)"

    # ---- reading -----------------------------------------------------------------------------

    def has_changes(self, cursor: datetime) -> bool:
        """Ask for conversations updated strictly after ``cursor`` (one row, page 1)."""
        return self._page(1, {"updated_after": _stamp(cursor), "page_size": 1})["count"] > 0

    def fetch(self, since: datetime | None) -> Iterator[ApiPage]:
        """Yield the conversations updated after ``since`` (all if None), or the file's."""
        reader = _Reader()
        if self.files:
            for start, items in self._file_items():
                places = [f"item {start + i}" for i in range(len(items))]
                yield reader.page(items, places, quarantine_copies=True)
            return
        params = {"updated_after": _stamp(since)} if since is not None else {}
        first = self._page(1, params)
        yield reader.page(first["results"], _places(1, first))
        last, n = first, 1
        if first["next"]:
            size = max(1, len(first["results"]))
            numbers = range(2, max(2, math.ceil(first["count"] / size)) + 1)
            pages = fetch_parallel(lambda k: self._page(k, params), numbers, self.io_workers)
            for n, doc in zip(numbers, pages, strict=True):
                yield reader.page(doc["results"], _places(n, doc))
                last = doc
        while last["next"]:  # conversations added while the pages were read
            n = _page_number(last["next"], n + 1)
            last = self._page(n, params)
            yield reader.page(last["results"], _places(n, last))
        if reader.held is not None and self.cursor is not None and self.cursor >= reader.held:
            # a second copy of a conversation was skipped: the next run must read it again
            self.cursor = reader.held - timedelta(microseconds=1)

    def _page(self, number: int, params: dict[str, Any]) -> dict[str, Any]:
        """GET page ``number``; a page past the end (HTTP 404) is an empty last page.

        Raises:
            ServiceError: the answer is not Django REST framework pagination.
        """
        try:
            doc = self.service.get_json(PATH, {**params, "page": number})
        except ServiceError as exc:
            # DRF answers 404 "Invalid page." past the end, when conversations stopped
            # matching during the read; HttpService names the status in its message only
            if number > 1 and "HTTP 404" in exc.message:
                return {"count": 0, "next": None, "results": []}
            raise
        if (
            not isinstance(doc, dict)
            or not isinstance(doc.get("results"), list)
            or not isinstance(doc.get("count"), int)
            or not (doc.get("next") is None or isinstance(doc.get("next"), str))
        ):
            shape = (
                f"keys {', '.join(sorted(doc))[:60]}"
                if isinstance(doc, dict)
                else type(doc).__name__
            )
            raise ServiceError(
                f"Mochi at {self.endpoint()} answered page {number} without Django REST "
                f"framework pagination {{count, next, previous, results}} (it sent {shape})",
                f"check MOCHI_BASE_URL: it should be the Mochi server that serves {PATH}",
            )
        return doc

    def _file_items(self) -> Iterator[tuple[int, list[Any]]]:
        """Yield (index of the first, objects): the file's conversations, :data:`FILE_PAGE` a time.

        Raises:
            InputError: the file is not JSON, or neither a list nor ``{"conversations": [...]}``.
        """
        path = self.files[0]
        fix = 'check that it is a JSON list of Mochi conversations, or {"conversations": [...]}'
        try:
            with path.open("rb") as fh:
                head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
                if head not in (b"[", b"{"):
                    raise InputError(
                        f"cannot read {path} as mochi input: not a JSON list or object", fix
                    )
                fh.seek(0)
                chunk: list[Any] = []
                start = 0
                prefix = "item" if head == b"[" else "conversations.item"
                for item in ijson.items(fh, prefix, use_float=True):
                    chunk.append(item)
                    if len(chunk) == FILE_PAGE:
                        yield start, chunk
                        start, chunk = start + len(chunk), []
                if chunk:
                    yield start, chunk
        except ijson.JSONError as exc:
            raise InputError(
                f"cannot read {path} as mochi input: {parser_error(exc)}", fix
            ) from None
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}", "check the file") from None


class _Reader:
    """Maps the pages of one read; the first copy of a conversation read wins.

    Page-number paging is not a snapshot: a conversation changed during the read may come twice.
    A later copy is skipped (an export file's is quarantined); when it is newer than the one
    kept, ``held`` keeps its ``updated_at`` (the oldest such), and the cursor must stay below it
    so that the next run reads that conversation again.
    """

    def __init__(self) -> None:
        self.kept: dict[str, datetime | None] = {}  # conversation id -> updated_at of its copy
        self.held: datetime | None = None

    def page(self, items: list[Any], places: list[str], quarantine_copies: bool = False) -> ApiPage:
        """Map one page; its cursor is the newest ``updated_at`` among the copies kept."""
        rows = mapping.Rows()
        cursor: datetime | None = None
        for conv, where in zip(items, places, strict=True):
            cid = conv.get("id") if isinstance(conv, dict) else None
            stamp = mapping.updated_at(conv)
            if cid is not None and str(cid) in self.kept:
                if quarantine_copies:
                    rows.reject(where, f"conversation {cid} came before (first kept)", conv)
                    continue
                before = self.kept[str(cid)]
                newer = stamp is not None and (before is None or stamp > before)
                if newer and (self.held is None or stamp < self.held):
                    self.held = stamp
                continue
            if mapping.flatten(conv, where, rows) and cid is not None:
                self.kept[str(cid)] = stamp
            if stamp is not None and (cursor is None or stamp > cursor):
                cursor = stamp
        messages, stages, rejected = mapping.frames(rows)
        return ApiPage(messages, rejected, extra={"stage_changes": stages}, cursor=cursor)


def _places(number: int, doc: dict[str, Any]) -> list[str]:
    return [f"page {number} item {i}" for i in range(len(doc["results"]))]


def _page_number(url: str, default: int) -> int:
    """Return the ``page`` number of a DRF ``next`` link (``default`` if it has none)."""
    try:
        return int(parse_qs(urlsplit(url).query).get("page", [default])[0])
    except ValueError:
        return default


def _stamp(moment: datetime) -> str:
    """Return ``moment`` as ISO 8601 in UTC with microseconds: ``2026-01-01T00:00:00.000000Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _readable(path: str) -> Path:
    """Return ``path`` as a readable file.

    Raises:
        InputNotFoundError: it does not exist or cannot be read.
    """
    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError(
            f"input file not found: {path}",
            "check the path, or omit it to read the Mochi API (MOCHI_BASE_URL)",
        )
    try:
        with p.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise InputNotFoundError(
            f"cannot read {path}: {exc.strerror}", "check the file's permissions"
        ) from None
    return p
