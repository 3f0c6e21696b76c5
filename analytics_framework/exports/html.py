"""The ``html`` export format (being built)."""
