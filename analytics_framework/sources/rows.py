"""Row-level helpers a source uses: parse times, name the first failed check, require columns."""

from __future__ import annotations

import polars as pl

from analytics_framework.errors import InputError
from analytics_framework.sources.base import Source, excerpt, source_classes

ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d")
"""The forms :func:`parse_timestamp` tries, in order: with an offset, naive (UTC), a bare date."""


def parse_timestamp(expr: pl.Expr) -> pl.Expr:
    """Parse ISO 8601 strings to ``Datetime("us", "UTC")``; null where unparsable.

    Accepts ``2017-10-31T22:10:47Z``, offsets (``+02:00``, ``+0000``), a space instead of ``T``,
    fractional seconds, naive times (taken as UTC) and bare dates (midnight UTC): the first of
    :data:`ISO_FORMATS` that parses a value gives its time. Each later form is tried only on the
    values the earlier ones left unparsed (:func:`_parse_iso`): a ``coalesce`` of the three
    parses every value three times, 1.1 s of CPU for a million (issue 14).
    """
    s = expr.cast(pl.String).str.strip_chars().str.replace(" ", "T").str.replace("Z$", "+00:00")
    return s.map_batches(_parse_iso, return_dtype=pl.Datetime("us", "UTC"), is_elementwise=True)


def _parse_iso(values: pl.Series) -> pl.Series:
    """Parse ``values`` (cleaned ISO 8601 text) with each of :data:`ISO_FORMATS` in turn."""
    out = values.str.to_datetime(
        format=ISO_FORMATS[0], time_unit="us", time_zone="UTC", strict=False
    )
    for fmt in ISO_FORMATS[1:]:
        left = (out.is_null() & values.is_not_null()).arg_true()
        if not left.len():
            break
        parsed = values.gather(left).str.to_datetime(
            format=fmt, time_unit="us", time_zone="UTC", strict=False
        )
        out = out.scatter(left, parsed)
    return out


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
