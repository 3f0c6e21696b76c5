"""The ``zip_bundle`` export format (being built)."""
