"""Connecting to S3 (or an S3-compatible store) the same way for pyarrow, boto3 and DuckDB.

Credentials and region come from boto3's standard chain (environment, shared config and
credentials files, container/instance roles); the endpoint from ``AWS_ENDPOINT_URL`` (or
``ANALYTICS_S3_ENDPOINT_URL``) for MinIO, R2 or a local moto server. :func:`open_lake` is how
every command opens the lake, local or S3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import pyarrow.fs as pafs

from analytics_framework.errors import ConfigurationError
from analytics_framework.storage.lake import Lake


@dataclass(frozen=True)
class S3Options:
    """Where and as whom to reach S3.

    Attributes:
        endpoint_url: ``http://127.0.0.1:9000`` for an S3-compatible store, or None for AWS.
        region: the region (default ``us-east-1``).
        access_key / secret_key / session_token: from boto3's credential chain, or None.
    """

    endpoint_url: str | None
    region: str
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None

    @property
    def host(self) -> str | None:
        """``host:port`` of the endpoint, or None for AWS."""
        return urlparse(self.endpoint_url).netloc if self.endpoint_url else None

    @property
    def scheme(self) -> str:
        """``http`` or ``https``."""
        return urlparse(self.endpoint_url).scheme if self.endpoint_url else "https"


def s3_options(endpoint_url: str | None) -> S3Options:
    """Resolve credentials and region through boto3's standard chain.

    Raises:
        ConfigurationError: the endpoint URL is not ``http(s)://host[:port]``.
    """
    import boto3

    if endpoint_url and urlparse(endpoint_url).scheme not in ("http", "https"):
        raise ConfigurationError(
            f"S3 endpoint {endpoint_url!r} is not an http(s) URL",
            "set AWS_ENDPOINT_URL like http://127.0.0.1:9000",
        )
    session = boto3.Session()
    creds = session.get_credentials()
    frozen = creds.get_frozen_credentials() if creds else None
    return S3Options(
        endpoint_url=endpoint_url,
        region=session.region_name or "us-east-1",
        access_key=frozen.access_key if frozen else None,
        secret_key=frozen.secret_key if frozen else None,
        session_token=frozen.token if frozen else None,
    )


def pyarrow_s3(opts: S3Options) -> pafs.S3FileSystem:
    """Return a pyarrow S3 filesystem for ``opts`` (retrying transient errors 5 times)."""
    kwargs: dict[str, Any] = {
        "region": opts.region,
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=5),
    }
    if opts.host:
        kwargs.update(endpoint_override=opts.host, scheme=opts.scheme)
    if opts.access_key:
        kwargs.update(
            access_key=opts.access_key,
            secret_key=opts.secret_key,
            session_token=opts.session_token,
        )
    return pafs.S3FileSystem(**kwargs)


def boto3_client(opts: S3Options) -> Any:
    """Return a boto3 S3 client for ``opts``."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=opts.endpoint_url,
        region_name=opts.region,
        aws_access_key_id=opts.access_key,
        aws_secret_access_key=opts.secret_key,
        aws_session_token=opts.session_token,
    )


def open_lake(uri: str, endpoint_url: str | None = None) -> Lake:
    """Open the lake at ``uri``: a local folder, or ``s3://bucket/prefix`` through pyarrow."""
    if not uri.startswith("s3://"):
        return Lake(uri)
    opts = s3_options(endpoint_url)
    lake = Lake(uri, filesystem=pyarrow_s3(opts))
    lake.s3 = opts
    return lake
