"""``status``'s partition counts: counted once per partition file, kept while the file stays.

A user runs ``analytics status`` from cron and by hand over years of daily partitions; the
counts must be the lake's, whatever was rewritten, added or deleted since the last run, and a
second run must not open the partitions it already counted.
"""

from __future__ import annotations

import json
import os
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.storage import counts
from analytics_framework.storage.counts import CountCache, day_counts
from analytics_framework.storage.lake import Lake, Partition

OLD = time.time_ns() - 3600 * 10**9  # an hour ago: older than counts.FRESH_S


def write(lake: Lake, table: str, day: int, ids: list[str], status: list[str] | None = None):
    """Write one partition of March 2024 and date its file an hour back (so it can be kept)."""
    columns: dict = {"conversation_id": ids}
    if status is not None:
        columns["status"] = status
    lake.write_partition(table, Partition(2024, 3, day), pl.DataFrame(columns))
    path = lake.partition_file(table, Partition(2024, 3, day))
    os.utime(path, ns=(OLD + day, OLD + day))
    return Path(path)


def counted(monkeypatch) -> list[list[str]]:
    """Record the files each DuckDB count reads (the real count still runs)."""
    calls: list[list[str]] = []
    real = counts._count

    def spy(lake, table, paths, source):
        calls.append(sorted(Path(p).parent.name for p in paths))
        return real(lake, table, paths, source)

    monkeypatch.setattr(counts, "_count", spy)
    return calls


@pytest.fixture(params=["pyarrow", "duckdb"])
def reader(request, monkeypatch):
    """Count missed partitions with pyarrow (a few files) or DuckDB (many): the same counts."""
    monkeypatch.setattr(counts, "FEW_FILES", 16 if request.param == "pyarrow" else 0)
    return request.param


def test_counts_per_pipeline_and_day_then_only_what_changed(tmp_path, monkeypatch, reader):
    lake = Lake(str(tmp_path / "lake"))
    write(lake, "conversations", 4, ["files:a", "files:b", "twcs:c"])
    write(lake, "conversations", 5, ["twcs:d"])
    write(lake, "conversations", 6, ["files:e"])
    cache_file = tmp_path / "state" / "cache" / "partition-counts.json"
    calls = counted(monkeypatch)

    cache = CountCache(cache_file, lake.uri)
    assert day_counts(lake, "conversations", "files", None, None, cache) == {
        date(2024, 3, 4): 2,
        date(2024, 3, 6): 1,
    }
    assert day_counts(lake, "conversations", "twcs", None, None, cache) == {
        date(2024, 3, 4): 1,
        date(2024, 3, 5): 1,
    }
    cache.save()
    assert calls == [["day=04", "day=05", "day=06"]]  # the second pipeline came from memory

    # a later run: one day rewritten (a new file, renamed over the old), one deleted, one new
    write(lake, "conversations", 5, ["files:f", "files:g", "twcs:d"])
    lake.delete(lake.path("conversations", Partition(2024, 3, 6).path))
    write(lake, "conversations", 7, ["files:h"])
    again = CountCache(cache_file, lake.uri)
    assert day_counts(lake, "conversations", "files", None, None, again) == {
        date(2024, 3, 4): 2,
        date(2024, 3, 5): 2,
        date(2024, 3, 7): 1,
    }
    assert calls[1:] == [["day=05", "day=07"]]
    again.save()
    kept = json.loads(cache_file.read_text())["tables"]["conversations"]
    assert sorted(kept) == ["2024-03-04", "2024-03-05", "2024-03-07"]  # day 6 is forgotten

    # a range reads only its own days, and nothing at all once they are kept
    third = CountCache(cache_file, lake.uri)
    assert day_counts(lake, "conversations", "twcs", date(2024, 3, 5), date(2024, 3, 6), third) == {
        date(2024, 3, 5): 1
    }
    assert len(calls) == 2


def test_only_current_labels_count_and_ids_without_a_pipeline_prefix_none(tmp_path, reader):
    lake = Lake(str(tmp_path / "lake"))
    ids = ["files:a", "files:b", "files:c", None, "twcs:d", "files"]
    write(lake, "labels", 4, ids, ["labeled", "failed", None, "labeled", "labeled", "labeled"])
    write(lake, "labels", 5, ["files:e"], ["failed"])
    assert day_counts(lake, "labels", "files", None, None) == {date(2024, 3, 4): 1}
    assert day_counts(lake, "labels", "twcs", None, None) == {date(2024, 3, 4): 1}


def test_a_kept_partition_is_not_opened_again(tmp_path, monkeypatch, reader):
    # lake files are replaced, never changed in place: same path, size and time, same rows
    lake = Lake(str(tmp_path / "lake"))
    path = write(lake, "labels", 4, ["files:a", "files:b"], ["labeled", "failed"])
    cache = CountCache(tmp_path / "c.json", lake.uri)
    assert day_counts(lake, "labels", "files", None, None, cache) == {date(2024, 3, 4): 1}
    cache.save()
    stat = path.stat()
    path.write_bytes(b"\0" * stat.st_size)  # unreadable now, but same size and time
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    calls = counted(monkeypatch)
    again = CountCache(tmp_path / "c.json", lake.uri)
    assert day_counts(lake, "labels", "files", None, None, again) == {date(2024, 3, 4): 1}
    assert calls == []


def test_a_fresh_partition_is_counted_every_time_until_it_is_old_enough(tmp_path, monkeypatch):
    # S3 gives modification times to the second: a file just written may be replaced within it
    lake = Lake(str(tmp_path / "lake"))
    write(lake, "conversations", 4, ["files:a"])
    lake.write_partition(
        "conversations", Partition(2024, 3, 5), pl.DataFrame({"conversation_id": ["files:b"]})
    )
    calls = counted(monkeypatch)
    for _ in range(2):
        cache = CountCache(tmp_path / "c.json", lake.uri)
        assert day_counts(lake, "conversations", "files", None, None, cache) == {
            date(2024, 3, 4): 1,
            date(2024, 3, 5): 1,
        }
        cache.save()
    assert calls == [["day=04", "day=05"], ["day=05"]]


def test_a_broken_or_foreign_cache_is_ignored_and_an_unwritable_one_not_kept(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    write(lake, "conversations", 4, ["files:a"])
    expected = {date(2024, 3, 4): 1}
    bad = tmp_path / "bad.json"
    for text in ("{not json", "[]", json.dumps({"version": 99, "lake": lake.uri, "tables": {}})):
        bad.write_text(text)
        assert (
            day_counts(lake, "conversations", "files", None, None, CountCache(bad, lake.uri))
            == expected
        )
    other = tmp_path / "other.json"
    first = CountCache(other, "/some/other/lake")
    first.store("conversations", date(2024, 3, 4), [["part-0.parquet", 1, 1]], {"files": 99})
    first.save()
    assert (
        day_counts(lake, "conversations", "files", None, None, CountCache(other, lake.uri))
        == expected
    )
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    cache = CountCache(blocked / "cache" / "partition-counts.json", lake.uri)
    assert day_counts(lake, "conversations", "files", None, None, cache) == expected
    cache.save()  # its folder cannot be made: nothing kept, nothing raised


def test_a_pipeline_name_with_a_colon_is_counted_by_its_own_prefix(tmp_path, reader):
    lake = Lake(str(tmp_path / "lake"))
    write(lake, "conversations", 4, ["a:b:1", "a:2", "a:b:3"])
    cache = CountCache(tmp_path / "c.json", lake.uri)
    assert day_counts(lake, "conversations", "a:b", None, None, cache) == {date(2024, 3, 4): 2}
    assert day_counts(lake, "conversations", "a", None, None, cache) == {date(2024, 3, 4): 3}


def test_status_twice_gives_the_same_grid_and_keeps_its_cache_out_of_the_pipelines(in_tmp):
    runner = CliRunner()
    assert runner.invoke(app, ["collect", "--no-enrich"]).exit_code == 0
    for folder, _, names in os.walk(in_tmp / "lake"):
        for name in names:  # as if collected an hour ago, so the counts are kept
            os.utime(Path(folder) / name, ns=(OLD, OLD))
    args = ["status", "--start-date", "2017-10-28", "--end-date", "2017-10-31", "--format", "json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    kept = list((in_tmp / "state").glob("*/cache/partition-counts.json"))
    assert len(kept) == 1
    second = runner.invoke(app, args)
    assert second.stdout == first.stdout
    (pipeline,) = json.loads(second.stdout)["pipelines"]  # the cache is not a pipeline
    assert [(c["day"], c["loaded"]) for c in pipeline["coverage"]] == [
        ("2017-10-28", 9),
        ("2017-10-29", 11),
        ("2017-10-30", 42),
    ]
