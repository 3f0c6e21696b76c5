"""Session fixtures: a moto S3 server and a SecantusDB (MongoDB wire protocol) server.

Both run as separate processes on 127.0.0.1 from their own virtual environment
(:mod:`tests.integration.services`), are shared by the session, and each test gets its own
bucket and database.
"""

from __future__ import annotations

import os
import uuid

import boto3
import pytest

from tests.integration.services import start_mongo, start_moto


@pytest.fixture(scope="session")
def moto_server():
    srv = start_moto()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def mongo_server():
    srv = start_mongo()
    yield srv
    srv.stop()


@pytest.fixture
def s3(moto_server, monkeypatch, in_tmp):
    """AWS settings pointing at moto, and a fresh bucket; returns ``s3://bucket/lake``."""
    endpoint = f"http://127.0.0.1:{moto_server.port}"
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/lake"


@pytest.fixture
def mongo_uri(mongo_server, monkeypatch):
    """A MongoDB URI with a fresh database (MONGODB_DATABASE) for this test."""
    monkeypatch.setenv("MONGODB_DATABASE", f"t{uuid.uuid4().hex[:10]}")
    monkeypatch.delenv("MONGODB_URI", raising=False)
    return f"mongodb://127.0.0.1:{mongo_server.port}/?directConnection=true"


def database_name() -> str:
    return os.environ["MONGODB_DATABASE"]
