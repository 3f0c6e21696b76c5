"""Customer Support on Twitter (TWCS) CSV: tweets rebuilt into support threads.

Format (Kaggle "thoughtvector/customer-support-on-twitter"): columns ``tweet_id, author_id,
inbound, created_at, text, response_tweet_id, in_response_to_tweet_id``; ``created_at`` like
``Tue Oct 31 22:10:47 +0000 2017``. Copies re-saved by pandas carry an extra leading index column
and write ids as floats (``3.0``); both are accepted.

A conversation is one root tweet and every reply below it, following
``in_response_to_tweet_id``. A reply whose parent is not in the file (or was quarantined) starts
its own thread. Roots are found by pointer doubling: each round replaces a tweet's pointer with
its pointer's pointer, so a chain of length *n* resolves in log2(*n*) joins over the id columns
alone. A reply chain that loops is quarantined.

Roles: ``inbound`` True → customer, False → agent. ``org_id`` is the brand's handle (the author of
the thread's first brand tweet). A brand tweet ending in a sign-off (``^AB``, ``*AB``, ``-AB``,
optionally followed by links) gets ``sender_id`` ``<brand>^AB``, else the brand handle.

A row holding an invalid UTF-8 byte is quarantined (``row N``: ``invalid UTF-8 byte 0xff in column
text``) and the others are read (:func:`~analytics_framework.sources.text.mark_invalid_utf8`).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from analytics_framework.catalog import SOURCE_DESCRIPTIONS
from analytics_framework.errors import InputError
from analytics_framework.sources.base import parser_error
from analytics_framework.sources.file_source import FileSource
from analytics_framework.sources.rows import first_reason, require_columns
from analytics_framework.sources.text import check_text, flag_marked, mark_invalid_utf8

SAMPLE_PATH = Path(__file__).parent / "data" / "twcs_sample.csv.gz"

COLUMNS = [
    "tweet_id",
    "author_id",
    "inbound",
    "created_at",
    "text",
    "response_tweet_id",
    "in_response_to_tweet_id",
]

SIGN_OFF = r"(?:[\^*]|\s-)\s?([A-Za-z]{2,4})(?:\s+https?://\S+)*\s*$"
"""A brand agent's initials at the end of a tweet, before any trailing links."""

MAX_ROUNDS = 40
"""Pointer-doubling rounds; 2**40 exceeds any chain, so more rounds mean a loop."""


def _int_id(name: str) -> pl.Expr:
    """Return a tweet id column as a normalised string: ``"3.0"`` → ``"3"``; empty → null."""
    s = pl.col(name).cast(pl.String).str.strip_chars()
    s = s.str.replace(r"\.0+$", "")
    return pl.when(s.str.contains(r"^\d+$")).then(s)


class TwcsSource(FileSource):
    """Twitter customer-support threads from a TWCS CSV (plain or gzipped)."""

    name = "twcs"
    description = SOURCE_DESCRIPTIONS["twcs"]
    default_path = str(SAMPLE_PATH)

    def _read(self, path: Path) -> tuple[pl.DataFrame, bool]:
        """Read the CSV as strings; True when invalid UTF-8 bytes were read as markers."""
        try:
            return pl.read_csv(path, infer_schema=False, raise_if_empty=False), False
        except (pl.exceptions.ComputeError, OSError, UnicodeDecodeError) as exc:
            error: BaseException = exc
        try:
            clean = self.scratch_path(".csv")
            if isinstance(error, pl.exceptions.ComputeError) and mark_invalid_utf8(path, clean):
                return pl.read_csv(clean, infer_schema=False, raise_if_empty=False), True
        except (pl.exceptions.ComputeError, OSError, EOFError) as exc:
            error = exc
        raise InputError(
            f"cannot parse {path} as CSV: {parser_error(error)}",
            "check that it is a TWCS CSV file (optionally .gz)",
        )

    def scan(self) -> pl.LazyFrame:
        """Read the CSV as strings; ``_record`` is the 1-based data row number."""
        path = self.files[0]
        check_text(path, "CSV")
        frame, marked = self._read(path)
        require_columns(frame.columns, COLUMNS, str(path), self)
        lf = frame.lazy().select(COLUMNS)
        return (
            (flag_marked(lf, COLUMNS) if marked else lf)
            .with_row_index("_row", offset=1)
            .with_columns(_record=pl.format("row {}", pl.col("_row")))
            .with_columns(
                _tweet=_int_id("tweet_id"),
                _parent=_int_id("in_response_to_tweet_id"),
                _sent_at=pl.col("created_at").str.strptime(
                    pl.Datetime("us", "UTC"), "%a %b %d %H:%M:%S %z %Y", strict=False
                ),
                _inbound=pl.col("inbound").str.strip_chars().str.to_lowercase(),
            )
        )

    def reject_reason(self) -> pl.Expr:
        """Missing/invalid id, author, inbound flag or created_at; duplicate tweet ids."""
        return first_reason(
            (pl.col("_tweet").is_null(), "tweet_id is missing or not an integer"),
            (pl.col("author_id").is_null(), "author_id is missing"),
            (~pl.col("_inbound").is_in(["true", "false"]), "inbound is not True/False"),
            (
                pl.col("_sent_at").is_null(),
                "created_at is not like 'Tue Oct 31 22:10:47 +0000 2017'",
            ),
            (~pl.col("_tweet").is_first_distinct(), "duplicate tweet_id (first row kept)"),
        )

    def prepare(self, rows: pl.LazyFrame) -> pl.LazyFrame:
        """Find each tweet's thread root and brand; quarantine reply loops."""
        good = rows.filter(pl.col("_reject").is_null())
        ids = good.select("_tweet", "_parent").collect()
        roots = thread_roots(ids)
        rows = rows.join(roots.lazy(), on="_tweet", how="left").with_columns(
            _reject=pl.coalesce(
                pl.col("_reject"),
                pl.when(pl.col("_root").is_null()).then(pl.lit("reply chain forms a loop")),
            )
        )
        brands = (
            rows.filter(pl.col("_reject").is_null() & (pl.col("_inbound") == "false"))
            .sort("_sent_at", "_tweet")
            .group_by("_root")
            .agg(_brand=pl.col("author_id").first())
        )
        return rows.join(brands, on="_root", how="left")

    def canonical(self) -> dict[str, pl.Expr]:
        """Canonical message columns from the TWCS columns."""
        agent = pl.col("_inbound") == "false"
        initials = pl.col("text").str.extract(SIGN_OFF, 1)
        brand = pl.coalesce(pl.col("_brand"), pl.col("text").str.extract(r"^@([A-Za-z]\w*)", 1))
        return {
            "message_id": pl.lit(self.prefix) + pl.col("_tweet"),
            "conversation_id": pl.lit(self.prefix) + pl.col("_root"),
            "source": pl.lit(self.name),
            "org_id": brand,
            "sent_at": pl.col("_sent_at"),
            "role": pl.when(agent).then(pl.lit("agent")).otherwise(pl.lit("customer")),
            "sender_id": pl.when(agent & initials.is_not_null())
            .then(pl.col("author_id") + pl.lit("^") + initials)
            .otherwise(pl.col("author_id")),
            "text": pl.col("text").fill_null(""),
            "attributes": pl.struct(
                author_id=pl.col("author_id"),
                in_response_to_tweet_id=pl.col("_parent"),
                response_tweet_id=pl.col("response_tweet_id"),
            ).struct.json_encode(),
        }


def thread_roots(ids: pl.DataFrame) -> pl.DataFrame:
    """Resolve every tweet to the root of its reply chain.

    Args:
        ids: columns ``_tweet`` (unique) and ``_parent`` (null for a root).

    Returns:
        Columns ``_tweet`` and ``_root``; ``_root`` is null for a tweet on, or below, a loop.
    """
    known = ids.select(_parent="_tweet", _known=pl.lit(True))
    start = ids.join(known, on="_parent", how="left").select(
        "_tweet",
        _ptr=pl.when(pl.col("_known") & (pl.col("_parent") != pl.col("_tweet")))
        .then(pl.col("_parent"))
        .otherwise(pl.col("_tweet")),
    )
    genuine = start.filter(pl.col("_ptr") == pl.col("_tweet")).select(
        _ptr="_tweet", _genuine=pl.lit(True)
    )
    ptr = start
    for _ in range(MAX_ROUNDS):
        nxt = ptr.join(
            ptr.select(_ptr="_tweet", _next="_ptr"), on="_ptr", how="left", maintain_order="left"
        ).select("_tweet", _ptr=pl.col("_next"))
        if nxt.get_column("_ptr").equals(ptr.get_column("_ptr")):
            break
        ptr = nxt
    # Only a pointer that ends on a genuine root (a tweet with no known parent) is a thread.
    return ptr.join(genuine, on="_ptr", how="left").select(
        "_tweet", _root=pl.when(pl.col("_genuine")).then(pl.col("_ptr"))
    )
