"""The same commands against real servers: the lake on S3 (moto), documents in MongoDB.

A user runs ``analytics run --lake s3://… --mongodb-uri …`` and must get exactly the report the
local lake gives, idempotent writes on both stores, and clean recovery from a killed run and
from MongoDB going away mid-run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import boto3
import polars as pl
from pymongo import MongoClient
from typer.testing import CliRunner

from analytics_cli.app import app
from analytics_framework.faults import ENV_VAR, EXIT_CODE
from analytics_framework.storage.query import connect, day_filter, day_params
from analytics_framework.storage.s3 import open_lake
from tests.integration.conftest import database_name
from tests.integration.services import start_mongo

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def rows(result) -> list[dict]:
    return json.loads(result.stdout[result.stdout.index("{") :])["rows"]


def same_rows(a: list[dict], b: list[dict]) -> bool:
    """Equal reports, value for value: the same lake gives the same report wherever it lives."""
    assert [r.keys() for r in a] == [r.keys() for r in b]
    for x, y in zip(a, b, strict=True):
        for k in x:
            assert x[k] == y[k], (x["period"], k)
    return True


def docs(uri: str, collection: str) -> list[dict]:
    with MongoClient(uri) as client:
        found = list(client[database_name()][collection].find().sort("_id"))
    for d in found:
        d.pop("computed_at", None)
        d.pop("labeled_at", None)
        if isinstance(d.get("labels"), dict):
            d["labels"].pop("labeled_at", None)
    return found


def s3_objects(lake_uri: str) -> dict[str, int]:
    bucket, prefix = lake_uri[len("s3://") :].split("/", 1)
    client = boto3.client("s3")
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if not key.endswith("/") and "/_staging/" not in key:
                out[key] = obj["Size"]
    return out


def lake_tables(lake_uri: str) -> dict[str, pl.DataFrame]:
    lake = open_lake(lake_uri, os.environ.get("AWS_ENDPOINT_URL"))
    return {
        "conversations": lake.read_table("conversations").sort("conversation_id"),
        "messages": lake.read_table("messages").sort("message_id"),
    }


def test_run_on_s3_and_mongodb_gives_the_local_report(s3, mongo_uri, monkeypatch):
    local = invoke("run", "--format", "json", "--lake", "local-lake", "--no-mongodb")
    assert local.exit_code == 0, local.output
    remote = invoke(
        "run",
        "--format",
        "json",
        "--lake",
        s3,
        "--mongodb-uri",
        mongo_uri,
        "--state-file",
        "state/s3.json",
    )
    assert remote.exit_code == 0, remote.output
    assert same_rows(rows(remote), rows(local))  # every metric of every month, with labels
    monkeypatch.setenv("ANALYTICS_DUCKDB_S3_READER", "pyarrow")  # the fallback reader
    fallback = invoke("report", "--period", "monthly", "--format", "json", "--lake", s3)
    assert same_rows(rows(fallback), rows(local))

    assert len(docs(mongo_uri, "conversation_analytics")) == 1312
    assert len(docs(mongo_uri, "conversation_messages")) == 5000
    conv = docs(mongo_uri, "conversation_analytics")[0]
    assert conv["labels"]["provider"] == "local" and "participants" in conv
    assert len(docs(mongo_uri, "conversation_categories")) == 1312
    reports = docs(mongo_uri, "analytics_reports")
    assert len(reports) == 1 and reports[0]["report"] == "overview"
    users = docs(mongo_uri, "user_analytics")
    customers = [u for u in users if u["kind"] == "customer"]
    assert customers and all(u["conversations"] >= 1 for u in customers)
    assert any(u["kind"] == "agent" for u in users)


def test_partition_filters_prune_files_on_s3(s3):
    assert invoke("collect", "--lake", s3, "--no-enrich").exit_code == 0
    lake = open_lake(s3, os.environ["AWS_ENDPOINT_URL"])
    total = len(lake.partitions("conversations"))
    con = connect(lake)
    plan = con.execute(
        # a value of every row, so the files are scanned (a count(*) comes from their footers)
        "EXPLAIN ANALYZE SELECT sum(length(conversation_id)) FROM conversations WHERE "
        + day_filter("", "lo", "hi"),
        {**day_params("lo", date(2017, 10, 30)), **day_params("hi", date(2017, 11, 2))},
    ).fetchall()
    text = "\n".join(str(r[1]) for r in plan)
    read = int(text.split("Total Files Read:")[1].split()[0])
    assert read == 3 and total == 49  # Oct 30, Oct 31 and Nov 1 (Nov 2 has no conversation)


def test_running_twice_writes_the_same_objects_and_documents(s3, mongo_uri):
    args = ["collect", "--lake", s3, "--mongodb-uri", mongo_uri, "--batch-size", "300"]
    assert invoke(*args).exit_code == 0
    objects, conversations = s3_objects(s3), docs(mongo_uri, "conversation_analytics")
    messages = docs(mongo_uri, "conversation_messages")
    assert invoke(*args, "--full-refresh", "--force-reprocess").exit_code == 0
    assert s3_objects(s3) == objects
    assert docs(mongo_uri, "conversation_analytics") == conversations
    assert docs(mongo_uri, "conversation_messages") == messages


def _cli(cwd: Path, *args: str, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "analytics_cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_killed_mid_load_then_rerun_gives_the_clean_result(s3, mongo_uri, in_tmp):
    args = ["collect", "--lake", s3, "--mongodb-uri", mongo_uri, "--batch-size", "200"]
    crashed = _cli(in_tmp, *args, "--no-enrich", env={ENV_VAR: "after_commit:3"})
    assert crashed.returncode == EXIT_CODE, crashed.stderr
    assert 0 < len(docs(mongo_uri, "conversation_analytics")) < 1312
    again = _cli(in_tmp, *args, "--no-enrich")
    assert again.returncode == 0, again.stderr
    got = lake_tables(s3)
    assert got["conversations"].height == 1312 and got["messages"].height == 5000
    assert got["conversations"]["conversation_id"].n_unique() == 1312
    assert len(docs(mongo_uri, "conversation_analytics")) == 1312
    assert len(docs(mongo_uri, "conversation_messages")) == 5000


def test_mongodb_stopped_mid_run_then_rerun_completes(s3, in_tmp, monkeypatch, tmp_path_factory):
    storage = tmp_path_factory.mktemp("mongo-data")
    server = start_mongo(storage)
    uri = f"mongodb://127.0.0.1:{server.port}/?directConnection=true"
    monkeypatch.setenv("MONGODB_DATABASE", "stopped")
    env = {"ANALYTICS_MONGODB_TIMEOUT_S": "2"}
    args = ["collect", "--lake", s3, "--mongodb-uri", uri, "--batch-size", "10", "--no-enrich"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "analytics_cli", *args],
        cwd=in_tmp,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    with MongoClient(uri) as client:
        while client["stopped"]["conversation_analytics"].count_documents({}) < 20:
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
            time.sleep(0.05)
    server.stop()  # MongoDB goes away mid-run
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    line = err.strip().splitlines()[-1]
    assert f"MongoDB at mongodb://127.0.0.1:{server.port}" in line and "re-run" in line
    assert "Traceback" not in err

    server = start_mongo(storage, port=server.port)  # it comes back, with its data
    try:
        again = _cli(in_tmp, *args, env=env)
        assert again.returncode == 0, again.stderr
        with MongoClient(uri) as client:
            db = client["stopped"]
            assert db["conversation_analytics"].count_documents({}) == 1312
            assert db["conversation_messages"].count_documents({}) == 5000
    finally:
        server.stop()


def test_doctor_reports_each_service(s3, mongo_uri, monkeypatch):
    ok = invoke("doctor", "--lake", s3, "--mongodb-uri", mongo_uri)
    assert ok.exit_code == 0, ok.output
    assert "everything is reachable" in ok.stdout and "httpfs" in ok.stdout
    monkeypatch.setenv("MONGODB_URI", "mongodb://user:hunter2@127.0.0.1:1/?directConnection=true")
    monkeypatch.setenv("ANALYTICS_MONGODB_TIMEOUT_S", "0.5")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")  # nothing listens there
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    bad = invoke("doctor", "--lake", s3, "--provider", "openai")
    assert bad.exit_code == 1
    out = bad.stdout
    assert "hunter2" not in out and "user:***@" in out  # the password never shows
    assert "openai API key" in out and "missing" in out and "OPENAI_API_KEY" in out
    assert out.count("FAIL") == 3  # lake (wrong endpoint), MongoDB, the missing key


def test_s3_answering_500s_then_recovering(s3, moto_server, monkeypatch):
    from tests.integration.services import FaultyProxy

    proxy = FaultyProxy(moto_server.port)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{proxy.port}")
    try:
        proxy.fail_next = 3  # a short burst: retried with backoff, the run never notices
        ok = invoke("collect", "--lake", s3, "--no-enrich", "--batch-size", "300")
        assert ok.exit_code == 0, ok.output
        assert proxy.failed == 3

        proxy.fail_from = proxy.requests + 40  # an outage in the middle of a run
        down = invoke("collect", "--lake", s3, "--no-enrich", "--full-refresh")
        assert (
            down.exit_code == 1 and down.exception is None or isinstance(down.exception, SystemExit)
        ), repr(down.exception)
        line = down.stderr.strip().splitlines()[-1]
        assert line.startswith("error: cannot") and s3[5:] in line and "re-run" in line, line
        proxy.heal()
        again = invoke("collect", "--lake", s3, "--no-enrich", "--full-refresh")
        assert again.exit_code == 0, again.output
    finally:
        proxy.stop()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{moto_server.port}")
    conv = lake_tables(s3)["conversations"]
    assert conv.height == 1312 and conv["conversation_id"].n_unique() == 1312


def test_personas_on_s3_go_to_user_analytics_and_stay_through_a_collect(s3, mongo_uri):
    collect = ["collect", "--lake", s3, "--mongodb-uri", mongo_uri, "--no-enrich"]
    assert invoke(*collect).exit_code == 0
    built = invoke("personas", "--k", "4", "--lake", s3, "--mongodb-uri", mongo_uri)
    assert built.exit_code == 0, built.output
    assert "MongoDB user_analytics" in " ".join(built.stderr.split())
    table = open_lake(s3, os.environ["AWS_ENDPOINT_URL"]).read_table("personas")
    want = dict(table.select("customer_id", "persona_id").iter_rows())
    with_persona = {
        u["user_id"]: u["persona"]["persona_id"]
        for u in docs(mongo_uri, "user_analytics")
        if u["kind"] == "customer" and "persona" in u
    }
    assert with_persona == want and len(want) > 100
    # a collect recomputes the customers' aggregates: their persona stays
    assert invoke(*collect, "--full-refresh").exit_code == 0
    users = [u for u in docs(mongo_uri, "user_analytics") if u["kind"] == "customer"]
    assert {u["user_id"]: u["persona"]["persona_id"] for u in users if "persona" in u} == want
    assert all(u["conversations"] >= 1 for u in users)
    # a build over fewer customers leaves no persona of the older build behind
    args = ["--start-date", "2017-11-01", "--k", "3", "--lake", s3, "--mongodb-uri", mongo_uri]
    assert invoke("personas", *args).exit_code == 0
    newer = open_lake(s3, os.environ["AWS_ENDPOINT_URL"]).read_table("personas")
    kept = {
        u["user_id"]
        for u in docs(mongo_uri, "user_analytics")
        if u["kind"] == "customer" and "persona" in u
    }
    assert kept == set(newer["customer_id"]) and len(kept) < len(want)


def test_status_counts_on_s3_equal_the_local_lake_with_either_reader(s3, tmp_path, monkeypatch):
    from analytics_framework.storage.counts import CountCache, day_counts
    from analytics_framework.storage.lake import Lake

    assert invoke("collect", "--lake", s3, "--no-enrich").exit_code == 0
    assert invoke("collect", "--no-enrich").exit_code == 0
    remote = open_lake(s3, os.environ["AWS_ENDPOINT_URL"])
    local = day_counts(Lake("lake"), "conversations", "twcs", None, None)
    assert sum(local.values()) == 1312
    for reader in ("httpfs", "pyarrow"):
        monkeypatch.setenv("ANALYTICS_DUCKDB_S3_READER", reader)
        cache = CountCache(tmp_path / f"{reader}.json", remote.uri)
        assert day_counts(remote, "conversations", "twcs", None, None, cache) == local, reader
        week = day_counts(remote, "conversations", "twcs", date(2017, 10, 28), date(2017, 11, 4))
        assert week == {
            d: n for d, n in local.items() if date(2017, 10, 28) <= d < date(2017, 11, 4)
        }
