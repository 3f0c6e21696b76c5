"""Parse a file input once for every shard of a sharded collect.

Without this each day-range shard would parse the whole input to find the conversations that
start in its days (docs/scale-out.md measured 22.5 s of a 30 s shard doing that). Instead, for a
file source that reads through :meth:`FileSource.spill_input` (``files``, ``twcs``: not the
streaming Facebook/Messenger readers), one Ray task (:func:`stage_input`) parses the input and
uploads its spilled rows to the lake's staging area,

    <lake>/_staging/ray-<plan key>/rows.parquet       good canonical rows, unsorted
    <lake>/_staging/ray-<plan key>/rejected.parquet   the quarantined records

and every shard reads them through a :class:`StagedSource`: it keeps the conversations whose
first message falls within a day of its range (the pipeline then applies the exact range in the
collect's zone), sorts them and cuts them into batches as the source itself would. Only the first
shard carries the rejected records, so each is quarantined once. The staged files stay until
every shard is done (a resumed run reuses them: the plan key names the input's fingerprints) and
are removed then.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from analytics_framework.settings import Settings
from analytics_framework.sources.base import InputIdentity, Source, SourceBatch
from analytics_framework.storage.lake import Lake

ROWS = "rows.parquet"
REJECTED = "rejected.parquet"


def staging_folder(lake: Lake, key: str) -> str:
    """Return the staging folder of plan ``key`` in ``lake``."""
    return lake.path("_staging", f"ray-{key}")


def stage_input(
    source_name: str, path: str | None, options: dict[str, Any], settings: Settings, key: str
) -> dict[str, int]:
    """Parse the input once and upload its spilled rows (the Ray task's body).

    Returns:
        ``{"rows": good rows, "rejected": quarantined records}``.

    Raises:
        InputError: the input cannot be parsed; LakeError: the lake cannot be written.
    """
    from analytics_framework.sources import get_source
    from analytics_framework.storage.s3 import open_lake

    source = get_source(source_name)(path, settings, dict(options))
    lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
    folder = staging_folder(lake, key)
    with tempfile.TemporaryDirectory(prefix="analytics-stage-") as tmp:
        rows, bad = Path(tmp, ROWS), Path(tmp, REJECTED)
        source.spill_input(rows, bad)  # type: ignore[attr-defined]  # a FileSource
        lake.upload_file(f"{folder}/{REJECTED}", bad)
        lake.upload_file(f"{folder}/{ROWS}", rows)  # last: its presence means "staged"
        return {
            "rows": pq.ParquetFile(rows).metadata.num_rows,
            "rejected": pq.ParquetFile(bad).metadata.num_rows,
        }


def is_staged(lake: Lake, key: str) -> bool:
    """Whether plan ``key``'s input is staged already (a resumed run)."""
    try:
        return lake.fs.get_file_info(f"{staging_folder(lake, key)}/{ROWS}").size is not None
    except OSError:
        return False


class StagedSource(Source):
    """One shard's view of a staged input: the original source's name, identity and origin.

    Args:
        original: the source the input belongs to (its name, description and options).
        identity: the input's identity as the driver fingerprinted it (not hashed again).
        settings: the run's settings.
        key: the plan key (:func:`staging_folder`).
        start / end: the shard's days; conversations starting a day either side are kept.
        rejected: whether this shard carries the quarantined records (the first one does).
    """

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
        """The original input, and the shard (quarantine files are named by it)."""
        return f"{self._origin} [shard {self.start}]"

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
        lo = datetime.combine(self.start - timedelta(days=1), time(), UTC)
        hi = datetime.combine(self.end + timedelta(days=1), time(), UTC)
        origin = self.origin
        with tempfile.TemporaryDirectory(prefix="analytics-shard-") as tmp:
            seq = 0
            if self.rejected:
                bad = Path(tmp, REJECTED)
                lake.download_file(f"{folder}/{REJECTED}", bad)
                for chunk in pq.ParquetFile(bad).iter_batches(batch_size=READ_CHUNK_ROWS):
                    yield SourceBatch(seq, self.empty(), pl.from_arrow(chunk), origin)  # type: ignore[arg-type]
                    seq += 1
            every = Path(tmp, ROWS)
            lake.download_file(f"{folder}/{ROWS}", every)
            rows = pl.scan_parquet(every)
            starts = (
                rows.group_by("conversation_id")
                .agg(first=pl.col("sent_at").min())
                .filter((pl.col("first") >= lo) & (pl.col("first") < hi))
                .select("conversation_id")
            )
            mine = Path(tmp, "mine.parquet")
            rows.join(starts, on="conversation_id", how="semi").sink_parquet(mine)
            every.unlink()
            sorted_path = sort_spilled(mine, Path(tmp), memory=self.settings.sort_memory)
            for frame in conversation_chunks(sorted_path, batch_size):
                yield SourceBatch(seq, frame, origin=origin)
                seq += 1
