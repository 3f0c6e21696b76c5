"""API sources: the loop that turns pages of an HTTP API into sorted batches of conversations.

An API source says what differs — how to build its :class:`~analytics_framework.http.
HttpService`, what identifies its endpoint, and :meth:`ApiSource.fetch`, which yields
:class:`ApiPage` objects (canonical message rows, quarantined records, extra tables such as
``stage_changes``) for every conversation changed since the cursor. The base owns the rest:

1. pages are written to temporary Parquet files as they arrive (memory holds a page, not the
   input), while :attr:`Source.cursor` tracks the newest replication-key value seen;
2. the rows are sorted by (conversation id, time, role order, message id) with polars'
   streaming engine, duplicates of a message (a record seen twice while paging) dropped;
3. the sorted file is cut into batches of whole conversations; each batch carries the extra
   tables' rows of its conversations.

Because batches come sorted by conversation id, a resumed load skips every conversation up to
the last one it committed (``after_key``) whatever changed on the server since. Pages are
fetched by :func:`fetch_parallel` with ``--io-workers`` threads where the API allows it, in an
order that does not depend on which thread finished first.
"""

from __future__ import annotations

import tempfile
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import polars as pl

from analytics_framework.http import HttpService
from analytics_framework.model import MESSAGE_SCHEMA
from analytics_framework.settings import Settings
from analytics_framework.sources.base import (
    REJECTED_SCHEMA,
    InputIdentity,
    Source,
    SourceBatch,
)
from analytics_framework.sources.batching import conversation_chunks
from analytics_framework.sources.spill import ROLE_RANK

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class ApiPage:
    """What one page (or group of pages) of an API gave.

    Attributes:
        messages: canonical message rows (plus conversation-level extras such as
            ``csat_rating``, ``assigned_agent_id``, ``stage``).
        rejected: records that could not be used: ``record`` (where: table, page, offset),
            ``reason``, ``raw`` (JSON).
        extra: other canonical tables by name (``stage_changes``), keyed by conversation_id.
        cursor: the newest replication-key value on the page, or None.
    """

    messages: pl.DataFrame
    rejected: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=REJECTED_SCHEMA))
    extra: dict[str, pl.DataFrame] = field(default_factory=dict)
    cursor: datetime | None = None


def fetch_parallel(
    fn: Callable[[T], R], items: Iterable[T], workers: int, window: int | None = None
) -> Iterator[R]:
    """Yield ``fn(item)`` for each item in order, ``workers`` calls at a time.

    At most ``window`` (default ``2 * workers``) calls are in flight or waiting to be yielded,
    so memory stays bounded however many pages there are. An error is raised when its item's
    turn comes.
    """
    window = window or max(1, 2 * workers)
    if workers <= 1:
        for item in items:
            yield fn(item)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="io") as pool:
        pending = []
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()


class ApiSource(Source):
    """Base class of sources that read a paginated HTTP API.

    Class attributes:
        replication_key: the server field that tells what changed (for docs and messages).
        title: the service's name, for ``doctor`` (``NocoDB``).

    Args:
        path: not used by API sources (None).
        settings: the run's settings (``io_workers``, ``rps``, ``http_timeout_s`` and the
            source's own).
        options: source-specific options; ``io_workers`` overrides the setting.
        client: an ``httpx.Client`` to send through (tests hand one in); None makes one.
    """

    ordered: ClassVar[bool] = False
    replication_key: ClassVar[str] = "updated_at"
    title: ClassVar[str] = "API"

    @classmethod
    def configured(cls, settings: Settings) -> bool:
        """Whether the first of ``settings_needed`` (the server's URL) is set."""
        if not cls.settings_needed:
            return False
        return bool(getattr(settings, cls.settings_needed[0].lower(), None))

    def __init__(
        self,
        path: str | None,
        settings: Settings,
        options: dict[str, object] | None = None,
        *,
        client: Any = None,
    ) -> None:
        super().__init__(path, settings, options)
        workers = self.options.get("io_workers") or settings.io_workers
        self.io_workers = max(1, int(workers))  # type: ignore[arg-type]
        self.service = self.make_service(client)

    # ---- what a source says ------------------------------------------------------------------

    @abstractmethod
    def make_service(self, client: Any) -> HttpService:
        """Return the service to call (base URL, credentials, limiter, fixes for errors)."""

    @abstractmethod
    def endpoint(self) -> str:
        """Return what is read, for planning and the cursor: server, tables, filters."""

    @abstractmethod
    def fetch(self, since: datetime | None) -> Iterator[ApiPage]:
        """Yield pages covering every message of every conversation changed after ``since``.

        ``since`` None means everything. A conversation must come whole: all its messages, even
        those that did not change, because its metrics depend on all of them.
        """

    # ---- the loop ----------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """The endpoint read."""
        return self.endpoint()

    def identity(self) -> InputIdentity:
        """Return the endpoint (no secret in it); the cursor lives in the state."""
        return InputIdentity("api", endpoint=self.endpoint())

    def batches(
        self, batch_size: int, since: datetime | None = None, after_key: str | None = None
    ) -> Iterator[SourceBatch]:
        """Fetch what changed since ``since`` and yield sorted batches of whole conversations.

        Quarantined records come first, in batches with no messages; then conversations in id
        order, skipping those at or before ``after_key``.

        Raises:
            ServiceError / TransientError: the server could not be read (after retries).
        """
        self.cursor = None
        with tempfile.TemporaryDirectory(prefix="analytics-api-") as tmp:
            folder = Path(tmp)
            rejected, extras = self._spill(folder, since)
            seq = 0
            if rejected.height:
                yield SourceBatch(seq, self.empty(), rejected, self.origin)
                seq += 1
            parts = sorted(folder.glob("m-*.parquet"))
            if not parts:
                return
            sorted_path = folder / "sorted.parquet"
            rows = pl.scan_parquet(parts)
            if after_key is not None:
                rows = rows.filter(pl.col("conversation_id") > after_key)
            rows.with_columns(_rank=ROLE_RANK).sort(
                "conversation_id", "sent_at", "_rank", "message_id"
            ).unique("message_id", keep="last", maintain_order=True).drop("_rank").sink_parquet(
                sorted_path
            )
            for frame in conversation_chunks([sorted_path], batch_size):
                ids = frame["conversation_id"].unique()
                extra = {
                    name: pl.scan_parquet(files)
                    .filter(pl.col("conversation_id").is_in(ids.implode()))
                    .unique(maintain_order=True)
                    .collect()
                    for name, files in extras.items()
                }
                yield SourceBatch(seq, frame, origin=self.origin, extra=extra)
                seq += 1

    def _spill(
        self, folder: Path, since: datetime | None
    ) -> tuple[pl.DataFrame, dict[str, list[Path]]]:
        """Write every page's rows to ``folder``; return the quarantined rows and extra files."""
        rejected: list[pl.DataFrame] = []
        extras: dict[str, list[Path]] = {}
        for n, page in enumerate(self.fetch(since)):
            if page.cursor is not None and (self.cursor is None or page.cursor > self.cursor):
                self.cursor = page.cursor
            if page.messages.height:
                page.messages.write_parquet(folder / f"m-{n:07d}.parquet")
            if page.rejected.height:
                rejected.append(page.rejected)
            for name, frame in page.extra.items():
                if frame.height:
                    path = folder / f"x-{name}-{n:07d}.parquet"
                    frame.write_parquet(path)
                    extras.setdefault(name, []).append(path)
        bad = pl.concat(rejected) if rejected else pl.DataFrame(schema=REJECTED_SCHEMA)
        return bad, extras

    @abstractmethod
    def has_changes(self, cursor: datetime) -> bool:
        """Return whether anything changed strictly after ``cursor``, with one cheap request.

        An incremental run asks this first, and with nothing new it does nothing at all.
        """

    def check(self) -> str:
        """Reach the endpoint with one cheap request (``doctor``)."""
        return self.probe()

    def probe(self) -> str:
        """Make one cheap request proving the server, the credentials and the tables; say what.

        Raises:
            ServiceAuthError / ServiceError / TransientError: with the fix.
        """
        raise NotImplementedError

    def empty(self) -> pl.DataFrame:
        """Return an empty canonical frame."""
        return pl.DataFrame(schema=MESSAGE_SCHEMA)
