"""Rows per pipeline and partition day, counted once per partition file (``analytics status``).

``status`` shows, for each day, how many conversations a pipeline loaded and how many of them
carry a current label. Counting them means opening partition files: over two years of daily
partitions that is 1,460 footers of two tables and about half a second, every time. A lake's
files are never changed in place: a partition is replaced by writing a new file and renaming it
over the old one, or by one S3 PUT (:mod:`analytics_framework.storage.lake`). So a partition
whose files have the same paths, sizes and modification times as when it was counted holds the
same rows, and its counts can be kept.

:class:`CountCache` keeps them, per table and partition day, as the rows of each pipeline (the
part of ``conversation_id`` before its first ``:``), in one JSON file in the lake's state
folder (``<state_dir>/<lake slug>/cache/partition-counts.json``, beside the pipelines' state;
:func:`cache_path`). :func:`day_counts` lists the table (one listing, about 10 ms for 730 local
partitions), counts only the partitions that are new or changed since they were counted (a
few with pyarrow, many with DuckDB: :func:`_count`), and answers the rest from the cache;
partitions that are gone are forgotten.

The cache can only make ``status`` faster, never wrong or failing:

- a partition modified less than :data:`FRESH_S` seconds ago is counted but not kept, since S3
  gives modification times to the second (a file replaced twice within one second with the same
  size would otherwise pass for its predecessor) and clocks differ;
- a cache that is missing, unreadable, of another version or of another lake is ignored, and
  one that cannot be written is not written (a read-only state folder); nothing is logged above
  debug level;
- a pipeline whose name contains ``:`` is counted directly, not through the cache.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pyarrow only where a lake is opened
    from analytics_framework.storage.lake import Lake


log = logging.getLogger(__name__)

CACHE_VERSION = 1
"""Format of the cache file; a file of another version is ignored (and replaced)."""

FRESH_S = 60
"""A partition whose newest file is younger than this many seconds is counted, not cached."""

CACHE_NAME = "partition-counts.json"

FEW_FILES = 16
"""Most missed files :func:`_count` reads with pyarrow rather than DuckDB."""


def cache_path(lake_state_folder: Path) -> Path:
    """Return where the counts of one lake are kept: ``<folder>/cache/partition-counts.json``.

    ``lake_state_folder`` is :func:`analytics_framework.storage.state_store.lake_folder`; the
    cache sits in a subfolder so that it is never taken for a pipeline's state document.
    """
    return lake_state_folder / "cache" / CACHE_NAME


Signature = list[list[Any]]
"""A partition's files as ``[[name, size, mtime_ns], …]``, sorted by name."""


class CountCache:
    """Per-partition row counts of one lake, by table, kept across runs in a JSON file.

    Args:
        path: the cache file (:func:`cache_path`), or None to keep nothing across runs.
        lake_uri: the lake the counts belong to; a file written for another lake is ignored.
    """

    def __init__(self, path: Path | None, lake_uri: str) -> None:
        self.path = path
        self.lake_uri = lake_uri
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}
        self.changed = False
        if path is None:
            return
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            if path.exists():
                log.debug("ignoring the count cache %s: %s", path, exc)
            return
        if (
            isinstance(doc, dict)
            and doc.get("version") == CACHE_VERSION
            and doc.get("lake") == lake_uri
            and isinstance(doc.get("tables"), dict)
        ):
            self.tables = {t: v for t, v in doc["tables"].items() if isinstance(v, dict)}

    def lookup(self, table: str, day: date, files: Signature) -> dict[str, int] | None:
        """Return the counts kept for ``table``'s ``day`` if its files are still ``files``."""
        entry = self.tables.get(table, {}).get(day.isoformat())
        if not isinstance(entry, dict) or entry.get("files") != files:
            return None
        counts = entry.get("counts")
        return counts if isinstance(counts, dict) else None

    def store(self, table: str, day: date, files: Signature, counts: dict[str, int]) -> None:
        """Keep ``counts`` (rows per pipeline) for ``table``'s ``day`` made of ``files``."""
        self.tables.setdefault(table, {})[day.isoformat()] = {"files": files, "counts": counts}
        self.changed = True

    def retain(self, table: str, days: set[date]) -> None:
        """Forget ``table``'s partitions that are no longer in the lake (not in ``days``)."""
        kept = self.tables.get(table, {})
        present = {d.isoformat() for d in days}
        gone = [d for d in kept if d not in present]
        for d in gone:
            del kept[d]
        self.changed = self.changed or bool(gone)

    def save(self) -> None:
        """Write the cache if anything changed (atomically: a temporary file, then a rename).

        Never raises: a cache that cannot be written is simply not kept.
        """
        if self.path is None or not self.changed:
            return
        doc = {"version": CACHE_VERSION, "lake": self.lake_uri, "tables": self.tables}
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, self.path)
            self.changed = False
        except OSError as exc:
            log.debug("not keeping the count cache %s: %s", self.path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def day_counts(
    lake: Lake,
    table: str,
    source: str,
    start: date | None,
    end: date | None,
    cache: CountCache | None = None,
) -> dict[date, int]:
    """Count ``source``'s rows of ``table`` per partition day in ``[start, end)``.

    Args:
        lake: the lake to read.
        table: ``conversations``, or ``labels`` (only current labels: status ``labeled``).
        source: the pipeline; its rows are those whose ``conversation_id`` starts with
            ``<source>:``.
        start: first day counted, or None for no lower bound.
        end: day after the last one counted, or None for no upper bound.
        cache: counts kept from earlier calls (updated in memory; the caller saves it), or None
            to count every partition in the range.

    Returns:
        ``{day: rows}`` for the days that have any; {} when the table has no partitions.

    Raises:
        LakeError: the table cannot be listed or read.
    """
    days: dict[date, Signature] = {}
    for info, part in lake.partition_files(table):
        day = date(part.year, part.month, part.day)
        days.setdefault(day, []).append([info.base_name, info.size, info.mtime_ns, info.path])
    if cache is not None:
        cache.retain(table, set(days))
    if ":" in source:  # its ids' prefix is not the part before the first ':'
        cache = None
    wanted = {
        d: sorted(files)
        for d, files in days.items()
        if (start is None or d >= start) and (end is None or d < end)
    }
    found: dict[date, dict[str, int]] = {}
    missing: dict[date, Signature] = {}
    for d, files in wanted.items():
        hit = cache.lookup(table, d, [f[:3] for f in files]) if cache is not None else None
        if hit is None:
            missing[d] = files
        else:
            found[d] = hit
    if missing:
        counted = _count(lake, table, [f[3] for files in missing.values() for f in files], source)
        now_ns = time.time_ns()
        for d, files in missing.items():
            found[d] = counted.get(d, {})
            if cache is not None and all(now_ns - f[2] >= FRESH_S * 10**9 for f in files):
                cache.store(table, d, [f[:3] for f in files], found[d])  # without the path
    key = f"{source}:" if ":" in source else source
    return {d: c[key] for d, c in sorted(found.items()) if c.get(key)}


def _count(lake: Lake, table: str, paths: list[str], source: str) -> dict[date, dict[str, int]]:
    """Count the rows of these partition files of ``table`` per day and pipeline.

    Rows are grouped by the part of ``conversation_id`` before its first ``:`` (an id without
    one is no pipeline's); for a ``source`` whose name contains ``:`` only its own rows are
    counted, under ``<source>:``.
    Only ``conversation_id`` and ``status`` are read, which every file the lake ever wrote
    has. Up to :data:`FEW_FILES` files (a ``status`` after a nightly collect: its new days) are
    read with pyarrow, one after the other, which spares importing DuckDB and polars (0.3 s);
    more (a lake never counted) are counted by DuckDB in parallel.

    Raises:
        LakeError: a file cannot be read.
    """
    if len(paths) <= FEW_FILES:
        return _count_few(lake, table, paths, source)
    from analytics_framework.storage.query import connect

    labeled = "AND status = 'labeled'" if table == "labels" else ""
    if ":" in source:
        key, where = "$prefix", "starts_with(conversation_id, $prefix)"
        params: dict[str, Any] = {"prefix": f"{source}:"}
    else:
        key, where, params = (
            "split_part(conversation_id, ':', 1)",
            "contains(conversation_id, ':')",
            {},
        )
    con = connect(lake, require=False, tables=[table], check_schema=False, files={table: paths})
    try:
        rows = con.execute(
            f"""
            SELECT make_date(year, month, day) AS d, {key} AS pipeline, count(*) AS n
            FROM {table}
            WHERE {where} {labeled}
            GROUP BY ALL
            """,
            params,
        ).fetchall()
    finally:
        con.close()
    out: dict[date, dict[str, int]] = {}
    for d, pipeline, n in rows:
        out.setdefault(d, {})[pipeline] = n
    return out


def _count_few(lake: Lake, table: str, paths: list[str], source: str) -> dict[date, dict[str, int]]:
    """:func:`_count` for a few files: each read with pyarrow, the ids counted here."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from analytics_framework.errors import LakeError
    from analytics_framework.storage.lake import PARTITION_RE, REACH_FIX

    prefix = f"{source}:" if ":" in source else None
    columns = ["conversation_id", "status"] if table == "labels" else ["conversation_id"]
    out: dict[date, dict[str, int]] = {}
    for path in paths:
        m = PARTITION_RE.search(path)
        if m is None:
            continue
        day = date(*(int(g) for g in m.groups()))
        try:
            with lake.fs.open_input_file(path) as fh:
                rows = pq.ParquetFile(fh).read(columns=columns)  # read_table: pyarrow.dataset
        except (OSError, pa.ArrowException) as exc:
            raise LakeError(f"cannot read {path}: {exc}", REACH_FIX) from None
        ids = rows.column("conversation_id").to_pylist()
        if table == "labels":
            ids = [
                i
                for i, s in zip(ids, rows.column("status").to_pylist(), strict=True)
                if s == "labeled"
            ]
        found = out.setdefault(day, {})
        for cid in ids:
            if cid is None or ":" not in cid:  # not a pipeline's id (``<source>:…``)
                continue
            if prefix is not None:
                if cid.startswith(prefix):
                    found[prefix] = found.get(prefix, 0) + 1
                continue
            key = cid.split(":", 1)[0]
            found[key] = found.get(key, 0) + 1
    return out
