"""Export registry: every output format, by name. ``analytics export --format`` reads it.

See :mod:`analytics_framework.exports.base` for the layer; each format is one module.
"""

from __future__ import annotations

from analytics_framework.errors import UnknownNameError
from analytics_framework.exports.base import Destination, ExportContext, Exporter

EXPORTERS: dict[str, type[Exporter]] = {}
"""Format name → exporter class (filled by :func:`register`, in the order formats are listed)."""


def register(cls: type[Exporter]) -> type[Exporter]:
    """Add a format to :data:`EXPORTERS` (a class decorator)."""
    EXPORTERS[cls.name] = cls
    return cls


def get_exporter(name: str) -> type[Exporter]:
    """Return the format registered as ``name``.

    Raises:
        UnknownNameError: no such format; the message lists the known ones.
    """
    _load()
    try:
        return EXPORTERS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown export format {name!r}", f"use one of: {', '.join(EXPORTERS)}"
        ) from None


def _load() -> None:
    """Import the format modules; each registers itself (matplotlib loads only to draw)."""
    from analytics_framework.exports import charts, framer, html, zip_bundle  # noqa: F401


__all__ = [
    "EXPORTERS",
    "Destination",
    "ExportContext",
    "Exporter",
    "get_exporter",
    "register",
]
