"""``analytics doctor``: check the settings, the credentials and every configured service.

Each check returns a :class:`Check` (name, ok, detail, seconds, fix). Secrets are never shown:
a key is "present" or "missing", a URI's password is ``***``. Checks that need a service only
run when it is configured; API sources (NocoDB, Mochi) are checked when their server is set; the
LLM check makes a zero-cost call (listing models / getting one
model), never a generation.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from analytics_framework.errors import AnalyticsError
from analytics_framework.settings import Settings, mask_uri


@dataclass
class Check:
    """One line of the doctor's table."""

    name: str
    ok: bool
    detail: str
    seconds: float = 0.0
    fix: str = ""


def _timed(name: str, fn: Callable[[], str], fix: str) -> Check:
    t0 = time.perf_counter()
    try:
        detail = fn()
        return Check(name, True, detail, time.perf_counter() - t0)
    except AnalyticsError as exc:
        return Check(name, False, exc.message, time.perf_counter() - t0, exc.fix or fix)
    except Exception as exc:  # a doctor reports every failure, whatever raised it
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        return Check(name, False, f"{type(exc).__name__}: {first}", time.perf_counter() - t0, fix)


BASE_URL_VARS = {"openai": "OPENAI_BASE_URL", "gemini": "ANALYTICS_GEMINI_BASE_URL"}
"""The setting that points each provider at another endpoint, for the doctor's fix."""


def run_checks(settings: Settings) -> list[Check]:
    """Run every check for ``settings``; see the module docstring."""
    from analytics_framework.enrich import LABELERS, choose_provider, make_labeler

    checks = [Check("settings", True, "valid")]
    is_s3 = settings.lake_uri.startswith("s3://")
    provider = choose_provider(settings)
    labeler_cls = LABELERS[provider]

    # credentials: present or missing, never their values
    if is_s3:
        from analytics_framework.storage.s3 import s3_options

        opts = s3_options(settings.s3_endpoint_url)
        checks.append(
            Check(
                "AWS credentials",
                bool(opts.access_key),
                "present (boto3 chain)" if opts.access_key else "missing",
                fix="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or a role",
            )
        )
    if labeler_cls.needs_key:
        key = settings.gemini_api_key if provider == "gemini" else settings.openai_api_key
        checks.append(
            Check(
                f"{provider} API key",
                key is not None,
                "present" if key is not None else "missing",
                fix=f"set {' or '.join(labeler_cls.key_env_vars)}, or use --provider local",
            )
        )

    # the lake: a write/read/delete round trip
    def lake_round_trip() -> str:
        from analytics_framework.storage.s3 import open_lake

        lake = open_lake(settings.lake_uri, settings.s3_endpoint_url)
        path = lake.path("_doctor", f"{uuid.uuid4().hex}.txt")
        lake.write_text(path, "ok")
        with lake.fs.open_input_stream(path) as fh:
            if fh.read() != b"ok":
                raise RuntimeError("read back something else than was written")
        lake.delete(lake.path("_doctor"))
        return f"{settings.lake_uri}: write, read, delete ok"

    checks.append(
        _timed(
            "lake",
            lake_round_trip,
            "check --lake / ANALYTICS_LAKE_URI, AWS_ENDPOINT_URL and the bucket's permissions",
        )
    )
    if is_s3:

        def duckdb_reader() -> str:
            import duckdb

            from analytics_framework.storage.query import load_httpfs
            from analytics_framework.storage.s3 import open_lake

            con = duckdb.connect()
            try:
                load_httpfs(con, open_lake(settings.lake_uri, settings.s3_endpoint_url))
            except Exception as exc:  # not fatal: reports fall back to pyarrow
                return f"httpfs unavailable ({exc}); reports read S3 through pyarrow"
            finally:
                con.close()
            return "DuckDB httpfs loaded"

        checks.append(_timed("reports over S3", duckdb_reader, ""))

    # MongoDB: ping and a write/delete
    if settings.mongodb_uri is not None:

        def mongo() -> str:
            from analytics_framework.storage.mongo import MongoSink

            uri = settings.mongodb_uri.get_secret_value()  # type: ignore[union-attr]
            sink = MongoSink(uri, settings.mongodb_database, settings.mongodb_timeout_s)
            try:
                sink.ping()
                probe = sink.db["_doctor"]
                _id = uuid.uuid4().hex
                probe.insert_one({"_id": _id})
                probe.delete_one({"_id": _id})
            finally:
                sink.close()
            return f"{mask_uri(uri)} db {settings.mongodb_database}: ping, write, delete ok"

        checks.append(
            _timed("MongoDB", mongo, "check MONGODB_URI and that the user may write the database")
        )
    else:
        checks.append(Check("MongoDB", True, "off (no MONGODB_URI)"))

    # API sources whose server is configured: reachable, credentials accepted, tables found
    checks.extend(source_checks(settings))

    # the LLM endpoint, with a zero-cost call
    if labeler_cls.uses_network:
        key_missing = any(c.name.endswith("API key") and not c.ok for c in checks)
        if not key_missing:

            def llm() -> str:
                labeler = make_labeler(settings, provider)
                client = labeler.client  # type: ignore[attr-defined]
                if provider == "openai":
                    client.models.list()
                else:
                    client.models.get(model=labeler.model)
                return f"{provider} ({labeler.model}) answers"

            checks.append(
                _timed(
                    f"{provider} endpoint",
                    llm,
                    f"check the key, the base URL ({BASE_URL_VARS.get(provider, 'base URL')}) "
                    "and the network",
                )
            )
    else:
        checks.append(Check("labeler", True, "local (offline, nothing to reach)"))
    return checks


def source_checks(settings: Settings) -> list[Check]:
    """Check every API source whose first required setting is set (NocoDB, Mochi).

    Each makes the source's own cheap request (:meth:`ApiSource.check`): the server answers,
    the token or cookie is accepted, and what the source reads exists.
    """
    from analytics_framework.sources import SOURCES
    from analytics_framework.sources.api_source import ApiSource

    checks = []
    for cls in SOURCES.values():
        if not (issubclass(cls, ApiSource) and cls.configured(settings)):
            continue

        def check(cls: type[ApiSource] = cls) -> str:
            return cls(None, settings, {}).check()

        needed = " / ".join(cls.settings_needed)
        checks.append(_timed(cls.title, check, f"check {needed}"))
    return checks
