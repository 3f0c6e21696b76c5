"""Opening the optional document sink, MongoDB, without loading its driver when it is off.

Every job that can write documents (collect, enrich, report ``--save``, personas, translate)
asks :func:`open_mongo` for a sink. Without ``MONGODB_URI`` (or with ``--no-mongodb``) it
returns None before pymongo is imported (0.17 s of every such command's start, issue 14).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analytics_framework.storage.mongo import MongoSink


def open_mongo(settings: Any, enabled: bool = True) -> MongoSink | None:
    """Return a connected sink when a URI is set and MongoDB is not switched off, else None.

    Args:
        settings: the :class:`~analytics_framework.settings.Settings` (``mongodb_uri``,
            ``mongodb_database``, ``mongodb_timeout_s``).
        enabled: False for ``--no-mongodb``.

    Raises:
        MongoError: the server cannot be reached or indexes cannot be created.
    """
    if not enabled or settings.mongodb_uri is None:
        return None
    from analytics_framework.storage.mongo import MongoSink

    sink = MongoSink(
        settings.mongodb_uri.get_secret_value(),
        settings.mongodb_database,
        settings.mongodb_timeout_s,
    )
    sink.ping()
    sink.ensure_indexes()
    return sink
