"""One module per report beyond overview and topics; each defines ``REPORT`` (a declaration)."""
