"""Canonical messages from JSONL, CSV or Parquet files (one file, a folder, or a glob).

Columns (DESIGN.md ``messages``): required ``conversation_id``, ``sent_at``, ``role``, ``text``;
optional ``message_id``, ``org_id``, ``sender_id``, ``attributes``, and the conversation-level
``status``, ``csat_rating`` (1–5) and ``assigned_agent_id`` (who the conversation is assigned
to, an agent's ``sender_id``). Files whose names differ are read through a column map,
``--column-map sent_at=timestamp`` (canonical=yours). ``sent_at`` may be ISO 8601 text (offset or
``Z``; naive means UTC) or a Parquet timestamp. Roles ``user``/``client`` read as customer,
``operator``/``human`` as agent, ``assistant`` as bot. Ids get the ``files:`` prefix; a missing
``message_id`` becomes a stable hash (:func:`~analytics_framework.model.stable_message_id`).

Records are named ``<file> row N``. When polars cannot parse a CSV or JSONL file, it is read
again leniently (:mod:`.text`): a CSV row holding an invalid UTF-8 byte and a JSONL line that is
not a JSON object are quarantined, the rest loaded; JSONL records are then named by their
physical line, ``<file> line N``. Blank JSONL lines are skipped.
"""

from __future__ import annotations

import glob
from pathlib import Path

import polars as pl

from analytics_framework.catalog import SOURCE_DESCRIPTIONS
from analytics_framework.errors import ConfigurationError, InputError, InputNotFoundError
from analytics_framework.model import ROLES, stable_message_id_expr
from analytics_framework.sources.base import REJECTED_SCHEMA, UNREADABLE, parser_error
from analytics_framework.sources.file_source import FileSource
from analytics_framework.sources.jsonl import scan_jsonl
from analytics_framework.sources.rows import (
    first_reason,
    mapped,
    parse_timestamp,
    require_columns,
)
from analytics_framework.sources.text import (
    LINE_KEY,
    check_text,
    clean_jsonl,
    flag_marked,
    mark_invalid_utf8,
)

REQUIRED = ["conversation_id", "sent_at", "role", "text"]
OPTIONAL = [
    "message_id",
    "org_id",
    "sender_id",
    "attributes",
    "status",
    "csat_rating",
    "assigned_agent_id",
]
ROLE_SYNONYMS = {
    "user": "customer",
    "client": "customer",
    "operator": "agent",
    "human": "agent",
    "assistant": "bot",
    "automated": "bot",
}
ROW_KEY = "_analytics_row"
"""The 1-based row number polars adds to each record (``with_row_index``: it streams, where
``int_range(pl.len())`` made polars read the whole input first)."""

FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
TEXT_KINDS = {"csv": "CSV", "jsonl": "JSON Lines"}


def parse_column_map(
    pairs: list[str] | None, known: set[str] | frozenset[str] | None = None
) -> dict[str, str]:
    """Parse ``["sent_at=timestamp", …]`` into ``{"sent_at": "timestamp"}``.

    Args:
        pairs: the ``--column-map`` values.
        known: the canonical names a source accepts (default: the files source's columns).

    Raises:
        ConfigurationError: a pair is not ``CANONICAL=YOURS`` or names an unknown column.
    """
    names = sorted(known) if known is not None else REQUIRED + OPTIONAL
    mapping: dict[str, str] = {}
    for pair in pairs or []:
        canonical, sep, theirs = pair.partition("=")
        canonical, theirs = canonical.strip(), theirs.strip()
        if not sep or not canonical or not theirs:
            raise ConfigurationError(
                f"--column-map {pair!r} is not CANONICAL=YOURS",
                "write it like --column-map sent_at=timestamp",
            )
        if canonical not in names:
            raise ConfigurationError(
                f"--column-map names unknown column {canonical!r}",
                f"use one of: {', '.join(names)}",
            )
        mapping[canonical] = theirs
    return mapping


class FilesSource(FileSource):
    """Canonical messages from JSONL / CSV / Parquet files."""

    name = "files"
    description = SOURCE_DESCRIPTIONS["files"]
    option_names = frozenset({"column_map"})
    lenient_fallback = True

    def resolve_files(self, path: str) -> list[Path]:
        """Accept a file, a folder (its supported files) or a glob."""
        p = Path(path)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in FORMATS and f.is_file())
        elif any(ch in path for ch in "*?["):
            found = sorted(Path(f) for f in glob.glob(path, recursive=True) if Path(f).is_file())
        elif p.is_file():
            found = [p]
        else:
            raise InputNotFoundError(f"input not found: {path}", "check the path or glob")
        if not found:
            raise InputNotFoundError(
                f"no .jsonl, .csv or .parquet files at {path}", "check the path or glob"
            )
        unknown = [f for f in found if f.suffix.lower() not in FORMATS]
        if unknown:
            raise InputError(
                f"{unknown[0]} has an unsupported extension",
                "use .jsonl/.ndjson, .csv or .parquet files",
            )
        return found

    def _open(self, path: Path, fmt: str, lenient: bool) -> tuple[pl.LazyFrame, pl.Expr]:
        """Return the file's lazy rows and the expression naming each record."""
        rows = pl.format("{} row {}", pl.lit(path.name), pl.col(ROW_KEY))
        if fmt == "parquet":
            return pl.scan_parquet(path).with_row_index(ROW_KEY, offset=1), rows
        if fmt == "csv":
            clean = self.scratch_path(".csv") if lenient else None
            if clean is not None and mark_invalid_utf8(path, clean):
                lf = pl.scan_csv(clean, infer_schema=False)
                lf = flag_marked(lf, lf.collect_schema().names())
                return lf.with_row_index(ROW_KEY, offset=1), rows
            if clean is not None:
                clean.unlink()  # no invalid byte: polars fails on something else, say so below
            return pl.scan_csv(path, infer_schema=False).with_row_index(ROW_KEY, offset=1), rows
        if not lenient:
            lf = scan_jsonl(path)
            return lf.with_row_index(ROW_KEY, offset=1), rows
        good, bad = self.scratch_path(".jsonl"), self.scratch_path(".jsonl")
        found = clean_jsonl(path, good, bad, path.name)
        if not found.good:
            raise InputError(
                f"cannot read {path} as JSON Lines: {found.first_bad}"
                if found.first_bad
                else f"no records in {path}",
                "check that the file holds one JSON object per line",
            )
        if found.bad:
            self.unreadable.append(scan_jsonl(bad, schema=REJECTED_SCHEMA))
        lines = pl.format("{} line {}", pl.lit(path.name), pl.col(LINE_KEY))
        return scan_jsonl(good), lines

    def _scan_one(self, path: Path) -> pl.LazyFrame:
        fmt = FORMATS[path.suffix.lower()]
        if fmt in TEXT_KINDS:
            check_text(path, TEXT_KINDS[fmt])
        lenient = self.lenient
        while True:
            try:
                lf, record = self._open(path, fmt, lenient)
                names = lf.collect_schema().names()
                break
            except (pl.exceptions.PolarsError, OSError) as exc:
                if lenient or fmt not in TEXT_KINDS or isinstance(exc, OSError):
                    raise InputError(
                        f"cannot read {path} as {fmt}: {parser_error(exc)}",
                        f"check that the file is valid {fmt}",
                    ) from None
                lenient = True  # polars failed within the first rows: read it line by line
        names = [n for n in names if n not in (LINE_KEY, UNREADABLE, ROW_KEY)]
        mapping = parse_column_map(self.options.get("column_map"))  # type: ignore[arg-type]
        renames = {theirs: canonical for canonical, theirs in mapping.items() if theirs in names}
        cols = [renames.get(n, n) for n in names]
        require_columns(cols, REQUIRED, str(path), self)
        lf = lf.rename(renames)
        schema = lf.collect_schema()
        sent = schema["sent_at"]
        if isinstance(sent, pl.Datetime):
            sent_at = (
                pl.col("sent_at").dt.replace_time_zone("UTC")
                if sent.time_zone is None
                else pl.col("sent_at").dt.convert_time_zone("UTC")
            ).dt.cast_time_unit("us")
        else:
            sent_at = parse_timestamp(pl.col("sent_at"))
        present = [c for c in REQUIRED + OPTIONAL if c in cols]
        unreadable = pl.col(UNREADABLE) if UNREADABLE in schema else pl.lit(None, pl.String)
        return lf.select(
            *[pl.col(c).cast(pl.String) for c in present],
            *[pl.lit(None, dtype=pl.String).alias(c) for c in OPTIONAL if c not in cols],
            _sent_at=sent_at,
            _record=record,
            **{UNREADABLE: unreadable},
        )

    def scan(self) -> pl.LazyFrame:
        """Scan every file lazily into one frame of string columns."""
        return pl.concat([self._scan_one(f) for f in self.files], how="vertical_relaxed")

    def reject_reason(self) -> pl.Expr:
        """Missing conversation id, unparsable time, unknown role, bad CSAT."""
        role = self._role()
        csat = pl.col("csat_rating").cast(pl.Int64, strict=False)
        return first_reason(
            (
                pl.col("conversation_id").is_null() | (pl.col("conversation_id") == ""),
                "conversation_id is missing",
            ),
            (pl.col("_sent_at").is_null(), "sent_at is missing or not an ISO 8601 time"),
            (~role.is_in(list(ROLES)) | role.is_null(), f"role is not one of {', '.join(ROLES)}"),
            (
                pl.col("csat_rating").is_not_null() & ~csat.is_between(1, 5),
                "csat_rating is not an integer 1-5",
            ),
        )

    @staticmethod
    def _role() -> pl.Expr:
        r = pl.col("role").str.strip_chars().str.to_lowercase()
        return mapped(r, ROLE_SYNONYMS)

    def canonical(self) -> dict[str, pl.Expr]:
        """Canonical columns; ids prefixed with ``files:``."""
        conv = pl.lit(self.prefix) + pl.col("conversation_id")
        prefix = self.prefix

        def hashed_where_missing(s: pl.Series) -> pl.Series:
            """Return the given ids as they are, hashed (conversation, time, sender, text) if none.

            Only the rows without an id pay for the hash; the prefix is added by the native
            ``coalesce`` below (a ``str + Series`` here is a DataFrame select per batch).
            """
            df = s.struct.unnest()
            ids = df.get_column("message_id")
            missing = ids.is_null().arg_true()
            if missing.len():
                hashed = df[missing].select(stable_message_id_expr(prefix)).to_series()
                ids = ids.scatter(missing, hashed)
            return ids

        given = pl.col("message_id")
        message_id = pl.coalesce(
            pl.lit(prefix) + given,  # null where no id was given
            pl.struct(
                message_id=given,
                conversation_id=conv,
                sent_at=pl.col("_sent_at"),
                sender_id=pl.col("sender_id"),
                text=pl.col("text").fill_null(""),
            ).map_batches(hashed_where_missing, return_dtype=pl.String, is_elementwise=True),
        ).alias("message_id")
        return {
            "message_id": message_id,
            "conversation_id": conv,
            "source": pl.lit(self.name),
            "org_id": pl.col("org_id"),
            "sent_at": pl.col("_sent_at"),
            "role": self._role(),
            "sender_id": pl.col("sender_id"),
            "text": pl.col("text").fill_null(""),
            "attributes": pl.col("attributes"),
            "conversation_status": pl.col("status"),
            "csat_rating": pl.col("csat_rating").cast(pl.Int64, strict=False),
            "assigned_agent_id": pl.col("assigned_agent_id"),
        }

    def empty(self) -> pl.DataFrame:
        """Empty canonical frame with the conversation-level extras."""
        return (
            super()
            .empty()
            .with_columns(
                conversation_status=pl.lit(None, dtype=pl.String),
                csat_rating=pl.lit(None, dtype=pl.Int64),
                assigned_agent_id=pl.lit(None, dtype=pl.String),
            )
        )
