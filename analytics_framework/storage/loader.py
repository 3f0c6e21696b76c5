"""Loading batches into the lake: stage each batch, then publish whole partitions.

A batch's rows for every table are first *staged*: one Parquet file per table per batch under
``<lake>/_staging/<load_id>/``, written durably. Publishing a partition merges its staged rows
into the partition's existing file: existing rows of the same conversations are replaced (an
upsert keyed by ``conversation_id``), the result is sorted by a fixed key and written over the
old file atomically (:meth:`Lake.write_partition`). So loading the same input twice gives the
same rows, and a conversation re-read with late messages replaces its old version.

When a source yields batches in conversation-start order, a partition is complete once a batch
starts on a later day, and is published then; staging never holds more than about a day. Other
sources publish everything at the end of the run: their staged files are sorted by day in small
row groups, and each publishing thread reads a group of consecutive days from every staged file
at once, only the row groups that hold them (a source whose every batch spans every day, the
Facebook export, would otherwise read each staged file whole once per day).
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from analytics_framework.storage.lake import DAY_KEY, Lake, Partition
from analytics_framework.storage.query import connect

SORT_KEYS = {
    "conversations": ["started_at", "conversation_id"],
    "messages": ["conversation_id", "sent_at", "message_id"],
    "stage_changes": ["conversation_id", "changed_at", "stage"],
    "replies": ["conversation_id", "replied_at"],
}
"""Row order inside a partition file, so the same content is always written the same way."""

UPSERT_KEY = "conversation_id"

DAY_OF_ROW = (
    pl.col("year").cast(pl.Int32) * 10_000
    + pl.col("month").cast(pl.Int32) * 100
    + pl.col("day").cast(pl.Int32)
)
"""A row's partition day as one ``YYYYMMDD`` integer, Int32 (:func:`~.lake.day_key` over
columns; the staged files' ``DAY_KEY``)."""

CHUNK_ROWS = 25_000
"""About the most staged rows a publishing thread reads at once (``PartitionLoader._chunks``)."""

STAGED_ROW_GROUP = 512
"""Most rows per row group of a staged file not kept in memory (sorted by day): a day's rows
are read from the few row groups that hold it."""

STAGED_GROUPS = 16
"""Row groups a smaller staged file is cut into (at least 64 rows each): a batch of 1,000
conversations spanning a year is 16 groups of about 23 days, so a thread publishing a quarter
reads a quarter of it, not the whole file (:func:`staged_row_group`)."""


def staged_row_group(rows: int) -> int:
    """Return the row-group size of a staged file of ``rows`` rows (not kept in memory)."""
    return min(STAGED_ROW_GROUP, max(64, -(-rows // STAGED_GROUPS)))


class PartitionLoader:
    """Stages batches and publishes partitions of one load.

    Args:
        lake: where to write.
        load_id: unique id of this load; names the staging folder.
        keep_in_memory: also keep staged frames in memory until published, so publishing
            need not read them back. Right for ordered sources, whose staging stays small;
            an unordered source would hold its whole input.
        workers: partitions published at once, by a pool of threads (``--workers``). Each
            partition is its own file, written to a temporary name and renamed, so the order
            in which they appear does not matter: until the batch's state is committed, a
            crash leaves staged batches that the next run publishes again (idempotently).
    """

    def __init__(
        self, lake: Lake, load_id: str, keep_in_memory: bool = False, workers: int = 1
    ) -> None:
        self.lake = lake
        self.load_id = load_id
        self.keep_in_memory = keep_in_memory
        self.workers = max(1, workers)
        # staged file -> (table, partitions it still holds unpublished)
        self._staged: dict[str, tuple[str, set[Partition]]] = {}
        # staged file -> its row groups' lowest and highest days and rows (row_group_days),
        # read once when it is first published from; None: no statistics, read whole
        self._groups: dict[str, list[tuple[int, int, int]] | None] = {}
        # staged file -> its rows per partition not yet published (keep_in_memory)
        self._frames: dict[str, dict[Partition, pl.DataFrame]] = {}
        self.published: list[Partition] = []
        # conversations this load put in a partition they were not in before; on a lake that
        # held none at the start, nothing can have moved
        self.placed: dict[str, Partition] = {}
        self.track_moves = lake.exists("conversations")

    def staging_path(self, *parts: str) -> str:
        """Path under this load's staging folder."""
        return self.lake.path("_staging", self.load_id, *parts)

    def stage(self, seq: int, tables: dict[str, pl.DataFrame]) -> set[Partition]:
        """Durably stage one batch; returns the partitions it touches.

        Kept in memory (an ordered source), a batch is written as it is; otherwise sorted by
        day in row groups of at most :data:`STAGED_ROW_GROUP` rows (:func:`staged_row_group`),
        so that publishing a few days reads only the row groups that hold them.

        Args:
            seq: the batch's sequence number in this load.
            tables: table name → rows carrying ``year``/``month``/``day`` columns.
        """
        touched: set[Partition] = set()
        for table, frame in tables.items():
            if frame.height == 0:
                continue
            by_day = frame.partition_by("year", "month", "day", as_dict=True, maintain_order=True)
            parts = {Partition(*day) for day in by_day}  # type: ignore[misc]
            path = self.staging_path(table, f"batch-{seq:06d}.parquet")
            if self.keep_in_memory:
                self.lake.write_parquet(path, frame, compression="lz4")
                self._frames[path] = {Partition(*day): rows for day, rows in by_day.items()}  # type: ignore[misc]
            else:
                self.lake.write_parquet(
                    path,
                    pl.concat([by_day[day] for day in sorted(by_day)]).with_columns(
                        DAY_OF_ROW.alias(DAY_KEY)
                    ),
                    compression="lz4",
                    row_group_size=staged_row_group(frame.height),
                )
            self._staged[path] = (table, parts)
            touched |= parts
        return touched

    def pending(self) -> set[Partition]:
        """Partitions staged and not yet published."""
        out: set[Partition] = set()
        for _table, parts in self._staged.values():
            out |= parts
        return out

    def publish(self, before: Partition | None = None) -> list[Partition]:
        """Publish staged partitions (all, or only those strictly before ``before``).

        Returns:
            The partitions published, sorted.
        """
        todo = sorted(p for p in self.pending() if before is None or p < before)
        if not todo:
            return []
        by_table: dict[str, dict[Partition, list[str]]] = defaultdict(lambda: defaultdict(list))
        for path, (table, parts) in self._staged.items():
            for part in parts & set(todo):
                by_table[table][part].append(path)
        work = [
            (table, chunk)
            for table, parts in by_table.items()
            for chunk in self._chunks(sorted(parts.items()))
        ]
        if self.workers > 1 and len(work) > 1:  # polars writes outside the GIL
            pool = ThreadPoolExecutor(min(self.workers, len(work)), thread_name_prefix="publish")
            try:
                futures = [pool.submit(self._publish_chunk, *job) for job in work]
                done = [f.result() for f in futures]  # in work order; the first error raises
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)  # the rest is not started
                raise
            pool.shutdown(wait=True)
        else:
            done = [self._publish_chunk(*job) for job in work]
        for part, ids in (one for chunk in done for one in chunk):
            for cid in ids:  # in work order, as one thread would: the last placement wins
                self.placed[cid] = part
        for path in list(self._staged):
            table, parts = self._staged[path]
            parts.difference_update(todo)
            kept = self._frames.get(path)
            for part in todo if kept is not None else ():
                kept.pop(part, None)  # type: ignore[union-attr]
            if not parts:
                self.lake.delete(path)
                del self._staged[path]
                self._groups.pop(path, None)
                self._frames.pop(path, None)
        self.published.extend(todo)
        return todo

    def _chunks(
        self, items: list[tuple[Partition, list[str]]]
    ) -> list[list[tuple[Partition, list[str]]]]:
        """Group one table's partitions to publish into the units of work of the thread pool.

        A partition whose rows are all in memory is a unit of its own. Partitions read from
        staged files are grouped, consecutive days, about :data:`CHUNK_ROWS` staged rows (at
        the files' average rows per day) and at most an equal share of the days per thread,
        so that each staged file is opened once per group instead of once per day: a source
        whose every batch spans the whole range (the Facebook export, published at the end)
        would otherwise read every staged file whole once per day.
        """
        chunks: list[list[tuple[Partition, list[str]]]] = []
        share = max(1, -(-len(items) // self.workers))  # at most: every thread gets a share
        staged = {p for _, paths in items for p in paths if p not in self._frames}
        per_day = sum(self._staged_rows(p) for p in staged) / max(len(items), 1)
        days = max(1, min(share, int(CHUNK_ROWS // max(per_day, 1))))
        open_group = False
        for part, paths in items:
            if all(p in self._frames for p in paths):
                chunks.append([(part, paths)])
                open_group = False
                continue
            if not open_group or len(chunks[-1]) >= days:
                chunks.append([])
                open_group = True
            chunks[-1].append((part, paths))
        return chunks

    def _publish_chunk(
        self, table: str, chunk: list[tuple[Partition, list[str]]]
    ) -> list[tuple[Partition, list[str]]]:
        """Publish the partitions of ``chunk`` in turn, reading each staged file once for all.

        Returns each partition and the conversations new to it (:meth:`_publish_one`).
        """
        wanted: dict[str, list[Partition]] = defaultdict(list)
        for part, paths in chunk:
            for path in paths:
                if path not in self._frames:
                    wanted[path].append(part)
        read: dict[Partition, pl.DataFrame] = {}
        if wanted:
            # one frame of the chunk's rows from every staged file (in file order), cut once
            # by day: a frame per file and day would be thousands of tiny frames, each column
            # its own allocations (a Facebook export's 48 batches x 366 days held 400 MiB)
            frames = [self._read_days(path, parts) for path, parts in sorted(wanted.items())]
            merged = pl.concat(frames, how="diagonal_relaxed")
            del frames
            by_day = merged.partition_by("year", "month", "day", as_dict=True)
            del merged
            read = {Partition(*day): rows for day, rows in by_day.items()}  # type: ignore[misc]
        return [self._publish_one(table, part, paths, read.get(part)) for part, paths in chunk]

    def _publish_one(
        self,
        table: str,
        part: Partition,
        paths: list[str],
        read: pl.DataFrame | None,
    ) -> tuple[Partition, list[str]]:
        """Merge the staged rows of ``part`` into ``table``'s partition file and write it.

        ``read``: the rows of ``part`` read from its staged files that are not kept in memory,
        or None when there are none.

        Returns ``part`` and the conversations new to it (tracked moves; none for other tables):
        the caller records them, in order, once every partition of the batch is written.
        """
        # by name: a resumed load's re-read files may predate a column its new batches have
        kept = [self._frames[p][part] for p in sorted(paths) if p in self._frames]
        new = pl.concat(kept + ([read] if read is not None else []), how="diagonal_relaxed").drop(
            "year", "month", "day"
        )
        old = self.lake.read_partition(table, part)
        if old is not None and old.height:
            keep = old.join(new.select(UPSERT_KEY).unique(), on=UPSERT_KEY, how="anti")
            new = pl.concat([keep, new], how="diagonal_relaxed")  # columns added since kept
        self.lake.write_partition(table, part, new.sort(SORT_KEYS[table]))
        if table != "conversations" or not self.track_moves:
            return part, []
        arrived = (  # new to this partition: may have moved from another
            new[UPSERT_KEY]
            if old is None
            else new.join(old.select(UPSERT_KEY), on=UPSERT_KEY, how="anti")[UPSERT_KEY]
        )
        return part, arrived.to_list()

    def _read_days(self, path: str, parts: list[Partition]) -> pl.DataFrame:
        """Read the rows of ``parts`` from a staged file: only the row groups that may hold them.

        All of it when the file has no statistics; either way only those days' rows are kept,
        without :data:`DAY_KEY` (files staged before it existed have none).
        """
        keys = [p.key for p in parts]
        groups = self._row_groups(path)
        if groups is None:
            frame = self.lake.read_file(path)
        else:
            chosen = [i for i, (lo, hi, _) in enumerate(groups) if any(lo <= k <= hi for k in keys)]
            frame = self.lake.read_row_groups(path, chosen)
        return frame.filter(DAY_OF_ROW.is_in(keys)).drop(DAY_KEY, strict=False)

    def _row_groups(self, path: str) -> list[tuple[int, int, int]] | None:
        """Return a staged file's row groups' day bounds and rows, read once (its footer)."""
        if path not in self._groups:
            self._groups[path] = self.lake.row_group_days(path)
        return self._groups[path]

    def _staged_rows(self, path: str) -> int:
        """Return how many rows a staged file holds (from its footer)."""
        groups = self._row_groups(path)
        return 0 if groups is None else sum(rows for _, _, rows in groups)

    def adopt(self) -> int:
        """Take over the batches this load staged before it was interrupted.

        Every complete staged file (each was written atomically; temporary files are ignored)
        is registered with the partitions it holds, so the next :meth:`publish` or
        :meth:`finish` merges it. Returns the number of files adopted.
        """
        adopted = 0
        for path in self.lake.list_files(self.staging_path()):
            name = path.rsplit("/", 1)[-1]
            if (
                not (name.startswith("batch-") and name.endswith(".parquet"))
                or path in self._staged
            ):
                continue
            table = path.rsplit("/", 2)[-2]
            days = self.lake.read_file(path, ["year", "month", "day"]).unique()
            self._staged[path] = (table, {Partition(*row) for row in days.iter_rows()})
            adopted += 1
        return adopted

    def recover(self) -> int:
        """Publish everything an interrupted load left staged, then drop its staging folder.

        Staged batches are durable and their rows upsert idempotently, so publishing them is
        safe even when the next run loads the same conversations again. Returns the number of
        staged files found.
        """
        found = self.adopt()
        self.finish()
        return found

    def remove_moved(self) -> int:
        """Delete older copies of conversations that this load placed in another partition.

        A conversation's partition is its start day; a late message sent *before* its first one
        moves it to an earlier day. Its new version is published there, and here its old rows
        are removed from the old partition (both tables), so the lake never holds a conversation
        twice. Returns the number of conversations moved.
        """
        if not self.placed:
            return 0
        con = connect(self.lake)
        try:
            con.register(
                "placed",
                pl.DataFrame(
                    {
                        "conversation_id": list(self.placed),
                        "py": [p.year for p in self.placed.values()],
                        "pm": [p.month for p in self.placed.values()],
                        "pd": [p.day for p in self.placed.values()],
                    }
                ).to_arrow(),
            )
            rows = con.execute(
                "SELECT c.conversation_id, c.year, c.month, c.day FROM conversations c "
                "JOIN placed p USING (conversation_id) "
                "WHERE (c.year, c.month, c.day) <> (p.py, p.pm, p.pd)"
            ).fetchall()
        finally:
            con.close()
        stale: dict[Partition, set[str]] = defaultdict(set)
        for cid, y, m, d in rows:
            stale[Partition(y, m, d)].add(cid)
        for part, ids in sorted(stale.items()):
            for table in ("conversations", "messages", "labels", "stage_changes", "replies"):
                old = self.lake.read_partition(table, part)
                if old is None:
                    continue
                kept = old.filter(~pl.col(UPSERT_KEY).is_in(list(ids)))
                if kept.height != old.height:
                    self.lake.write_partition(table, part, kept)
        return len(rows)

    def finish(self) -> list[Partition]:
        """Publish everything still staged and remove the staging folder."""
        done = self.publish()
        self.lake.delete(self.staging_path())
        return done
