"""The console script's entry point, kept free of heavy imports.

Importing the app pulls in polars, pyarrow, DuckDB and the labelers; a Ctrl-C during that
second or two would otherwise end in a ``KeyboardInterrupt`` traceback. Here it ends quietly
with exit code 130, as a Ctrl-C during a run does.
"""

from __future__ import annotations

import gc
import os
import sys

JEMALLOC_CONF = "background_thread:true,dirty_decay_ms:100,muzzy_decay_ms:0"
"""How polars' allocator (jemalloc, configured through ``_RJEM_MALLOC_CONF``) gives freed memory
back. By default (polars 2.1: ``dirty_decay_ms:500,muzzy_decay_ms:1000``, no background thread)
pages are purged only when polars allocates again, so the memory a streaming pass freed stays
resident while DuckDB sorts the spilled rows; a background thread purging after 100 ms keeps
the peak of ``collect`` to the larger of the two stages, not their sum (BENCHMARKS.md,
issue 14). A ``_RJEM_MALLOC_CONF`` set by the user wins."""


def main() -> None:
    """Import and run the ``analytics`` app; Ctrl-C at any point exits 130 without a traceback.

    The objects alive when the command ends are frozen (:func:`gc.freeze`), so the collection
    at interpreter exit skips them; files and connections are closed by the commands
    themselves, never left to that collection.
    """
    os.environ.setdefault("_RJEM_MALLOC_CONF", JEMALLOC_CONF)  # read when polars is imported
    try:
        from analytics_cli.app import app

        app(standalone_mode=True)
    except KeyboardInterrupt:
        sys.stderr.write("aborted (Ctrl-C)\n")
        sys.exit(130)
    finally:
        # the interpreter's last collection walks every object before the process ends and the
        # memory goes back anyway; frozen objects are left out of it (0.2 s for status over
        # two years of days, 0.4 s for a report over 1M messages; BENCHMARKS.md, issue 14)
        gc.freeze()
