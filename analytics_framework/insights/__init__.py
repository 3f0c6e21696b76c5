"""Sales insights built over the lake: scripts (fuzzy clusters of setters' messages).

Each module reads the canonical tables, does the maths with a library (rapidfuzz here), and
writes its result back to the lake as a table the reports read (``scripts``), so the numbers
come out of DuckDB like every other report's.
"""
