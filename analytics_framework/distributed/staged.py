"""Parse a file input once for every shard of a sharded collect.

Without this each day-range shard would parse the whole input to find the conversations that
start in its days (docs/scale-out.md measured 22.5 s of a 30 s shard doing that). Instead, for a
file source that reads through :meth:`FileSource.spill_input` (``files``, ``twcs``: not the
streaming Facebook/Messenger readers), Ray tasks (:func:`stage_input`) parse the input and upload
its spilled rows to the lake's staging area:

    <lake>/_staging/ray-<plan key>/rejected-0000.parquet   the records a group's parse rejected
    <lake>/_staging/ray-<plan key>/rows-0000.parquet       its good canonical rows, unsorted

A many-file input is cut into file shards (:func:`file_groups`, balanced by size, one task
each), when the source parses each file on its own (``files``; not ``twcs``, whose threads are
rebuilt across the whole input: one task then parses all of it). Every day shard reads all the
groups' rows through a :class:`StagedSource`: it keeps the conversations whose first message
falls on its days in the collect's zone (those its partitions hold), sorts them and cuts them
into batches as the source itself would. Only the first shard carries the rejected records, so
each is quarantined once. The staged files stay until every shard is done (a resumed run reuses
them: the plan key names the input's fingerprints) and are removed then.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from analytics_framework.settings import Settings
from analytics_framework.sources.base import InputIdentity, Source, SourceBatch
from analytics_framework.storage.lake import Lake


def staging_folder(lake: Lake, key: str) -> str:
    """Return the staging folder of plan ``key`` in ``lake``."""
    return lake.path("_staging", f"ray-{key}")


def file_groups(source: Any, most: int) -> list[list[str]]:
    """Cut the source's files into at most ``most`` groups of about equal bytes.

    One group when the source has a single file (``twcs``, whose threads span its whole input,
    takes exactly one).
    """
    files = [str(Path(f).resolve()) for f in source.files]  # workers run elsewhere
    if len(files) < 2 or most < 2:
        return [files]
    groups: list[list[str]] = [[] for _ in range(min(most, len(files)))]
    sizes = [0] * len(groups)
    for f in sorted(files, key=lambda f: -Path(f).stat().st_size):  # largest first, to the
        i = sizes.index(min(sizes))  # lightest group so far
        groups[i].append(f)
        sizes[i] += Path(f).stat().st_size
    return [sorted(g) for g in groups]


def stage_input(
    source_name: str,
    path: str | None,
    options: dict[str, Any],
    settings: Settings,
    key: str,
    group: int,
    files: list[str],
) -> dict[str, int]:
    """Parse one group of the input's files and upload its spilled rows (a Ray task's body).

    Returns:
        ``{"rows": good rows, "rejected": quarantined records}``.

    Raises:
        InputError: the input cannot be parsed; LakeError: the lake cannot be written.
    """
    from analytics_framework.sources import get_source
    from analytics_framework.storage.s3 import open_lake

    source = get_source(source_name)(path, settings, dict(options))
    source.files = [Path(f) for f in files]  # type: ignore[attr-defined]  # a FileSource
    lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    folder = staging_folder(lake, key)
    with tempfile.TemporaryDirectory(prefix="analytics-stage-") as tmp:
        rows, bad = Path(tmp, "rows.parquet"), Path(tmp, "rejected.parquet")
        source.spill_input(rows, bad)  # type: ignore[attr-defined]
        lake.upload_file(f"{folder}/rejected-{group:04d}.parquet", bad)
        lake.upload_file(f"{folder}/rows-{group:04d}.parquet", rows)  # last: "group staged"
        return {
            "rows": pq.ParquetFile(rows).metadata.num_rows,
            "rejected": pq.ParquetFile(bad).metadata.num_rows,
        }


def staged_groups(lake: Lake, key: str) -> set[int]:
    """Return the groups of plan ``key`` already staged (a resumed run skips them)."""
    done = set()
    for path in lake.list_files(staging_folder(lake, key)):
        name = path.rsplit("/", 1)[-1]
        if name.startswith("rows-") and name.endswith(".parquet"):
            done.add(int(name[5:9]))
    return done


class StagedSource(Source):
    """One shard's view of a staged input: the original source's name, identity and origin.

    Args:
        original: the source the input belongs to (its name, description and options).
        identity: the input's identity as the driver fingerprinted it (not hashed again).
        settings: the run's settings.
        key: the plan key (:func:`staging_folder`).
        start / end: the shard's days (in ``settings.timezone``, as the partitions are).
        rejected: whether this shard carries the quarantined records (the first one does).
    """

    may_be_empty = True  # a shard's days may hold no conversation

    def __init__(
        self,
        original: Source,
        identity: InputIdentity,
        settings: Settings,
        key: str,
        start: date,
        end: date,
        rejected: bool,
    ) -> None:
        self.settings = settings
        self.options = original.options
        self.cursor = None
        self.name = original.name  # type: ignore[misc]  # the pipeline's name, ids, coverage
        self.description = original.description  # type: ignore[misc]
        self._origin = original.origin
        self._identity = identity
        self._extra = original.empty()
        self.key = key
        self.start, self.end = start, end
        self.rejected = rejected

    @property
    def origin(self) -> str:
        """The original input with the shard after its first file.

        Quarantine files are named by the first file of the origin
        (:meth:`~analytics_framework.storage.lake.Lake.write_rejected`), so each shard writes
        its own and none overwrites another's.
        """
        first, sep, rest = self._origin.partition(", ")
        return f"{first} [shard {self.start}]{sep}{rest}"

    def identity(self) -> InputIdentity:
        """Return the input's identity as the driver computed it."""
        return self._identity

    def empty(self) -> pl.DataFrame:
        """Return the original source's empty canonical frame."""
        return self._extra.clear()

    def batches(
        self, batch_size: int, since: datetime | None = None, after_key: str | None = None
    ) -> Iterator[SourceBatch]:
        """Yield the shard's conversations from the staged rows, sorted, in batches.

        Raises:
            LakeError: the staged files cannot be read.
        """
        from analytics_framework.sources.batching import READ_CHUNK_ROWS, conversation_chunks
        from analytics_framework.sources.spill import sort_spilled
        from analytics_framework.storage.s3 import open_lake

        lake = open_lake(self.settings.lake_uri, self.settings.s3_endpoint_url)
        folder = staging_folder(lake, self.key)
        origin = self.origin
        staged = lake.list_files(folder)
        with tempfile.TemporaryDirectory(prefix="analytics-shard-") as tmp:
            seq = 0
            local: dict[str, list[Path]] = {"rows-": [], "rejected-": []}
            for path in staged:
                name = path.rsplit("/", 1)[-1]
                kind = "rows-" if name.startswith("rows-") else "rejected-"
                if kind == "rejected-" and not self.rejected:
                    continue
                local[kind].append(Path(tmp, name))
                lake.download_file(path, local[kind][-1])
            for bad in local["rejected-"]:
                for chunk in pq.ParquetFile(bad).iter_batches(batch_size=READ_CHUNK_ROWS):
                    yield SourceBatch(seq, self.empty(), pl.from_arrow(chunk), origin)  # type: ignore[arg-type]
                    seq += 1
            rows = pl.scan_parquet(local["rows-"])
            day = pl.col("first").dt.convert_time_zone(self.settings.timezone).dt.date()
            starts = (  # exactly the conversations the pipeline keeps for these days
                rows.group_by("conversation_id")
                .agg(first=pl.col("sent_at").min())
                .filter((day >= self.start) & (day < self.end))
                .select("conversation_id")
            )
            mine = Path(tmp, "mine.parquet")
            rows.join(starts, on="conversation_id", how="semi").sink_parquet(mine)
            for piece in local["rows-"]:
                piece.unlink()
            sorted_paths = sort_spilled(mine, Path(tmp), memory=self.settings.sort_memory)
            for frame in conversation_chunks(sorted_paths, batch_size):
                yield SourceBatch(seq, frame, origin=origin)
                seq += 1
