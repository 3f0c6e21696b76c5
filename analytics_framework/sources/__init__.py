"""Source registry: every source, by name. The CLI's ``--source`` choices come from here."""

from __future__ import annotations

from analytics_framework.catalog import check_source
from analytics_framework.sources.base import Source, SourceBatch
from analytics_framework.sources.facebook import FacebookSource
from analytics_framework.sources.files import FilesSource
from analytics_framework.sources.messenger import MessengerSource
from analytics_framework.sources.mochi import MochiSource
from analytics_framework.sources.nocodb import NocoDBSource
from analytics_framework.sources.twcs import TwcsSource

SOURCES: dict[str, type[Source]] = {
    cls.name: cls
    for cls in (
        TwcsSource,
        FacebookSource,
        FilesSource,
        MessengerSource,
        NocoDBSource,
        MochiSource,
    )
}


def get_source(name: str) -> type[Source]:
    """Return the source class registered as ``name``.

    Raises:
        UnknownNameError: no such source; the message lists the known ones.
    """
    check_source(name)
    return SOURCES[name]


__all__ = ["SOURCES", "Source", "SourceBatch", "get_source"]
