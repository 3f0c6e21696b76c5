"""The ``framer`` export format (being built)."""
