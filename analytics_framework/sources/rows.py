"""Row-level helpers a source uses: parse times, name the first failed check, require columns."""

from __future__ import annotations

import polars as pl

from analytics_framework.errors import InputError
from analytics_framework.sources.base import Source, excerpt, source_classes


def parse_timestamp(expr: pl.Expr) -> pl.Expr:
    """Parse ISO 8601 strings to ``Datetime("us", "UTC")``; null where unparsable.

    Accepts ``2017-10-31T22:10:47Z``, offsets (``+02:00``, ``+0000``), a space instead of ``T``,
    fractional seconds, naive times (taken as UTC) and bare dates (midnight UTC).
    """
    s = expr.cast(pl.String).str.strip_chars().str.replace(" ", "T").str.replace("Z$", "+00:00")

    def fmt(f: str) -> pl.Expr:
        return s.str.to_datetime(format=f, time_unit="us", time_zone="UTC", strict=False)

    return pl.coalesce(fmt("%Y-%m-%dT%H:%M:%S%.f%#z"), fmt("%Y-%m-%dT%H:%M:%S%.f"), fmt("%Y-%m-%d"))


def mapped(expr: pl.Expr, mapping: dict[str, str]) -> pl.Expr:
    """Return ``expr`` with the values ``mapping`` names replaced, the others kept.

    ``Expr.replace(mapping)`` does the same, but polars' streaming engine then reads the whole
    column into memory first (measured with polars 2.1: 430 MB of anonymous memory for the role
    column of 3M messages, growing with the input); a ``when/then`` chain streams.
    """
    out = expr
    for value, replacement in mapping.items():
        out = pl.when(expr == value).then(pl.lit(replacement)).otherwise(out)
    return out


def first_reason(*checks: tuple[pl.Expr, str]) -> pl.Expr:
    """Return the reason of the first failing check, or null; each check is (is_bad, reason)."""
    expr = pl.lit(None, dtype=pl.String)
    for bad, reason in reversed(checks):
        expr = pl.when(bad).then(pl.lit(reason)).otherwise(expr)
    return expr


def require_columns(
    schema_names: list[str], required: list[str], origin: str, source: Source
) -> None:
    """Raise :class:`InputError` naming the columns ``origin`` lacks.

    Args:
        schema_names: the input's column names.
        required: the columns the source needs.
        origin: the file, for the message.
        source: the source reading it; ``--column-map`` is suggested only if it takes that.
    """
    missing = [c for c in required if c not in schema_names]
    if missing:
        if "column_map" in source.option_names:
            fix = "pass the right --source, or map the columns with --column-map CANONICAL=YOURS"
        else:
            fix = f"pass the right --source ({', '.join(source_classes())})"
        raise InputError(
            f"{origin} is missing column(s) {', '.join(missing)} needed by the {source.name} "
            f"format (it has: {excerpt(', '.join(schema_names)) or 'none'})",
            fix,
        )
