"""Documents in MongoDB: idempotent bulk upserts keyed by stable ``_id``.

Collections (database ``MONGODB_DATABASE``, default ``conversation_analytics``):

- ``conversation_analytics``: one document per conversation, ``_id`` = conversation_id: its
  metrics (the ``conversations`` row), ``participants`` (customer, agents), and ``labels`` (the
  current label, set by the enrich stage);
- ``conversation_messages``: one document per message, ``_id`` = message_id;
- ``conversation_stage_changes``: one document per stage change of a lead (Mochi),
  ``_id`` = conversation_id:changed_at:stage;
- ``conversation_categories``: the labels history, one document per labeling,
  ``_id`` = conversation_id:config_hash:input_hash;
- ``analytics_reports``: every computed report, ``_id`` = a hash of report + period + time zone +
  range + filters;
- ``user_analytics``: per customer and per agent aggregates, ``_id`` = ``customer:<id>`` /
  ``agent:<id>``, recomputed from the lake for the people a run touched; a customer's
  ``persona`` is set by ``analytics personas`` (the last build's);
- ``conversation_translations``: one document per conversation ``analytics translate``
  processed, ``_id`` = conversation_id: its ``language`` (detected, ISO 639-1, null when
  undetectable), ``status`` (``translated`` when every message is, else ``failed``, ``pending``
  (not translated: offline), ``english`` or ``undetected``), ``provider``, ``model``,
  ``detector``, ``translated_at``, and ``messages``: ``[{message_id, language, text_en,
  status}]`` in message order (``text_en`` null where nothing was translated).

Writes are unordered bulk ``UpdateOne``/``ReplaceOne`` upserts in chunks, so re-running a batch
rewrites the same documents and never duplicates one. Any MongoDB failure raises
:class:`MongoError`: the pipeline then does not commit the batch, and the next run redoes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import polars as pl
from pymongo import ASCENDING, MongoClient, ReplaceOne, UpdateOne
from pymongo.errors import PyMongoError, ServerSelectionTimeoutError

from analytics_framework.errors import FatalError
from analytics_framework.settings import mask_uri

CHUNK = 1000


class MongoError(FatalError):
    """MongoDB could not be reached or refused a write."""


def _stage_change_id(row: dict[str, Any]) -> str:
    """Return the ``_id`` of a stage change: ``conversation_id:changed_at:stage``."""
    return f"{row['conversation_id']}:{row['changed_at'].isoformat()}:{row['stage']}"


def _reason(exc: Exception) -> str:
    """Return the driver's reason in a few words, without its topology dump or any password.

    pymongo's server-selection errors read ``host:port: [Errno 111] Connection refused
    (configured timeouts: …), Timeout: 3.0s, Topology Description: <TopologyDescription …>``;
    only the part before the timeouts is kept.
    """
    text = " ".join(str(exc).split())
    for cut in (" (configured timeouts", ", Timeout:", ", Topology Description"):
        text = text.split(cut, 1)[0]
    text = mask_uri(text) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


class MongoSink:
    """Writes documents to one MongoDB database.

    Args:
        uri: the MongoDB URI (its password is never shown).
        database: the database name.
        timeout_s: how long to look for a server before failing.
    """

    def __init__(self, uri: str, database: str, timeout_s: float = 3.0) -> None:
        self.where = f"MongoDB at {mask_uri(uri)}"
        self.timeout_s = timeout_s
        ms = int(timeout_s * 1000)
        try:
            self.client: MongoClient = MongoClient(
                uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms, socketTimeoutMS=ms * 3
            )
        except (PyMongoError, ValueError) as exc:  # a malformed URI fails here
            raise MongoError(
                f"{self.where} is not a usable MongoDB URI: {_reason(exc)}",
                "fix MONGODB_URI (or --mongodb-uri), e.g. mongodb://user:pass@host:27017/",
            ) from None
        self.db = self.client[database]

    def _fail(self, exc: Exception, what: str) -> MongoError:
        return MongoError(
            f"{self.where} failed while {what}: {_reason(exc)}",
            "check that MongoDB is reachable and writable ('analytics doctor'), then re-run: "
            "the batch was not committed, so nothing is lost or duplicated",
        )

    def ping(self) -> None:
        """Check the server answers within ``timeout_s``.

        Raises:
            MongoError: it does not; the message names the host (password masked), not the
                driver's topology description.
        """
        try:
            self.client.admin.command("ping")
        except ServerSelectionTimeoutError as exc:
            raise MongoError(
                f"cannot reach {self.where} within {self.timeout_s:g} s: {_reason(exc)}",
                "start MongoDB or fix MONGODB_URI; pass --no-mongodb to run without it "
                "(ANALYTICS_MONGODB_TIMEOUT_S sets how long to wait)",
            ) from None
        except PyMongoError as exc:
            raise self._fail(exc, "pinging") from None

    def ensure_indexes(self) -> None:
        """Create the indexes the reports and lookups use (idempotent)."""
        specs = {
            "conversation_analytics": [
                [("conversation_id", ASCENDING)],
                [("org_id", ASCENDING), ("started_at", ASCENDING)],
                [("customer_id", ASCENDING)],
            ],
            "conversation_messages": [
                [("conversation_id", ASCENDING), ("sent_at", ASCENDING)],
                [("org_id", ASCENDING), ("sent_at", ASCENDING)],
            ],
            "conversation_categories": [[("conversation_id", ASCENDING)]],
            "conversation_stage_changes": [
                [("conversation_id", ASCENDING), ("changed_at", ASCENDING)],
                [("org_id", ASCENDING), ("changed_at", ASCENDING)],
            ],
            "analytics_reports": [
                [("report", ASCENDING), ("period", ASCENDING), ("start_date", ASCENDING)]
            ],
            "user_analytics": [[("kind", ASCENDING), ("user_id", ASCENDING)]],
            "conversation_translations": [[("language", ASCENDING), ("status", ASCENDING)]],
        }
        try:
            for name, indexes in specs.items():
                for keys in indexes:
                    self.db[name].create_index(keys)
        except PyMongoError as exc:
            raise self._fail(exc, "creating indexes") from None

    def _bulk(self, collection: str, ops: Iterable[Any], what: str) -> int:
        """Run ``ops`` unordered in chunks; returns how many ran."""
        batch: list[Any] = []
        done = 0
        try:
            for op in ops:
                batch.append(op)
                if len(batch) >= CHUNK:
                    self.db[collection].bulk_write(batch, ordered=False)
                    done, batch = done + len(batch), []
            if batch:
                self.db[collection].bulk_write(batch, ordered=False)
                done += len(batch)
        except PyMongoError as exc:
            raise self._fail(exc, what) from None
        return done

    def write_batch(
        self,
        conversations: pl.DataFrame,
        messages: pl.DataFrame,
        stage_changes: pl.DataFrame | None = None,
    ) -> None:
        """Upsert one batch's conversations, messages and stage changes (labels are kept).

        A stage change's ``_id`` is ``conversation_id:changed_at:stage``, so re-loading a lead
        rewrites its history without duplicates.
        """
        self._bulk(
            "conversation_analytics",
            (
                UpdateOne(
                    {"_id": row["conversation_id"]},
                    {
                        "$set": {
                            **row,
                            "participants": {
                                "customer_id": row.get("customer_id"),
                                "agent_ids": row.get("agent_ids") or [],
                            },
                        }
                    },
                    upsert=True,
                )
                for row in conversations.drop("year", "month", "day", strict=False).iter_rows(
                    named=True
                )
            ),
            "writing conversations",
        )
        self._bulk(
            "conversation_messages",
            (
                ReplaceOne({"_id": row["message_id"]}, row, upsert=True)
                for row in messages.drop("year", "month", "day", strict=False).iter_rows(named=True)
            ),
            "writing messages",
        )
        if stage_changes is not None and stage_changes.height:
            self._bulk(
                "conversation_stage_changes",
                (
                    ReplaceOne({"_id": _stage_change_id(r)}, r, upsert=True)
                    for r in stage_changes.drop("year", "month", "day", strict=False).iter_rows(
                        named=True
                    )
                ),
                "writing stage changes",
            )

    def write_labels(self, labels: pl.DataFrame) -> None:
        """Set each conversation's current label and add it to the labels history."""
        rows = labels.filter(pl.col("status") == "labeled").to_dicts()
        self._bulk(
            "conversation_analytics",
            (
                UpdateOne(
                    {"_id": r["conversation_id"]},
                    {"$set": {"labels": {k: v for k, v in r.items() if k != "conversation_id"}}},
                    upsert=True,
                )
                for r in rows
            ),
            "writing labels",
        )
        self._bulk(
            "conversation_categories",
            (
                ReplaceOne(
                    {"_id": f"{r['conversation_id']}:{r['config_hash']}:{r['input_hash']}"},
                    r,
                    upsert=True,
                )
                for r in rows
            ),
            "writing the labels history",
        )

    def write_report(self, doc: dict[str, Any]) -> str:
        """Upsert a computed report; ``_id`` is a hash of its name, period, zone and filters."""
        key = {k: doc.get(k) for k in ("report", "period", "timezone", "filters")}
        _id = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
        body = {**doc, "computed_at": datetime.now(UTC)}
        self._bulk(
            "analytics_reports", [ReplaceOne({"_id": _id}, body, upsert=True)], "saving a report"
        )
        return _id

    def write_users(self, users: list[dict[str, Any]]) -> None:
        """Set the per-customer / per-agent aggregates given (``kind``, ``user_id``, …).

        Fields are set, not the document replaced, so a customer's ``persona`` stays.
        """
        self._bulk(
            "user_analytics",
            (
                UpdateOne({"_id": f"{u['kind']}:{u['user_id']}"}, {"$set": u}, upsert=True)
                for u in users
            ),
            "writing user analytics",
        )

    def write_personas(self, rows: pl.DataFrame) -> int:
        """Set each customer's ``persona`` in ``user_analytics`` (``_id`` ``customer:<id>``).

        ``persona`` is ``{persona_id, name, description, terms, distance, k, silhouette,
        method, model, device, build_id, built_at}``; customers of an older build that this
        one left out lose theirs. Returns the documents written.
        """
        keep = ("persona_id", "distance", "k", "silhouette", "method", "model", "device")
        docs = []
        for r in rows.iter_rows(named=True):
            persona = {
                "name": r["persona_name"],
                "description": r["persona_description"],
                "terms": r["persona_terms"],
                **{k: r[k] for k in keep},
                "build_id": r["build_id"],
                "built_at": r["built_at"],
            }
            docs.append(
                UpdateOne(
                    {"_id": f"customer:{r['customer_id']}"},
                    {"$set": {"kind": "customer", "user_id": r["customer_id"], "persona": persona}},
                    upsert=True,
                )
            )
        done = self._bulk("user_analytics", docs, "writing personas")
        build_ids = rows["build_id"].unique().to_list()
        try:
            self.db["user_analytics"].update_many(
                {"persona": {"$exists": True}, "persona.build_id": {"$nin": build_ids}},
                {"$unset": {"persona": ""}},
            )
        except PyMongoError as exc:
            raise self._fail(exc, "removing older personas") from None
        return done

    def write_translations(self, rows: pl.DataFrame) -> int:
        """Replace the ``conversation_translations`` document of each conversation in ``rows``.

        ``rows`` are ``translations`` rows (:data:`~analytics_framework.model.
        TRANSLATION_SCHEMA`) holding every message of their conversations, in time order.
        Returns the documents written.
        """
        docs = []
        for (cid,), part in rows.group_by("conversation_id", maintain_order=True):
            statuses = set(part["status"].to_list())
            if statuses == {"translated"}:
                status = "translated"
            else:
                status = next(
                    (s for s in ("failed", "pending", "english", "undetected") if s in statuses),
                    "undetected",
                )
            done = part.filter(pl.col("translated_at").is_not_null())
            first = part.row(0, named=True)
            doc = {
                "conversation_id": cid,
                "language": first["conversation_language"],
                "status": status,
                "provider": part["provider"].drop_nulls().first(),
                "model": part["model"].drop_nulls().first(),
                "detector": first["detector"],
                "translated_at": done["translated_at"].max() if done.height else None,
                "messages": part.select("message_id", "language", "text_en", "status").to_dicts(),
            }
            docs.append(ReplaceOne({"_id": cid}, doc, upsert=True))
        return self._bulk("conversation_translations", docs, "writing translations")

    def close(self) -> None:
        """Close the client."""
        self.client.close()
