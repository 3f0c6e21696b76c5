"""Source registry: every source, by name. The CLI's ``--source`` choices come from here.

:func:`get_source` imports only the module of the source asked for, so ``collect --source
files`` never loads the HTTP stack of the API sources (httpx, tenacity) nor the JSON streaming
parser of the export sources. :data:`SOURCES`, every class at once, is built on first access
(``doctor`` and the tests read it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from analytics_framework.catalog import check_source
from analytics_framework.sources.base import Source, SourceBatch

if TYPE_CHECKING:
    SOURCES: dict[str, type[Source]]

MODULES: dict[str, tuple[str, str]] = {
    "twcs": ("analytics_framework.sources.twcs", "TwcsSource"),
    "facebook": ("analytics_framework.sources.facebook", "FacebookSource"),
    "files": ("analytics_framework.sources.files", "FilesSource"),
    "messenger": ("analytics_framework.sources.messenger", "MessengerSource"),
    "nocodb": ("analytics_framework.sources.nocodb", "NocoDBSource"),
    "mochi": ("analytics_framework.sources.mochi", "MochiSource"),
}
"""Each source's module and class, in registry order (that of
:data:`~analytics_framework.catalog.SOURCE_DESCRIPTIONS`)."""


def _load(name: str) -> type[Source]:
    module, cls = MODULES[name]
    return getattr(importlib.import_module(module), cls)


def get_source(name: str) -> type[Source]:
    """Return the source class registered as ``name``, importing its module only.

    Raises:
        UnknownNameError: no such source; the message lists the known ones.
    """
    check_source(name)
    return _load(name)


def __getattr__(attr: str) -> Any:
    """Build ``SOURCES`` (name → class, every source) on first use (PEP 562)."""
    if attr == "SOURCES":
        return {name: _load(name) for name in MODULES}
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["MODULES", "SOURCES", "Source", "SourceBatch", "get_source"]
