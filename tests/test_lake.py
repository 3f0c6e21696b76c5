"""Loading is idempotent and partitions are replaced whole."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from analytics_framework.pipeline import collect
from analytics_framework.settings import load_settings
from analytics_framework.sources.files import FilesSource
from analytics_framework.sources.twcs import TwcsSource
from analytics_framework.storage.lake import Lake, Partition


def lake_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def snapshot(lake: Lake) -> dict[str, pl.DataFrame]:
    return {
        "conversations": lake.read_table("conversations").sort("conversation_id"),
        "messages": lake.read_table("messages").sort("message_id"),
    }


def test_collect_twice_gives_the_same_lake(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    collect(TwcsSource(None, load_settings()), lake, batch_size=100)
    first, files = snapshot(lake), lake_files(tmp_path / "lake")
    collect(TwcsSource(None, load_settings()), lake, batch_size=333)  # other batch cuts too
    second = snapshot(lake)
    assert lake_files(tmp_path / "lake") == files
    assert not any("_staging" in f or f.endswith(".tmp") for f in files)
    for table in first:
        assert first[table].equals(second[table]), table
    assert second["messages"]["message_id"].is_duplicated().sum() == 0


def test_every_partition_is_one_file_named_by_day(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    collect(TwcsSource(None, load_settings()), lake)
    files = lake_files(tmp_path / "lake")
    assert "conversations/year=2017/month=10/day=31/part-0.parquet" in files
    assert all(f.endswith("/part-0.parquet") for f in files)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    pl.DataFrame(rows).write_ndjson(path)


def test_reloading_a_conversation_with_a_late_message_replaces_it(tmp_path):
    base = [
        {
            "conversation_id": "c1",
            "sent_at": "2024-03-04T09:00:00Z",
            "role": "customer",
            "text": "hi",
            "message_id": "m1",
        },
        {
            "conversation_id": "c2",
            "sent_at": "2024-03-04T10:00:00Z",
            "role": "customer",
            "text": "hello",
            "message_id": "m3",
        },
    ]
    late = base + [
        {
            "conversation_id": "c1",
            "sent_at": "2024-03-04T09:05:00Z",
            "role": "agent",
            "text": "hey",
            "message_id": "m2",
        }
    ]
    lake = Lake(str(tmp_path / "lake"))
    write_jsonl(tmp_path / "a.jsonl", base)
    collect(FilesSource(str(tmp_path / "a.jsonl"), load_settings()), lake)
    write_jsonl(tmp_path / "a.jsonl", late[:1] + late[2:])  # only c1, now with its reply
    collect(FilesSource(str(tmp_path / "a.jsonl"), load_settings()), lake)
    conv = lake.read_table("conversations").sort("conversation_id")
    assert conv["conversation_id"].to_list() == ["files:c1", "files:c2"]  # c2 kept
    assert conv["first_response_s"].to_list() == [300.0, None]
    assert lake.read_table("messages").height == 3


def test_timezone_moves_the_partition_day(tmp_path):
    rows = [
        {
            "conversation_id": "c",
            "sent_at": "2024-03-04T23:30:00Z",
            "role": "customer",
            "text": "late",
        }
    ]
    write_jsonl(tmp_path / "a.jsonl", rows)
    lake = Lake(str(tmp_path / "lake"))
    collect(FilesSource(str(tmp_path / "a.jsonl"), load_settings()), lake, timezone="Europe/Paris")
    assert [str(p) for p in lake.partitions("conversations")] == ["2024-03-05"]


def test_a_conversation_whose_start_moves_earlier_leaves_no_copy_behind(tmp_path):
    """A late message sent before the first one moves the conversation to an earlier day."""
    import json

    from analytics_framework.storage.lake import Partition

    def write(rows):
        (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")

    base = [
        {
            "conversation_id": "c1",
            "sent_at": "2024-03-05T09:00:00Z",
            "role": "customer",
            "text": "hello?",
            "message_id": "m2",
        },
        {
            "conversation_id": "c1",
            "sent_at": "2024-03-05T09:05:00Z",
            "role": "agent",
            "text": "hi",
            "message_id": "m3",
        },
        {
            "conversation_id": "c2",
            "sent_at": "2024-03-05T10:00:00Z",
            "role": "customer",
            "text": "other",
            "message_id": "m9",
        },
    ]
    lake = Lake(str(tmp_path / "lake"))
    write(base)
    collect(FilesSource(str(tmp_path / "a.jsonl"), load_settings()), lake)
    early = {
        "conversation_id": "c1",
        "sent_at": "2024-03-04T23:00:00Z",
        "role": "customer",
        "text": "first try",
        "message_id": "m1",
    }
    write([early, *base])
    summary = collect(FilesSource(str(tmp_path / "a.jsonl"), load_settings()), lake)
    assert summary.moved == 1
    conv = lake.read_table("conversations")
    assert conv["conversation_id"].to_list().count("files:c1") == 1
    moved = conv.filter(pl.col("conversation_id") == "files:c1").row(0, named=True)
    assert (moved["year"], moved["month"], moved["day"]) == (2024, 3, 4)
    assert moved["message_count"] == 3
    msgs = lake.read_table("messages")
    assert msgs.height == 4 and msgs["message_id"].n_unique() == 4
    day5 = lake.read_partition("conversations", Partition(2024, 3, 5))
    assert day5["conversation_id"].to_list() == ["files:c2"]  # c2 untouched


def test_files_written_before_a_column_existed_read_it_as_null(tmp_path: Path):
    """A lake mixing files with and without a column is read by name; a uniform one by position."""
    from analytics_framework.storage.lake import Partition
    from analytics_framework.storage.query import connect

    lake = Lake(str(tmp_path / "lake"))
    new = pl.DataFrame({"conversation_id": ["b"], "n": [2], "added": ["x"]})
    lake.write_partition("conversations", Partition(2024, 3, 5), new)
    con = connect(lake)
    assert con.execute("SELECT conversation_id, n, added FROM conversations").fetchall() == [
        ("b", 2, "x")
    ]
    lake.write_partition(
        "conversations",
        Partition(2024, 3, 4),
        new.drop("added").with_columns(conversation_id=pl.lit("a"), n=pl.lit(1)),
    )
    con = connect(lake)
    got = con.execute(
        "SELECT conversation_id, n, added, day FROM conversations ORDER BY conversation_id"
    ).fetchall()
    assert got == [("a", 1, None, 4), ("b", 2, "x", 5)]


def test_an_unordered_load_publishes_each_day_exactly_from_batches_spanning_every_day(tmp_path):
    """Batches that each span every day (as a Facebook export's do) are staged sorted by day in
    small row groups and published a group of days at a time: every partition must get exactly
    its rows, from every batch, and the staging folder must be gone."""
    from analytics_framework.storage.loader import STAGED_ROW_GROUP, PartitionLoader

    lake = Lake(str(tmp_path / "lake"))
    loader = PartitionLoader(lake, "load-1", keep_in_memory=False, workers=3)
    days = 12
    rows_per_batch = 3 * STAGED_ROW_GROUP + 17  # several row groups, days straddling them
    expected: dict[int, set[str]] = {d: set() for d in range(1, days + 1)}
    for seq in range(3):
        ids = [f"c{seq}-{i}" for i in range(rows_per_batch)]
        day = [(i * 7 + seq) % days + 1 for i in range(rows_per_batch)]  # scattered, unsorted
        for cid, d in zip(ids, day, strict=True):
            expected[d].add(cid)
        frame = pl.DataFrame(
            {
                "conversation_id": ids,
                "started_at": [f"2024-03-{d:02d}T10:00:00" for d in day],
                "year": [2024] * rows_per_batch,
                "month": [3] * rows_per_batch,
                "day": day,
            }
        ).with_columns(pl.col("year", "month", "day").cast(pl.Int32))
        loader.stage(seq, {"conversations": frame})
    staged = lake.list_files(loader.staging_path())
    assert len(staged) == 3
    assert len(lake.row_group_days(staged[0]) or []) > 1  # read by row group, not whole
    loader.finish()
    for d, ids in expected.items():
        got = lake.read_partition("conversations", Partition(2024, 3, d))
        assert got is not None and set(got["conversation_id"]) == ids
        assert got.height == len(ids)
    assert lake.list_files(loader.staging_path()) == []


def day_sorted_conversations(days: list[date], per_day: int) -> pl.DataFrame:
    """``per_day`` conversations on each of ``days``, in day order, with partition columns."""
    rows = [(f"c{d:%m%d}-{i}", d) for d in days for i in range(per_day)]
    return pl.DataFrame(
        {
            "conversation_id": [cid for cid, _ in rows],
            "started_at": [f"{d}T10:00:00" for _, d in rows],
            "year": [d.year for _, d in rows],
            "month": [d.month for _, d in rows],
            "day": [d.day for _, d in rows],
        }
    ).with_columns(pl.col("year", "month", "day").cast(pl.Int32))


def test_staged_row_groups_that_cross_a_month_are_read_only_for_their_own_days(tmp_path):
    """A staged row group from 30 January to 2 February holds no 15 January: publishing that
    day must not read it (per-column statistics would bound it as 1 January to 30 February)."""
    from analytics_framework.storage.loader import PartitionLoader, staged_row_group

    lake = Lake(str(tmp_path / "lake"))
    loader = PartitionLoader(lake, "load-1", keep_in_memory=False)
    days = [date(2024, 1, 15) + timedelta(days=i) for i in range(80)]  # 15 Jan ... 3 Apr
    size = staged_row_group(80 * 256)
    per_day = size // 4  # each row group spans four days
    frame = day_sorted_conversations(days, per_day)
    assert staged_row_group(frame.height) == size
    loader.stage(0, {"conversations": frame})
    (path,) = lake.list_files(loader.staging_path())
    bounds = lake.row_group_days(path)
    assert bounds is not None and len(bounds) == 20
    assert bounds[3][:2] == (20240127, 20240130) and bounds[4][:2] == (20240131, 20240203)
    got = loader._read_days(path, [Partition(2024, 1, 15)])
    assert got.height == per_day and set(got["day"]) == {15}  # one group read, its day kept
    loader.finish()
    for d in days:
        part = lake.read_partition("conversations", Partition(d.year, d.month, d.day))
        assert part is not None and part.height == per_day
        assert "_day_key" not in part.columns  # the staging key never reaches the lake


def test_a_staged_file_written_before_the_day_key_is_still_published_exactly(tmp_path):
    """A load interrupted under an older version left staged files without ``_day_key``: the
    resumed load adopts them, stages its own batches beside them, and publishes each day's rows
    from both (the old file's bounds from the per-column statistics)."""
    from analytics_framework.storage.loader import STAGED_ROW_GROUP, PartitionLoader

    lake = Lake(str(tmp_path / "lake"))
    loader = PartitionLoader(lake, "load-1")
    days = [date(2024, 1, 29) + timedelta(days=i) for i in range(6)]  # across 1 February
    frame = day_sorted_conversations(days, STAGED_ROW_GROUP // 2)
    path = loader.staging_path("conversations", "batch-000000.parquet")
    lake.write_parquet(path, frame, compression="lz4", row_group_size=STAGED_ROW_GROUP)
    resumed = PartitionLoader(lake, "load-1")
    assert resumed.adopt() == 1
    later = day_sorted_conversations(days, 3).with_columns(
        pl.col("conversation_id").str.replace("^c", "later-")
    )
    resumed.stage(1, {"conversations": later})  # staged by this version, beside the old file
    resumed.finish()
    for d in days:
        part = lake.read_partition("conversations", Partition(d.year, d.month, d.day))
        assert part is not None and part.height == STAGED_ROW_GROUP // 2 + 3
        assert part.columns == frame.drop("year", "month", "day").columns
    assert lake.list_files(loader.staging_path()) == []


def test_a_resumed_ordered_load_publishes_its_kept_and_its_re_read_batches_together(tmp_path):
    """An ordered load keeps its batches in memory; resumed, it re-reads the batches it staged
    before (adopted from disk). A day held by both gets the rows of both, even when the older
    file lacks a column the newer batch has."""
    from analytics_framework.storage.loader import PartitionLoader

    lake = Lake(str(tmp_path / "lake"))
    days = [date(2024, 3, 4), date(2024, 3, 5)]
    before = PartitionLoader(lake, "load-1", keep_in_memory=True)
    before.stage(0, {"conversations": day_sorted_conversations(days, 4)})
    resumed = PartitionLoader(lake, "load-1", keep_in_memory=True)
    assert resumed.adopt() == 1
    later = day_sorted_conversations(days, 2).with_columns(
        pl.col("conversation_id").str.replace("^c", "later-"), stage=pl.lit("qualified")
    )
    resumed.stage(1, {"conversations": later})
    resumed.finish()
    for d in days:
        part = lake.read_partition("conversations", Partition(d.year, d.month, d.day))
        assert part is not None and part.height == 6
        assert part.filter(pl.col("stage").is_not_null()).height == 2
