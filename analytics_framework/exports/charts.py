"""Charts (png, svg): being built.

Contract used by the other formats: ``draw(ctx, fmt="png") -> list[tuple[str, bytes]]`` returns
the numbered chart files (``01_conversations.png`` …) drawn from ``ctx.results``, appending a
note to ``ctx.notes`` for each chart skipped because its report has no rows.
"""

from __future__ import annotations

from analytics_framework.exports.base import ExportContext


def draw(ctx: ExportContext, fmt: str = "png") -> list[tuple[str, bytes]]:
    """Return no charts yet (the charts module is being built)."""
    return []
