"""The Parquet lake: Hive-partitioned tables on a local folder or ``s3://bucket/prefix``.

Layout (DESIGN.md)::

    <lake>/<table>/year=YYYY/month=MM/day=DD/part-0.parquet
    <lake>/_staging/<load_id>/<table>/batch-NNNNNN.parquet      (a load in progress)
    <lake>/_rejected/source=<name>/input=<file>/part-NNNNNN.jsonl   (quarantined records)

Each partition is exactly one file, so replacing a partition is replacing one file, which is
atomic: locally a write to a hidden temporary file, ``fsync``, then ``os.replace``; on S3 a single
PUT (or completed multipart upload), which S3 makes visible all at once. A reader therefore sees
the old day or the new day, never half of one, and never both.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.fs as pafs

from analytics_framework.errors import LakeError
from analytics_framework.faults import fail_point

if TYPE_CHECKING:  # polars is imported where frames are read: `status` only lists files
    import polars as pl

_CLIENT_LOCK = threading.Lock()
"""Guards the lazy creation of a lake's boto3 client (boto3's default session is not
thread-safe, and the loader publishes partitions from several threads)."""

REACH_FIX = "check that the lake is reachable and writable (analytics doctor), then re-run"

DAY_KEY = "_day_key"
"""A staged file's day as one ``YYYYMMDD`` integer (:func:`day_key`) beside ``year``,
``month`` and ``day``, so that its row groups' statistics bound their days exactly
(:meth:`Lake.row_group_days`)."""


def day_key(year: int, month: int, day: int) -> int:
    """Return a day as the integer ``YYYYMMDD`` (ordered as the days are)."""
    return year * 10_000 + month * 100 + day


PARTITION_RE = re.compile(r"year=(\d{4})/month=(\d{2})/day=(\d{2})")


@dataclass(frozen=True, order=True)
class Partition:
    """One day partition, in the time zone the load used."""

    year: int
    month: int
    day: int

    @property
    def path(self) -> str:
        """Relative Hive path, ``year=YYYY/month=MM/day=DD``."""
        return f"year={self.year:04d}/month={self.month:02d}/day={self.day:02d}"

    @property
    def key(self) -> int:
        """The day as ``YYYYMMDD`` (:func:`day_key`)."""
        return day_key(self.year, self.month, self.day)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


class Lake:
    """A lake rooted at a local folder or an S3 URI; the same code serves both.

    Args:
        uri: ``./lake``, ``/abs/path`` or ``s3://bucket/prefix``.
        filesystem: a pyarrow filesystem to use instead of the one the URI implies (tests and
            S3-compatible endpoints hand one in).
    """

    def __init__(self, uri: str, filesystem: pafs.FileSystem | None = None) -> None:
        self.uri = uri
        self.is_s3 = uri.startswith("s3://")
        self.s3: Any = None  # S3Options when opened by storage.s3.open_lake (DuckDB needs them)
        self._client: Any = None
        if self.is_s3:
            self.root = uri[len("s3://") :].rstrip("/")
            self.fs = filesystem or pafs.FileSystem.from_uri(uri)[0]
        else:
            self.root = str(Path(uri).expanduser().resolve())
            self.fs = filesystem or pafs.LocalFileSystem()

    # ---- paths -------------------------------------------------------------------------------

    def path(self, *parts: str) -> str:
        """Join ``parts`` under the lake root (filesystem path, no scheme)."""
        return "/".join([self.root, *parts])

    def partition_file(self, table: str, partition: Partition) -> str:
        """Return the one Parquet file of ``table`` for ``partition``."""
        return self.path(table, partition.path, "part-0.parquet")

    def table_glob(self, table: str) -> str:
        """Return a glob matching every partition file of ``table``, with scheme (for DuckDB)."""
        prefix = "s3://" if self.is_s3 else ""
        return f"{prefix}{self.path(table)}/year=*/month=*/day=*/*.parquet"

    # ---- reading -----------------------------------------------------------------------------

    def partitions(self, table: str) -> list[Partition]:
        """Every partition that ``table`` has, sorted."""
        return sorted(set(self._partitions(table)))

    def _partitions(self, table: str) -> Iterator[Partition]:
        """Yield the partition of each of ``table``'s data files, in listing order."""
        for _, partition in self.partition_files(table):
            yield partition

    def partition_files(self, table: str) -> list[tuple[pafs.FileInfo, Partition]]:
        """List ``table``'s data files with their partitions, in listing order (one listing).

        A data file is a ``*.parquet`` under ``year=/month=/day=`` whose name does not start
        with a dot (a local write's temporary file). Each ``FileInfo`` gives ``path`` (without
        scheme), ``size`` (bytes) and ``mtime_ns``.

        Raises:
            LakeError: the table cannot be listed.
        """
        selector = pafs.FileSelector(self.path(table), recursive=True, allow_not_found=True)
        found = []
        for info in self._list(selector):
            if info.type == pafs.FileType.File and info.path.endswith(".parquet"):
                m = PARTITION_RE.search(info.path)
                if m and not info.base_name.startswith("."):
                    found.append((info, Partition(*(int(g) for g in m.groups()))))
        return found

    def read_partition(self, table: str, partition: Partition) -> pl.DataFrame | None:
        """Return a partition's rows, or None when it does not exist."""
        path = self.partition_file(table, partition)
        try:
            if self.fs.get_file_info(path).type != pafs.FileType.File:
                return None
        except (OSError, pa.ArrowException) as exc:
            raise LakeError(f"cannot read {path}: {exc}", REACH_FIX) from None
        return self.read_file(path)

    def read_file(self, path: str, columns: list[str] | None = None) -> pl.DataFrame:
        """Read one Parquet file of the lake (staging, a partition).

        Raises:
            LakeError: the file cannot be read.
        """
        import polars as pl

        try:
            with self.fs.open_input_file(path) as fh:
                return pl.read_parquet(fh, columns=columns)
        except (OSError, pa.ArrowException, pl.exceptions.ComputeError) as exc:
            raise LakeError(
                f"cannot read {path}: {exc}",
                REACH_FIX,
            ) from None

    def read_row_groups(self, path: str, groups: list[int]) -> pl.DataFrame:
        """Read some row groups of one Parquet file of the lake (:meth:`row_group_days`).

        Raises:
            LakeError: the file cannot be read.
        """
        import polars as pl
        import pyarrow.parquet as pq

        try:
            with self.fs.open_input_file(path) as fh:
                return pl.from_arrow(pq.ParquetFile(fh).read_row_groups(groups))  # type: ignore[return-value]
        except (OSError, pa.ArrowException) as exc:
            raise LakeError(f"cannot read {path}: {exc}", REACH_FIX) from None

    def row_group_days(self, path: str) -> list[tuple[int, int, int]] | None:
        """Return each row group's lowest and highest day, as ``YYYYMMDD`` integers, and its rows.

        From the footer's statistics of :data:`DAY_KEY` when the file has that column (the
        loader's staged files): exact bounds. Otherwise from those of ``year``, ``month`` and
        ``day``, each column's own minimum and maximum, which bound every row's day but widen a
        group that crosses a month (31 January to 1 February reads as 1 January to 31
        February). None when a column or a statistic is missing.

        Raises:
            LakeError: the file cannot be read.
        """
        import pyarrow.parquet as pq

        try:
            with self.fs.open_input_file(path) as fh:
                meta = pq.ParquetFile(fh).metadata
        except (OSError, pa.ArrowException) as exc:
            raise LakeError(f"cannot read {path}: {exc}", REACH_FIX) from None
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        keys = [DAY_KEY] if DAY_KEY in names else ["year", "month", "day"]
        if not all(c in names for c in keys):
            return None
        cols = [names.index(c) for c in keys]
        out = []
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            stats = [group.column(c).statistics for c in cols]
            if not all(s is not None and s.has_min_max for s in stats):
                return None
            lo = [int(s.min) for s in stats]  # type: ignore[union-attr]
            hi = [int(s.max) for s in stats]  # type: ignore[union-attr]
            if len(keys) == 3:  # each part's own bounds: they bound every row's key
                lo, hi = [day_key(*lo)], [day_key(*hi)]
            out.append((lo[0], hi[0], group.num_rows))
        return out

    def read_table(self, table: str) -> pl.DataFrame:
        """Read a whole table with its partition columns (small lakes, tests, exports)."""
        import polars as pl

        frames = []
        for part in self.partitions(table):
            frame = self.read_partition(table, part)
            if frame is not None:
                frames.append(
                    frame.with_columns(
                        year=pl.lit(part.year, pl.Int32),
                        month=pl.lit(part.month, pl.Int32),
                        day=pl.lit(part.day, pl.Int32),
                    )
                )
        return pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()

    def table_bytes(self, table: str) -> int:
        """Return the size on disk (or S3) of ``table``'s partition files, in bytes."""
        selector = pafs.FileSelector(self.path(table), recursive=True, allow_not_found=True)
        return sum(
            i.size or 0
            for i in self._list(selector)
            if i.type == pafs.FileType.File and i.path.endswith(".parquet")
        )

    def list_files(self, folder: str) -> list[str]:
        """Every file under ``folder`` (recursively), sorted; empty when it does not exist."""
        selector = pafs.FileSelector(folder, recursive=True, allow_not_found=True)
        return sorted(i.path for i in self._list(selector) if i.type == pafs.FileType.File)

    def exists(self, table: str) -> bool:
        """Whether ``table`` has at least one partition (its first data file listed is enough)."""
        return next(self._partitions(table), None) is not None

    def require(self, table: str = "conversations") -> None:
        """Check that ``table`` has data, before a command that reads it starts any work.

        Raises:
            LakeError: it has none (a lake never collected into, or a wrong ``--lake``).
        """
        if not self.exists(table):
            raise LakeError(
                f"the lake at {self.uri} has no {table} yet",
                "run 'analytics collect' (or 'analytics run') first, or pass --lake",
            )

    # ---- writing -----------------------------------------------------------------------------

    def write_parquet(
        self,
        path: str,
        frame: pl.DataFrame,
        compression: str = "zstd",
        row_group_size: int | None = None,
    ) -> None:
        """Write ``frame`` to ``path`` atomically and durably; see the module docstring.

        ``compression`` is zstd for the lake; staging files use the faster lz4.
        ``row_group_size``: rows per row group (None: polars' default).

        Raises:
            LakeError: the file cannot be written.
        """
        try:
            if self.is_s3:
                buf = io.BytesIO()
                frame.write_parquet(
                    buf, compression=compression, statistics=True, row_group_size=row_group_size
                )
                self._put_s3(path, buf)
                return
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
            with tmp.open("wb") as fh:
                frame.write_parquet(
                    fh, compression=compression, statistics=True, row_group_size=row_group_size
                )
                fh.flush()
                os.fsync(fh.fileno())
            fail_point("mid_write")
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except (OSError, pa.ArrowException) as exc:
            raise LakeError(f"cannot write {path}: {exc}", REACH_FIX) from None

    def _put_s3(self, path: str, body: io.BytesIO) -> None:
        """Upload one object atomically: it appears whole or not at all.

        With S3 options (the normal case) boto3's transfer manager sends one PUT, or a multipart
        upload above 8 MiB that it aborts on failure; S3 shows the object only once complete.
        Without them, pyarrow's output stream is used.

        Raises:
            OSError: the upload failed (retries exhausted).
        """
        if self.s3 is None:
            with self.fs.open_output_stream(path) as out:
                out.write(body.getvalue())
            return
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        from analytics_framework.storage.s3 import boto3_client

        with _CLIENT_LOCK:  # partitions are published by several threads
            if self._client is None:
                self._client = boto3_client(self.s3)
        bucket, _, key = path.partition("/")
        body.seek(0)
        try:
            self._client.upload_fileobj(body, bucket, key)
        except (S3UploadFailedError, BotoCoreError, ClientError) as exc:
            raise OSError(str(exc)) from None

    def upload_file(self, path: str, local: Path) -> None:
        """Copy the local file ``local`` to ``path`` in the lake, in one piece (big files too).

        Raises:
            LakeError: the place cannot be written.
        """
        try:
            if self.is_s3 and self.s3 is not None:
                with local.open("rb") as fh:
                    self._put_s3(path, fh)  # type: ignore[arg-type]  # any binary file object
                return
            if not self.is_s3:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            with local.open("rb") as fh, self.fs.open_output_stream(path) as out:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    out.write(block)
        except (OSError, pa.ArrowException) as exc:
            raise LakeError(f"cannot write {path}: {exc}", REACH_FIX) from None

    def download_file(self, path: str, local: Path) -> None:
        """Copy ``path`` from the lake to the local file ``local``.

        Raises:
            LakeError: it cannot be read.
        """
        try:
            with self.fs.open_input_stream(path) as src, local.open("wb") as out:
                while block := src.read(1 << 22):
                    out.write(block)
        except (OSError, pa.ArrowException) as exc:
            raise LakeError(f"cannot read {path}: {exc}", REACH_FIX) from None

    def write_partition(self, table: str, partition: Partition, frame: pl.DataFrame) -> None:
        """Replace ``table``'s ``partition`` with ``frame`` (without partition columns)."""
        self.write_parquet(self.partition_file(table, partition), frame)

    def replace_table(self, table: str, rows: pl.DataFrame) -> list[Partition]:
        """Replace the whole of ``table`` with ``rows`` (with ``year``/``month``/``day``).

        Each day of ``rows`` is written (atomically, as :meth:`write_partition`), then the
        table's other days are removed: a build (scripts, personas) that covers other days than
        the last one leaves none of the last one's rows. Returns the partitions written.
        """
        written = []
        for (y, m, d), part in rows.group_by(["year", "month", "day"], maintain_order=True):
            p = Partition(int(y), int(m), int(d))  # type: ignore[arg-type]
            self.write_partition(table, p, part.drop("year", "month", "day"))
            written.append(p)
        keep = set(written)
        for p in self.partitions(table):
            if p not in keep:
                self.delete(self.path(table, p.path))
        return written

    def write_text(self, path: str, text: str) -> None:
        """Write a small text file (quarantine, manifests) in one piece."""
        self.write_bytes(path, text.encode("utf-8"))

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a file (an export: a chart, a bundle) in one piece.

        Raises:
            LakeError: the place cannot be written.
        """
        try:
            if not self.is_s3:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            if self.is_s3:
                self._put_s3(path, io.BytesIO(data))
            else:
                with self.fs.open_output_stream(path) as out:
                    out.write(data)
        except (OSError, pa.ArrowException) as exc:
            raise LakeError(
                f"cannot write {path}: {exc}",
                REACH_FIX,
            ) from None

    def write_rejected(self, source: str, origin: str, seq: int, rejected: pl.DataFrame) -> str:
        """Quarantine malformed records as JSON lines, one file per input and batch.

        The file name is derived from the input, so re-loading the same input replaces its
        quarantine file instead of adding another. Returns the file's path.
        """
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(origin.split(",")[0]).name) or "input"
        path = self.path("_rejected", f"source={source}", f"input={stem}", f"part-{seq:06d}.jsonl")
        lines = [
            json.dumps({"source": source, "origin": origin, **row}, ensure_ascii=False)
            for row in rejected.iter_rows(named=True)
        ]
        self.write_text(path, "\n".join(lines) + "\n")
        return path

    def delete(self, path: str) -> None:
        """Delete a file or folder if present."""
        try:
            info = self.fs.get_file_info(path)
            if info.type == pafs.FileType.Directory:
                self.fs.delete_dir(path)
            elif info.type == pafs.FileType.File:
                self.fs.delete_file(path)
        except (OSError, pa.ArrowException) as exc:
            raise LakeError(
                f"cannot delete {path}: {exc}",
                REACH_FIX,
            ) from None

    def _list(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        try:
            return self.fs.get_file_info(selector)
        except (OSError, pa.ArrowException) as exc:
            raise LakeError(
                f"cannot list {selector.base_dir}: {exc}",
                REACH_FIX,
            ) from None


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
