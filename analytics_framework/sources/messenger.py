"""Facebook/Messenger "Download your information" export (JSON format), as a .zip or a folder.

Layout: ``messages/inbox/<thread>/message_1.json``, ``message_2.json``, … — each file of a thread
holds the same ``participants`` and ``title`` and a slice of its ``messages``
(``sender_name``, ``timestamp_ms``, ``content``, ``photos``, ``share``, ``reactions``, …).

Mapping:

- conversation id ``messenger:<thread folder>``; message ids a stable hash
  (:func:`~analytics_framework.model.stable_message_id`); ``sent_at`` from ``timestamp_ms``
  (milliseconds since the epoch, UTC);
- the page is option ``page_name`` (``--page-name``), else the one participant common to every
  thread; its messages are ``agent``, everyone else's ``customer``; ``sender_id`` is the sender's
  name, ``org_id`` the page's;
- ``text`` is ``content`` ("" for a photo, sticker, call …); every other field of a message is
  kept in ``attributes`` (JSON), the thread's own fields (title, participants, thread type …) in
  the conversation's ``attributes``;
- Facebook writes text as the Latin-1 code points of its UTF-8 bytes (``Ã©`` for ``é``); every
  string is repaired (:func:`fix_mojibake`).

Threads are streamed one at a time (all of a thread's files together, so a batch holds whole
conversations); memory holds one batch of threads. A message without ``sender_name`` or
``timestamp_ms`` is quarantined as ``inbox/<thread>/message_N.json message I``; a file that is not
JSON stops the run with an error naming it.
"""

from __future__ import annotations

import codecs
import json
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import ijson
import polars as pl

from analytics_framework.catalog import SOURCE_DESCRIPTIONS
from analytics_framework.errors import ConfigurationError, InputError, InputNotFoundError
from analytics_framework.model import stable_message_id_expr
from analytics_framework.settings import Settings
from analytics_framework.sources.base import UNREADABLE, SourceBatch, excerpt, parser_error
from analytics_framework.sources.file_source import FileSource
from analytics_framework.sources.rows import first_reason

THREAD_FILE = re.compile(r"(?:^|/)inbox/([^/]+)/message_(\d+)\.(json|html)$")
MAX_MS = 253_402_300_800_000  # 10000-01-01: beyond it a datetime cannot hold the time
TEXT_FIELDS = ("sender_name", "timestamp_ms", "content")
RAW_SCHEMA = {
    "thread": pl.String(),
    "sender_name": pl.String(),
    "timestamp_ms": pl.String(),
    "content": pl.String(),
    "attributes": pl.String(),
    "_record": pl.String(),
    "_sent_us": pl.Int64(),
    "_thread_attributes": pl.String(),
    UNREADABLE: pl.String(),
}
EXPORT_FIX = (
    "pass the Facebook/Messenger 'Download your information' export in JSON format, "
    "as its .zip or its unzipped folder"
)


def fix_mojibake(text: str) -> str:
    """Return ``text`` with Facebook's mojibake undone: ``"CafÃ©"`` becomes ``"Café"``.

    The export writes each UTF-8 byte as the code point of the same value, so encoding to
    Latin-1 gives back the bytes. A string that does not round-trip (a character above U+00FF,
    or bytes that are not UTF-8) was not mangled and is returned unchanged.
    """
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def _fixed(value: Any) -> Any:
    """Return ``value`` (parsed JSON) with :func:`fix_mojibake` applied to every string in it."""
    if isinstance(value, str):
        return fix_mojibake(value)
    if isinstance(value, list):
        return [_fixed(v) for v in value]
    if isinstance(value, dict):
        return {fix_mojibake(k): _fixed(v) for k, v in value.items()}
    return value


def _millis(value: Any) -> int | None:
    """Return ``timestamp_ms`` as an integer, or None when it is not a plausible number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return int(value) if 0 <= value < MAX_MS else None


@dataclass(frozen=True)
class ThreadFile:
    """One ``message_N.json`` of a thread: a file of the folder, or a member of the zip."""

    thread: str
    record: str  # inbox/<thread>/message_N.json, the same in a folder and in a zip
    path: Path | None = None
    member: str | None = None


class MessengerSource(FileSource):
    """Page conversations from a Facebook/Messenger 'Download your information' export."""

    name = "messenger"
    description = SOURCE_DESCRIPTIONS["messenger"]
    option_names = frozenset({"page_name"})
    ordered = False  # threads come by folder name, not by start time

    def __init__(
        self, path: str | None, settings: Settings, options: dict[str, object] | None = None
    ) -> None:
        super().__init__(path, settings, options)
        self.page_name = self._page_name()

    # ---- input -------------------------------------------------------------------------------

    def resolve_files(self, path: str) -> list[Path]:
        """Find the threads of a .zip or a folder; return the files read (the zip, or the JSON).

        Raises:
            InputNotFoundError: the path does not exist.
            InputError: not a zip or a folder, a damaged zip, or no inbox thread files in it.
        """
        self.zip_path: Path | None = None
        self.threads: dict[str, list[ThreadFile]] = {}
        found = [
            (m, f, n)
            for f, n in self._entries(Path(path))
            if (m := THREAD_FILE.search(n.replace("\\", "/")))
        ]
        for m, f, n in sorted(found, key=lambda x: (x[0][1], int(x[0][2]))):
            if m[3] == "json":
                tf = ThreadFile(m[1], f"inbox/{m[1]}/message_{m[2]}.json", f)
                self.threads.setdefault(m[1], []).append(tf if f else replace(tf, member=n))
        if not self.threads:
            html = " (it is in HTML format: ask Facebook for the JSON format)" if found else ""
            raise InputError(
                f"{path} holds no messages/inbox/<thread>/message_N.json files{html}", EXPORT_FIX
            )
        if self.zip_path is not None:
            return [self.zip_path]
        return [tf.path for tfs in self.threads.values() for tf in tfs if tf.path is not None]

    def _entries(self, p: Path) -> list[tuple[Path | None, str]]:
        """Return (file, name from ``inbox/`` on) for a folder, (None, member) for a zip."""
        if p.is_dir():
            inboxes = [p] if p.name == "inbox" else [p / "inbox", p / "messages" / "inbox"]
            inboxes += p.glob("*/messages/inbox")  # your_facebook_activity/messages/inbox …
            return [(f, f.relative_to(i.parent).as_posix()) for i in inboxes for f in i.glob("*/*")]
        if p.is_file() and (zipfile.is_zipfile(p) or p.suffix.lower() == ".zip"):
            try:
                with zipfile.ZipFile(p) as zf:
                    names = zf.namelist()
            except (zipfile.BadZipFile, OSError) as exc:
                raise InputError(
                    f"{p} is not a readable zip file: {parser_error(exc)}",
                    "download the export again (the zip is damaged or incomplete)",
                ) from None
            self.zip_path = p
            return [(None, n) for n in names]
        if p.exists():
            raise InputError(f"{p} is neither a .zip file nor a folder", EXPORT_FIX)
        raise InputNotFoundError(f"input not found: {p}", "check the path")

    @property
    def origin(self) -> str:
        """The export's folder or zip, as given."""
        return str(self.path)

    @contextmanager
    def _opener(self) -> Iterator[Any]:
        """Yield a function opening a :class:`ThreadFile` for reading bytes."""
        if self.zip_path is None:
            yield lambda tf: tf.path.open("rb")
            return
        try:
            zf = zipfile.ZipFile(self.zip_path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise InputError(
                f"{self.zip_path} is not a readable zip file: {parser_error(exc)}",
                "download the export again",
            ) from None
        with zf:
            yield lambda tf: zf.open(tf.member)

    def _where(self, tf: ThreadFile) -> str:
        return f"{tf.record} in {self.zip_path}" if self.zip_path else str(tf.path)

    def _read(self, open_file: Any, tf: ThreadFile, participants_only: bool = False) -> Any:
        """Return a thread file parsed (or only its ``participants`` list, read from its head).

        Raises:
            InputError: the file is not JSON, or a zip member is damaged.
        """
        try:
            with open_file(tf) as fh:
                if participants_only:
                    if fh.peek(3).startswith(codecs.BOM_UTF8):
                        fh.read(3)
                    events = ijson.parse(fh)
                    if next(events, (None, None))[1] == "start_map":
                        found = next(ijson.items(events, "participants"), None)
                        return found if isinstance(found, list) else []
                    data = None
                else:
                    data = json.loads(fh.read())
                if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
                    raise InputError(
                        f"{self._where(tf)} is not a Messenger thread file (no messages list)",
                        EXPORT_FIX,
                    )
                return data
        except (ValueError, ijson.JSONError) as exc:
            raise InputError(
                f"{self._where(tf)} is not valid JSON: {parser_error(exc)}",
                "download the export again, or move that thread's folder out of the export",
            ) from None
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InputError(
                f"cannot read {self._where(tf)}: {parser_error(exc)}",
                "download the export again (the file is damaged)",
            ) from None

    def _page_name(self) -> str:
        """Return the page's name: the ``page_name`` option, else the one common participant.

        Raises:
            ConfigurationError: ``page_name`` is in no thread, or no single participant is in
                every thread.
        """
        given = self.options.get("page_name")
        counts: Counter[str] = Counter()
        with self._opener() as open_file:
            for files in self.threads.values():
                people = self._read(open_file, files[0], participants_only=True)
                names = [p.get("name") for p in people if isinstance(p, dict)]
                counts.update({fix_mojibake(n) for n in names if isinstance(n, str)})
        ranked = sorted(counts, key=lambda n: (-counts[n], n))  # ties by name: deterministic
        common = [n for n in ranked if counts[n] == len(self.threads)]
        if given is not None:
            if counts and given not in counts:
                raise ConfigurationError(
                    f"--page-name {excerpt(str(given))!r} is not a participant of any thread in "
                    f"{self.path}",
                    "pass the page's name as the export spells it (most frequent participants: "
                    + ", ".join(repr(excerpt(n, 30)) for n in ranked[:3])
                    + ")",
                )
            return str(given)
        if len(common) == 1:
            return common[0]
        which = ", ".join(excerpt(n, 30) for n in common[:3])
        n = len(self.threads)
        found = (
            f"its only thread has {len(common)} participants"
            if n == 1
            else f"{len(common) or 'no'} participants are in all of its {n} threads"
        ) + (f" ({which})" if which else "")
        raise ConfigurationError(
            f"cannot tell which participant is the page in {self.path}: {found}",
            "pass --page-name NAME (the page's name as the export spells it)",
        )

    # ---- rows --------------------------------------------------------------------------------

    def scan(self) -> pl.LazyFrame:
        """Not used: the export is streamed thread by thread in :meth:`batches`."""
        raise NotImplementedError

    def _thread_rows(self, open_file: Any, files: list[ThreadFile]) -> list[dict[str, Any]]:
        """Return the raw rows of one thread, from all its message_N.json files."""
        rows: list[dict[str, Any]] = []
        thread_attributes = None
        for tf in files:
            data = self._read(open_file, tf)
            if thread_attributes is None:
                extra = _fixed({k: v for k, v in data.items() if k != "messages"})
                thread_attributes = json.dumps(extra, ensure_ascii=False) if extra else None
            for i, msg in enumerate(data["messages"], start=1):
                row = {"thread": tf.thread, "_record": f"{tf.record} message {i}"}
                row["_thread_attributes"] = thread_attributes
                if not isinstance(msg, dict):
                    rows.append(row | {UNREADABLE: "not a JSON object", "content": json.dumps(msg)})
                    continue
                msg = _fixed(msg)
                sender, stamp, content = (msg.pop(k, None) for k in TEXT_FIELDS)
                if content is not None and not isinstance(content, str):
                    msg["content"], content = content, None
                row["sender_name"] = sender if isinstance(sender, str) and sender else None
                row["timestamp_ms"] = None if stamp is None else str(stamp)
                row["_sent_us"] = None if (ms := _millis(stamp)) is None else ms * 1000
                row["content"] = content
                row["attributes"] = json.dumps(msg, ensure_ascii=False) if msg else None
                rows.append(row)
        return rows

    def reject_reason(self) -> pl.Expr:
        """Missing ``sender_name``; missing or non-numeric ``timestamp_ms``."""
        return first_reason(
            (pl.col("sender_name").is_null(), "sender_name is missing"),
            (pl.col("_sent_us").is_null(), "timestamp_ms is missing or not milliseconds"),
        )

    def canonical(self) -> dict[str, pl.Expr]:
        """Canonical columns; the page's messages are ``agent``, everyone else's ``customer``."""
        return {
            "message_id": pl.lit(None, dtype=pl.String),  # filled in by split()
            "conversation_id": pl.lit(self.prefix) + pl.col("thread"),
            "source": pl.lit(self.name),
            "org_id": pl.lit(self.page_name, dtype=pl.String),
            "sent_at": pl.from_epoch("_sent_us", time_unit="us").dt.replace_time_zone("UTC"),
            "role": pl.when(pl.col("sender_name") == self.page_name)
            .then(pl.lit("agent"))
            .otherwise(pl.lit("customer")),
            "sender_id": pl.col("sender_name"),
            "text": pl.col("content").fill_null(""),
            "attributes": pl.col("attributes"),
            "conversation_attributes": pl.col("_thread_attributes"),
        }

    def split(self, raw: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
        """As the base, then give each message its stable hashed id."""
        good, bad = super().split(raw)
        return good.with_columns(message_id=stable_message_id_expr(self.prefix)), bad

    def empty(self) -> pl.DataFrame:
        """Empty canonical frame with the thread's attributes column."""
        return super().empty().with_columns(conversation_attributes=pl.lit(None, pl.String))

    def batches(
        self, batch_size: int, since: datetime | None = None, after_key: str | None = None
    ) -> Iterator[SourceBatch]:
        """Stream the export, ``batch_size`` threads at a time (``since``/``after_key`` unused).

        Only the threads with a file in ``self.files`` are read (an incremental run narrows it
        to the changed files), each one whole.

        Raises:
            InputError: a thread file is not JSON, or the zip is damaged.
        """
        wanted = {str(Path(f).resolve()) for f in self.files}
        threads = [
            files
            for files in self.threads.values()
            if self.zip_path is not None or any(str(f.path.resolve()) in wanted for f in files)
        ]
        seq = 0
        with self._opener() as open_file:
            for start in range(0, len(threads), batch_size):
                rows = [
                    row
                    for files in threads[start : start + batch_size]
                    for row in self._thread_rows(open_file, files)
                ]
                good, bad = self.split(pl.from_dicts(rows, schema=RAW_SCHEMA).lazy())
                yield SourceBatch(seq, good.collect(), bad.collect(), self.origin)
                seq += 1
