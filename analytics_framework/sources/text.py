r"""Damaged text input: binary files, invalid UTF-8 bytes and malformed JSON lines.

Sources read their files with polars first (fast). Only when that fails do they come here to read
a file again record by record, so that one bad line or byte quarantines one record, not the file:

- :func:`check_text` refuses a binary file up front (a NUL byte, or mostly invalid UTF-8, in its
  first KiB), before a parser quotes its bytes back to the user.
- :func:`mark_invalid_utf8` copies a CSV with every invalid byte ``0xNN`` replaced by the marker
  character U+10FF00 + NN (private use, never in real text), so polars parses every row;
  :func:`flag_marked` then gives the rows holding a marker an :data:`~.base.UNREADABLE` reason and
  writes their bytes back as ``\xNN``.
- :func:`clean_jsonl` copies the lines that are JSON objects, each tagged with its line number
  (:data:`LINE_KEY`), and writes the others to a quarantine file with the reason.
"""

from __future__ import annotations

import codecs
import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import polars as pl

from analytics_framework.errors import InputError
from analytics_framework.sources.base import UNREADABLE

HEAD_BYTES = 1024
"""Bytes sniffed by :func:`check_text`."""

RAW_CHARS = 200
"""Characters of an unparsable line kept as its quarantined ``raw`` value."""

LINE_KEY = "_analytics_line"
"""Key :func:`clean_jsonl` adds to each good line: its 1-based line number in the input."""

MARK_ERRORS = "analytics-mark"
MARKERS = [chr(0x10FF00 + b) for b in range(0x80, 0x100)]
MARKER_CLASS = f"[{MARKERS[0]}-{MARKERS[-1]}]"
_BYTE_OF = {m: f"0x{b:02x}" for m, b in zip(MARKERS, range(0x80, 0x100), strict=True)}
_ESCAPES = [f"\\x{b:02x}" for b in range(0x80, 0x100)]
_MARKER = re.compile(MARKER_CLASS)


def _mark(err: UnicodeError) -> tuple[str, int]:
    """Codec error handler: each invalid byte becomes its marker character."""
    assert isinstance(err, UnicodeDecodeError)
    return "".join(chr(0x10FF00 + b) for b in err.object[err.start : err.end]), err.end


codecs.register_error(MARK_ERRORS, _mark)


def is_gzipped(path: Path) -> bool:
    """Return whether ``path`` starts with the gzip magic bytes."""
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def open_bytes(path: Path) -> IO[bytes]:
    """Open ``path`` for reading bytes, decompressing it when it is gzipped."""
    return gzip.open(path, "rb") if is_gzipped(path) else path.open("rb")


def invalid_utf8_offsets(data: bytes) -> list[int]:
    """Return the offsets of the bytes in ``data`` that are not valid UTF-8.

    A multi-byte character cut off at the very end of ``data`` is not counted (``data`` is often
    the head of a longer file).
    """
    offsets: list[int] = []
    pos = 0
    while pos < len(data):
        try:
            data[pos:].decode("utf-8")
            break
        except UnicodeDecodeError as exc:
            if exc.reason == "unexpected end of data" and pos + exc.end == len(data):
                break
            offsets.extend(range(pos + exc.start, pos + exc.end))
            pos += exc.end
    return offsets


def check_text(path: Path, kind: str) -> None:
    """Refuse a file that is not UTF-8 text, before any parser quotes its content.

    Args:
        path: the input file (gzipped files are sniffed decompressed).
        kind: the format for the message, e.g. ``CSV``.

    Raises:
        InputError: the first KiB holds a NUL byte, a UTF-16 byte-order mark, or more than one
            byte in ten that is not valid UTF-8.
    """
    try:
        with open_bytes(path) as fh:
            head = fh.read(HEAD_BYTES)
    except (OSError, EOFError):
        return  # unreadable or a broken gzip: the parser's own error names it
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(
            f"{path} is UTF-16 text, not UTF-8", f"save it as UTF-8 {kind} and collect it again"
        )
    at = head.find(b"\0")
    if at < 0:
        bad = invalid_utf8_offsets(head)
        at = bad[0] if len(bad) * 10 > len(head) else -1
    if at >= 0:
        raise InputError(
            f"{path} does not look like a text {kind} file (binary data at byte {at})",
            f"check the path; the input must be {kind} text in UTF-8",
        )


def mark_invalid_utf8(src: Path, dest: Path, chunk_bytes: int = 1 << 22) -> bool:
    """Copy ``src`` (plain or gzipped) to ``dest`` as UTF-8, invalid bytes as marker characters.

    Returns:
        Whether ``src`` held any invalid byte (when not, ``dest`` is a plain copy).

    Raises:
        OSError: ``src`` cannot be read or ``dest`` written.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors=MARK_ERRORS)
    found = False
    with open_bytes(src) as fin, dest.open("w", encoding="utf-8", newline="") as fout:
        while chunk := fin.read(chunk_bytes):
            text = decoder.decode(chunk)
            found = found or _MARKER.search(text) is not None
            fout.write(text)
        tail = decoder.decode(b"", final=True)
        found = found or bool(tail)
        fout.write(tail)
    return found


def flag_marked(lf: pl.LazyFrame, columns: list[str]) -> pl.LazyFrame:
    r"""Add the :data:`~.base.UNREADABLE` reason to rows whose string ``columns`` hold markers.

    The reason names the first such column and its first invalid byte
    (``invalid UTF-8 byte 0xff in column text``); the markers are then written as ``\xff``.
    """
    reasons = [
        pl.when(pl.col(c).str.contains(MARKER_CLASS)).then(
            pl.lit("invalid UTF-8 byte ")
            + pl.col(c)
            .str.extract(f"({MARKER_CLASS})", 1)
            .replace_strict(_BYTE_OF, default="?", return_dtype=pl.String)
            + pl.lit(f" in column {c}")
        )
        for c in columns
    ]
    return lf.with_columns(pl.coalesce(reasons).alias(UNREADABLE)).with_columns(
        pl.col(c).str.replace_many(MARKERS, _ESCAPES) for c in columns
    )


@dataclass
class JsonlPass:
    """What :func:`clean_jsonl` found.

    Attributes:
        good: lines copied (JSON objects).
        bad: lines quarantined.
        first_bad: ``line N: reason`` of the first quarantined line, or None.
    """

    good: int = 0
    bad: int = 0
    first_bad: str | None = None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def line_problem(line: bytes) -> tuple[str | None, Any]:
    """Return (why ``line`` is not a JSON object or None, the parsed value)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 byte 0x{line[exc.start]:02x} at column {exc.start + 1}", None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg} at column {exc.colno}", None
    except ValueError as exc:
        return f"not valid JSON: {exc}", None
    if not isinstance(value, dict):
        return f"not a JSON object (a JSON {type(value).__name__})", None
    return None, value


def clean_jsonl(src: Path, good: Path, bad: Path, name: str) -> JsonlPass:
    r"""Copy the JSON-object lines of ``src`` to ``good``; quarantine the others in ``bad``.

    Each good line gains the key :data:`LINE_KEY` (its 1-based line number in ``src``). Each bad
    line becomes a :data:`~.base.REJECTED_SCHEMA` row in ``bad`` (JSON lines): ``record``
    ``<name> line N``, the ``reason``, and as ``raw`` a JSON string of the line's first
    :data:`RAW_CHARS` characters (invalid bytes as ``\xNN``). Blank lines are skipped.

    Raises:
        OSError: a file cannot be read or written.
    """
    found = JsonlPass()
    with src.open("rb") as fin, good.open("wb") as fgood, bad.open("w", encoding="utf-8") as fbad:
        for n, line in enumerate(fin, start=1):
            content = line.removeprefix(codecs.BOM_UTF8) if n == 1 else line
            content = content.rstrip(b"\r\n")
            body = content.strip(b" \t\r\n")
            if not body:
                continue
            reason, value = line_problem(content)
            if reason is None:
                head = b'{"%s":%d' % (LINE_KEY.encode(), n)
                fgood.write(head + (b"," + body[1:] if value else b"}") + b"\n")
                found.good += 1
                continue
            text = body.decode("utf-8", "backslashreplace")
            raw = text if len(text) <= RAW_CHARS else text[: RAW_CHARS - 1] + "…"
            row = {"record": f"{name} line {n}", "reason": reason, "raw": json.dumps(raw)}
            fbad.write(json.dumps(row, ensure_ascii=False) + "\n")
            found.bad += 1
            found.first_bad = found.first_bad or f"line {n}: {reason}"
    return found
