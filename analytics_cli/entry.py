"""The console script's entry point, kept free of heavy imports.

Importing the app pulls in polars, pyarrow, DuckDB and the labelers; a Ctrl-C during that
second or two would otherwise end in a ``KeyboardInterrupt`` traceback. Here it ends quietly
with exit code 130, as a Ctrl-C during a run does.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Import and run the ``analytics`` app; Ctrl-C at any point exits 130 without a traceback."""
    try:
        from analytics_cli.app import app

        app(standalone_mode=True)
    except KeyboardInterrupt:
        sys.stderr.write("aborted (Ctrl-C)\n")
        sys.exit(130)
