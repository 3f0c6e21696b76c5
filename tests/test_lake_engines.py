"""The lake as other engines read it: pyarrow datasets and DuckDB, with Hive partitioning.

Spark, Trino and Athena read the same layout (README "The lake for other engines"): every table
is ``<table>/year=YYYY/month=MM/day=DD/part-0.parquet``, the partition columns are integers that
are not stored in the files. Reading each table through pyarrow's dataset API and through DuckDB
must give the rows the project's own reader gives, partition columns included.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.model import STAGE_CHANGE_SCHEMA
from analytics_framework.storage.lake import Lake, Partition

TABLES = ("conversations", "messages", "replies", "labels", "stage_changes")
PARTITIONING = pa.schema([("year", pa.int32()), ("month", pa.int32()), ("day", pa.int32())])


def own_rows(lake: Lake, table: str) -> pl.DataFrame:
    """The table as the project reads it, partition by partition, with year/month/day."""
    frames = []
    for p in lake.partitions(table):
        frame = lake.read_partition(table, p)
        assert frame is not None
        frames.append(
            frame.with_columns(
                year=pl.lit(p.year, pl.Int32),
                month=pl.lit(p.month, pl.Int32),
                day=pl.lit(p.day, pl.Int32),
            )
        )
    return pl.concat(frames)


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    cols = sorted(frame.columns)
    return frame.select(cols).sort([c for c in cols if frame[c].dtype != pl.List])


def test_pyarrow_and_duckdb_read_every_table_as_the_project_does(in_tmp):
    run = CliRunner().invoke(app, ["collect", "--no-mongodb"])  # the bundled sample, labeled
    assert run.exit_code == 0, run.output
    lake = Lake("lake")
    first = lake.partitions("conversations")[0]
    conv = lake.read_partition("conversations", first)
    stages = pl.DataFrame(
        {
            "conversation_id": [conv["conversation_id"][0]] * 2,
            "source": ["twcs", "twcs"],
            "org_id": [conv["org_id"][0]] * 2,
            "stage": ["new", "qualified"],
            "previous_stage": [None, "new"],
            "changed_at": [datetime(2017, 10, 1, 9, tzinfo=UTC), datetime(2017, 10, 2, tzinfo=UTC)],
            "changed_by": [None, "agent1"],
        },
        schema=STAGE_CHANGE_SCHEMA,
    )
    lake.write_partition("stage_changes", first, stages)
    for table in TABLES:
        ours = canonical(own_rows(lake, table))
        assert ours.height > 0
        files = sorted((in_tmp / "lake" / table).rglob("*.parquet"))
        assert all(
            f.relative_to(in_tmp / "lake" / table).parts[0].startswith("year=") for f in files
        )
        assert "year" not in pq.read_schema(files[0]).names  # partition values live in paths
        dataset = pads.dataset(
            f"lake/{table}",
            format="parquet",
            partitioning=pads.partitioning(PARTITIONING, flavor="hive"),
        )
        arrow = canonical(pl.from_arrow(dataset.to_table()))
        assert arrow.equals(ours), table
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        duck = con.execute(
            f"SELECT * FROM read_parquet('lake/{table}/*/*/*/*.parquet', hive_partitioning = true,"
            " hive_types = {'year': INTEGER, 'month': INTEGER, 'day': INTEGER})"
        ).pl()
        duck = canonical(duck)
        assert duck.equals(ours), table
    assert Partition(first.year, first.month, first.day) in lake.partitions("stage_changes")
