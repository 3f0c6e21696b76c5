"""The export layer: formats that turn report results into files or messages.

A format is one module with one :class:`Exporter` subclass, listed in
:data:`analytics_framework.exports.EXPORTERS`; it says which reports it draws from
(:attr:`Exporter.reports`) and writes its files through a :class:`Destination`. Reports stay data,
formats stay presentation: the job (:func:`analytics_framework.jobs.export_job`) computes each
report once and hands every format the same :class:`ExportContext`, so nothing is computed twice
and adding a format touches no report and no CLI code beyond its name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from analytics_framework.model import METRIC_VERSION
from analytics_framework.reports import ReportResult
from analytics_framework.storage.lake import Lake


@dataclass
class ExportContext:
    """What every format draws from.

    Attributes:
        results: report name → its result (only the reports the formats asked for).
        lake_uri: the lake the reports came from.
        generated_at: when the export was made (UTC).
        filters: the report options shared by every report (period, dates, org, by, zone,
            compare), for titles and manifests.
        notes: reports skipped or empty, one line each, collected while exporting.
        dpi: chart resolution (1600×900 pixels at the default 100).
        drawn: charts drawn ahead, by format: chart name → its file's bytes, or the reason it
            was skipped (:class:`~analytics_framework.exports.ahead.ChartsAhead`).
        ahead: the :class:`~analytics_framework.exports.ahead.ChartsAhead` still drawing them,
            or None; :func:`~analytics_framework.exports.charts.draw` waits for it.
    """

    results: dict[str, ReportResult]
    lake_uri: str
    generated_at: datetime
    filters: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    dpi: int = 100
    metric_version: int = METRIC_VERSION
    drawn: dict[str, dict[str, bytes | str]] = field(default_factory=dict)
    ahead: Any = None

    def subtitle(self) -> str:
        """``weekly · UTC · 2024-01-01 to 2024-04-01 · org AppleSupport`` for titles."""
        f = self.filters
        parts = [str(f.get("period") or ""), str(f.get("timezone") or "UTC")]
        if f.get("start_date") or f.get("end_date"):
            parts.append(f"{f.get('start_date') or '…'} to {f.get('end_date') or '…'}")
        if f.get("org"):
            parts.append(f"org {f['org']}")
        if f.get("by"):
            parts.append(f"by {f['by']}")
        return " · ".join(p for p in parts if p)


class Destination:
    """Where an export's files go: a local folder or ``s3://bucket/prefix``.

    Files go through the lake's storage code, so an S3 object is uploaded whole.

    Args:
        uri: the folder or S3 prefix.
        endpoint_url: an S3-compatible endpoint (``AWS_ENDPOINT_URL``), or None.
    """

    def __init__(self, uri: str, endpoint_url: str | None = None) -> None:
        from analytics_framework.storage.s3 import open_lake

        self.uri = uri.rstrip("/") or "."
        self._store: Lake = open_lake(self.uri, endpoint_url)
        self.written: list[str] = []

    def write(self, name: str, data: bytes) -> str:
        """Write ``data`` as ``name`` under the destination; return where it went.

        Raises:
            LakeError: the destination cannot be written (naming it).
        """
        path = self._store.path(name)
        self._store.write_bytes(path, data)
        self.written.append(path)
        return path


RUN_FIRST: tuple[str, ...] = (
    "overview",
    "funnel",
    "retention",
    "activity",
    "leaderboard",
    "topics",
    "agents",
)
"""The order in which an export computes the charts' reports, before any other: a quick query
with a slow chart first (retention's chart takes 1 s to draw after a 0.1 s query over a year of
days; agents' query is the slowest), so charts are drawn while the remaining reports run.
``funnel`` comes second because the first chart (conversations) needs it too."""


class Exporter(ABC):
    """One output format.

    Class attributes:
        name: the ``--format`` name (``png``, ``html``, ``zip``, ``framer-csv``).
        description: one line for ``--help``.
        reports: the reports it draws from, with the options each needs beyond the shared ones
            (``{"agents": {"limit": 10}}``).
        chart_format: ``png`` or ``svg`` when it draws the charts (they are then drawn while
            the reports are computed), else None.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    reports: ClassVar[dict[str, dict[str, Any]]] = {}
    chart_format: ClassVar[str | None] = None

    @abstractmethod
    def export(self, ctx: ExportContext, dest: Destination) -> list[str]:
        """Write this format's files for ``ctx`` to ``dest``; return the paths written.

        Raises:
            LakeError: a file cannot be written.
        """
