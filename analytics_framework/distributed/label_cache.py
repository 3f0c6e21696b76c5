"""The label cache kept in the lake, shared by every machine that labels it.

Same keys as the local SQLite :class:`~analytics_framework.enrich.base.LabelCache` (the content
hash of a request and the labeler's configuration, :meth:`Labeler.cache_key`), same interface
(``get``, ``get_many``, ``put``, ``close``), so the labelers use either unchanged. Each entry is
one small JSON object, ``<lake>/_label_cache/<key[:2]>/<key>.json``: writers never contend (a
key's value is the same whoever writes it), and a worker on any node finds what another labeled.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from analytics_framework.storage.lake import Lake

FOLDER = "_label_cache"


class LakeLabelCache:
    """A content-addressed label cache in the lake (local folder or S3).

    Args:
        lake: the lake.
        workers: parallel reads in :meth:`get_many`.
    """

    def __init__(self, lake: Lake, workers: int = 8) -> None:
        self.lake = lake
        self.workers = max(1, workers)

    def _path(self, key: str) -> str:
        return self.lake.path(FOLDER, key[:2], f"{key}.json")

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the cached label for ``key``, or None."""
        try:
            with self.lake.fs.open_input_stream(self._path(key)) as fh:
                return json.loads(fh.read())
        except (FileNotFoundError, pa.ArrowException, OSError, ValueError):
            return None

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Return the cached labels of ``keys`` that are present (reads in parallel)."""
        if not keys:
            return {}
        with ThreadPoolExecutor(min(self.workers, len(keys))) as pool:
            values = list(pool.map(self.get, keys))
        return {k: v for k, v in zip(keys, values, strict=True) if v is not None}

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` under ``key`` (replaces an older value).

        Raises:
            LakeError: the lake cannot be written.
        """
        self.lake.write_text(self._path(key), json.dumps(value))

    def close(self) -> None:
        """Nothing to close (kept for the interface)."""
