"""NocoDB tables over the data API v2 (``--source nocodb``).

The Conversation Analytics Framework keeps its conversations in NocoDB.
Two tables in one base (``NOCODB_PROJECT_ID``), given by title or id:

- messages (``NOCODB_MESSAGES_TABLE``, default ``messages``): ``message_id, conversation_id,
  sent_at, role, sender_id, text``;
- conversations (``NOCODB_CONVERSATIONS_TABLE``, default ``conversations``): ``conversation_id,
  app_id, customer_id, assigned_agent_id, status, csat_rating, created_at``; ``app_id`` is the
  conversation's ``org_id``.

Column names are the canonical ones unless ``--column-map CANONICAL=YOURS`` renames them (for
either table). Requests send the API token as ``xc-token``; records are read with
``GET /api/v2/tables/{id}/records`` sorted by ``Id`` and paged by key (``(Id,gt,last)``, the
page size the server grants), so rows added or edited while a read is under way are never
skipped; Id ranges are read by ``--io-workers`` threads.

**Incremental** by NocoDB's ``UpdatedAt``, with ``CreatedAt`` too because NocoDB leaves
``UpdatedAt`` null until a row's first edit. With a cursor, the server is asked for the rows of
either table changed strictly after ``since`` (the cursor minus ``--lookback``). NocoDB keeps
whole seconds and, on SQLite, its ``gt`` keeps the equal second too (it compares text; measured
on 0.301.3), so "strictly after T" is asked as ``(UpdatedAt,ge,exactDate,T+1s)~or(CreatedAt,ge,
exactDate,T+1s)``: a row stamped exactly at the cursor was read by the run that set it and is not
read again, and one stamped a second later is not lost. A change landing in the cursor's own
second after that run read it is caught by the lookback (default 1 h) of a later run. Every
message of each changed conversation is then read again, and the cursor moves to the newest
``UpdatedAt``/``CreatedAt`` seen. ``--app-id X`` keeps one app's
conversations with ``(app_id,eq,X)`` on the server.

Roles: ``customer``, ``agent``, ``bot``, ``system`` (``user``/``client`` read as customer,
``operator``/``human`` as agent, ``assistant`` as bot). A record missing its conversation, an
unparsable ``sent_at`` or an unknown role is quarantined with its table, page and offset.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from analytics_framework.catalog import SOURCE_DESCRIPTIONS
from analytics_framework.errors import ConfigurationError, InputError
from analytics_framework.http import HttpService, RateLimiter, RetryPolicy
from analytics_framework.model import ROLES, stable_message_id_expr
from analytics_framework.sources.api_source import ApiPage, ApiSource, fetch_parallel
from analytics_framework.sources.base import REJECTED_SCHEMA
from analytics_framework.sources.files import ROLE_SYNONYMS
from analytics_framework.sources.rows import first_reason, parse_timestamp

MESSAGE_COLUMNS = ("message_id", "conversation_id", "sent_at", "role", "sender_id", "text")
CONVERSATION_COLUMNS = (
    "conversation_id",
    "app_id",
    "customer_id",
    "assigned_agent_id",
    "status",
    "csat_rating",
    "created_at",
)
EXTRA = (
    "org_id",
    "conversation_customer_id",
    "assigned_agent_id",
    "conversation_status",
    "csat_rating",
)
"""Conversation facts carried on each message row (from the conversations table)."""
REQUIRED = {"messages": ("conversation_id", "sent_at", "role", "text"), "conversations": ()}
PAGE = 1000
"""Rows asked for per request (NocoDB grants at most 1,000)."""
IDS_PER_REQUEST = 50
"""Conversation ids per ``(conversation_id,in,…)`` filter."""
ID_SPAN = 5000
"""Record Ids per range a worker reads in a full read."""


@dataclass
class _Table:
    id: str
    title: str
    columns: dict[str, str]  # canonical name -> the table's column title


class NocoDBSource(ApiSource):
    """Conversations from two NocoDB tables (messages, conversations)."""

    name = "nocodb"
    description = SOURCE_DESCRIPTIONS["nocodb"]
    option_names = frozenset({"column_map", "app_id", "io_workers"})
    settings_needed = ("NOCODB_BASE_URL", "NOCODB_API_TOKEN", "NOCODB_PROJECT_ID")
    replication_key = "UpdatedAt"
    title = "NocoDB"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._tables: dict[str, _Table] | None = None
        super().__init__(*args, **kwargs)
        s = self.settings
        missing = [
            name
            for name, value in zip(
                self.settings_needed,
                (s.nocodb_base_url, s.nocodb_api_token, s.nocodb_project_id),
                strict=True,
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(
                f"the nocodb source needs {', '.join(missing)}",
                "set them in the environment or .env (see .env.example)",
            )
        from analytics_framework.sources.files import parse_column_map

        self.column_map = parse_column_map(
            self.options.get("column_map"),  # type: ignore[arg-type]
            known=set(MESSAGE_COLUMNS) | set(CONVERSATION_COLUMNS),
        )
        self.app_id = self.options.get("app_id")

    def make_service(self, client: Any) -> HttpService:
        """Return the NocoDB server, the token in ``xc-token``, with the run's rate limit."""
        s = self.settings
        return HttpService(
            "NocoDB",
            s.nocodb_base_url or "",
            client=client,
            headers={"xc-token": s.nocodb_api_token.get_secret_value()}  # type: ignore[union-attr]
            if s.nocodb_api_token
            else {},
            timeout_s=s.http_timeout_s,
            limiter=RateLimiter.per_second(s.rps),
            policy=RetryPolicy(attempts=s.http_max_attempts, max_wait_s=300.0, initial_s=1.0),
            auth_fix="check NOCODB_API_TOKEN: create an API token in NocoDB (Team & Settings → "
            "Tokens) and set it",
            unreachable_fix="check NOCODB_BASE_URL and that NocoDB is running",
        )

    def endpoint(self) -> str:
        """Return ``<base url>/<base>/<messages table>+<conversations table>[?app_id=X]``."""
        s = self.settings
        where = f"?app_id={self.app_id}" if self.app_id else ""
        return (
            f"{(s.nocodb_base_url or '').rstrip('/')}/{s.nocodb_project_id}/"
            f"{s.nocodb_messages_table}+{s.nocodb_conversations_table}{where}"
        )

    # ---- meta: base, tables, columns -----------------------------------------------------------

    def tables(self) -> dict[str, _Table]:
        """Resolve the base and both tables by title or id, and check their columns.

        Raises:
            ConfigurationError: the base, a table or a required column does not exist.
        """
        if self._tables is not None:
            return self._tables
        s = self.settings
        base = self._base_id(s.nocodb_project_id or "")
        listed = self.service.get_json(f"/api/v2/meta/bases/{base}/tables").get("list", [])
        found: dict[str, _Table] = {}
        for kind, wanted, setting in (
            ("messages", s.nocodb_messages_table, "NOCODB_MESSAGES_TABLE"),
            ("conversations", s.nocodb_conversations_table, "NOCODB_CONVERSATIONS_TABLE"),
        ):
            match = next((t for t in listed if wanted in (t.get("id"), t.get("title"))), None)
            if match is None:
                titles = ", ".join(sorted(str(t.get("title")) for t in listed)) or "none"
                raise ConfigurationError(
                    f"NocoDB base {s.nocodb_project_id} has no table {wanted!r} (it has: {titles})",
                    f"set {setting} to one of them",
                )
            meta = self.service.get_json(f"/api/v2/meta/tables/{match['id']}")
            titles = {c.get("title") for c in meta.get("columns", [])}
            names = MESSAGE_COLUMNS if kind == "messages" else CONVERSATION_COLUMNS
            columns = {c: self.column_map.get(c, c) for c in names}
            lacking = [f"{c}" for c in REQUIRED[kind] if columns[c] not in titles]
            if lacking:
                shown = ", ".join(f"{c} (as {columns[c]!r})" for c in lacking)
                raise ConfigurationError(
                    f"NocoDB table {match['title']!r} has no column {shown}",
                    "rename it with --column-map CANONICAL=YOURS",
                )
            found[kind] = _Table(
                match["id"], match["title"], {c: t for c, t in columns.items() if t in titles}
            )
        if "conversation_id" not in found["conversations"].columns:
            raise ConfigurationError(
                f"NocoDB table {found['conversations'].title!r} has no column conversation_id",
                "rename it with --column-map conversation_id=YOURS",
            )
        self._tables = found
        return found

    def _base_id(self, wanted: str) -> str:
        bases = self.service.get_json("/api/v2/meta/bases").get("list", [])
        match = next((b for b in bases if wanted in (b.get("id"), b.get("title"))), None)
        if match is None:
            titles = ", ".join(sorted(str(b.get("title")) for b in bases)) or "none"
            raise ConfigurationError(
                f"NocoDB has no base {wanted!r} that this token can read (it has: {titles})",
                "set NOCODB_PROJECT_ID to the base's id or title",
            )
        return str(match["id"])

    def probe(self) -> str:
        """Check the server, the token and both tables (``doctor``)."""
        t = self.tables()
        return (
            f"{self.service.base_url}: token accepted, tables {t['messages'].title!r} and "
            f"{t['conversations'].title!r} found"
        )

    # ---- reading -----------------------------------------------------------------------------

    def has_changes(self, cursor: datetime) -> bool:
        """Ask each table for one row created or updated after ``cursor``.

        NocoDB keeps whole seconds and its ``gt`` keeps the equal second (SQLite compares the
        text), so "after" is asked as ``ge`` the next second.
        """
        stamp = _stamp(cursor + timedelta(seconds=1))
        changed = f"(UpdatedAt,ge,exactDate,{stamp})~or(CreatedAt,ge,exactDate,{stamp})"
        for table in self.tables().values():
            doc = self.service.get_json(
                f"/api/v2/tables/{table.id}/records",
                {"where": changed, "limit": 1, "fields": "Id"},
            )
            if doc.get("list"):
                return True
        return False

    def _records(self, table: _Table, where: str | None, fields: list[str]) -> Iterator[list[dict]]:
        """Yield pages of ``table``'s records matching ``where``, by ascending ``Id``.

        Paging is by key: each request asks for ``Id`` above the last one seen, so edits and
        inserts during the read shift nothing.
        """
        last = 0
        page = 0
        cols = ",".join(dict.fromkeys(["Id", "CreatedAt", "UpdatedAt", *fields]))
        while True:
            key = f"(Id,gt,{last})"
            params = {
                "where": f"{key}~and({where})" if where else key,
                "sort": "Id",
                "limit": PAGE,
                "fields": cols,
            }
            doc = self.service.get_json(f"/api/v2/tables/{table.id}/records", params)
            rows = doc.get("list") if isinstance(doc, dict) else None
            if not isinstance(rows, list):
                raise InputError(
                    f"NocoDB answered records of {table.title!r} without a 'list'",
                    "check NOCODB_BASE_URL points at the NocoDB API",
                )
            page += 1
            if rows:
                for i, row in enumerate(rows):
                    row["_record"] = f"{table.title} page {page} offset {i} (Id {row.get('Id')})"
                yield rows
            info = doc.get("pageInfo") or {}
            if not rows or info.get("isLastPage", True) or len(rows) < 1:
                return
            last = max(int(r["Id"]) for r in rows)

    def _all_pages(
        self, table: _Table, where: str | None, fields: list[str]
    ) -> Iterator[list[dict]]:
        """All of ``table`` matching ``where``, in Id ranges read by ``--io-workers`` threads."""
        if self.io_workers <= 1:
            yield from self._records(table, where, fields)
            return
        top = self.service.get_json(
            f"/api/v2/tables/{table.id}/records",
            {"where": where or "", "sort": "-Id", "limit": 1, "fields": "Id"},
        ).get("list") or [{"Id": 0}]
        high = int(top[0]["Id"])
        spans = [(lo, min(lo + ID_SPAN, high)) for lo in range(0, high, ID_SPAN)]

        def read(span: tuple[int, int]) -> list[list[dict]]:
            lo, hi = span
            bound = f"(Id,le,{hi})" + (f"~and({where})" if where else "")
            return [page for page in self._records_from(table, bound, fields, lo)]

        for pages in fetch_parallel(read, spans, self.io_workers):
            yield from pages
        # rows added above ``high`` while the ranges were read
        yield from self._records_from(table, where, fields, high)

    def _records_from(
        self, table: _Table, where: str | None, fields: list[str], after: int
    ) -> Iterator[list[dict]]:
        if after <= 0:
            yield from self._records(table, where, fields)
            return
        bound = f"(Id,gt,{after})" + (f"~and({where})" if where else "")
        yield from self._records(table, bound, fields)

    def fetch(self, since: datetime | None) -> Iterator[ApiPage]:
        """Yield every message of every conversation changed after ``since`` (all if None)."""
        t = self.tables()
        conv_t, msg_t = t["conversations"], t["messages"]
        conv_fields = list(conv_t.columns.values())
        msg_fields = list(msg_t.columns.values())
        cid_m, cid_c = msg_t.columns["conversation_id"], conv_t.columns["conversation_id"]
        changed = None
        if since is not None:
            stamp = _stamp(since + timedelta(seconds=1))  # strictly after: see has_changes
            changed = f"(UpdatedAt,ge,exactDate,{stamp})~or(CreatedAt,ge,exactDate,{stamp})"
        app = (
            f"({conv_t.columns.get('app_id', 'app_id')},eq,{self.app_id})" if self.app_id else None
        )
        cursor: datetime | None = None

        def seen(rows: list[dict]) -> None:
            nonlocal cursor
            for row in rows:
                for key in ("UpdatedAt", "CreatedAt"):
                    value = _parse_time(row.get(key))
                    if value is not None and (cursor is None or value > cursor):
                        cursor = value

        # conversations: the rows that count (an app's, or all), as a lookup by id
        conversations: dict[str, dict] = {}
        where_c = _join(app, changed) if changed else app
        for rows in self._records(conv_t, where_c, conv_fields):
            seen(rows)
            for row in rows:
                if row.get(cid_c) not in (None, ""):
                    conversations[str(row[cid_c])] = row
        if changed is None and app is None:
            # a full read of everything: every message, by Id ranges
            for rows in self._all_pages(msg_t, None, msg_fields):
                seen(rows)
                yield self._page(rows, conversations)
            self._note_cursor(cursor)
            return
        if changed is not None:
            ids = set(conversations)
            for rows in self._records(msg_t, changed, [cid_m]):
                seen(rows)
                ids.update(str(r[cid_m]) for r in rows if r.get(cid_m) not in (None, ""))
            if app is not None:
                in_app = {
                    str(r[cid_c])
                    for rows in self._records(conv_t, app, [cid_c])
                    for r in rows
                    if r.get(cid_c) not in (None, "")
                }
                ids &= in_app
            missing = sorted(ids - set(conversations))
            for chunk in _chunks(missing, IDS_PER_REQUEST):
                for rows in self._records(conv_t, _in(cid_c, chunk), conv_fields):
                    conversations.update({str(r[cid_c]): r for r in rows})
        else:
            ids = set(conversations)
        chunks = _chunks(sorted(ids), IDS_PER_REQUEST)

        def read(chunk: list[str]) -> list[list[dict]]:
            return list(self._records(msg_t, _in(cid_m, chunk), msg_fields))

        for pages in fetch_parallel(read, chunks, self.io_workers):
            for rows in pages:
                yield self._page(rows, conversations)
        self._note_cursor(cursor)

    def _note_cursor(self, cursor: datetime | None) -> None:
        if cursor is not None and (self.cursor is None or cursor > self.cursor):
            self.cursor = cursor

    def _page(self, rows: list[dict], conversations: dict[str, dict]) -> ApiPage:
        """Turn records into canonical message rows (conversation facts joined) and rejects."""
        m = self.tables()["messages"].columns
        c = self.tables()["conversations"].columns

        def conv(row: dict, name: str) -> Any:
            facts = conversations.get(str(row.get(m["conversation_id"])), {})
            return facts.get(c[name]) if name in c else None

        raw = pl.DataFrame(
            {
                "_record": [r["_record"] for r in rows],
                "_raw": [json.dumps(r, default=str) for r in rows],
                **{
                    name: [_text(r.get(m[name])) if name in m else None for r in rows]
                    for name in MESSAGE_COLUMNS
                },
                "org_id": [_text(conv(r, "app_id")) for r in rows],
                "conversation_customer_id": [_text(conv(r, "customer_id")) for r in rows],
                "assigned_agent_id": [_text(conv(r, "assigned_agent_id")) for r in rows],
                "conversation_status": [_text(conv(r, "status")) for r in rows],
                "csat_rating": [_text(conv(r, "csat_rating")) for r in rows],
            },
            schema={n: pl.String for n in ["_record", "_raw", *MESSAGE_COLUMNS, *EXTRA]},
        )
        role = pl.col("role").str.strip_chars().str.to_lowercase().replace(ROLE_SYNONYMS)
        sent_at = parse_timestamp(pl.col("sent_at"))
        csat = pl.col("csat_rating").str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)
        raw = raw.with_columns(_role=role, _sent_at=sent_at, _csat=csat)
        reason = first_reason(
            (
                pl.col("conversation_id").is_null() | (pl.col("conversation_id") == ""),
                "conversation_id is missing",
            ),
            (pl.col("_sent_at").is_null(), "sent_at is missing or not a time"),
            (
                ~pl.col("_role").is_in(list(ROLES)) | pl.col("_role").is_null(),
                f"role is not one of {', '.join(ROLES)}",
            ),
        )
        raw = raw.with_columns(_reject=reason)
        bad = raw.filter(pl.col("_reject").is_not_null()).select(
            record="_record", reason="_reject", raw="_raw"
        )
        good = raw.filter(pl.col("_reject").is_null())
        prefix = self.prefix
        frame = good.select(
            message_id=pl.col("message_id"),
            conversation_id=pl.lit(prefix) + pl.col("conversation_id"),
            source=pl.lit(self.name),
            org_id="org_id",
            sent_at="_sent_at",
            role="_role",
            sender_id="sender_id",
            text=pl.col("text").fill_null(""),
            attributes=pl.lit(None, dtype=pl.String),
            conversation_customer_id="conversation_customer_id",
            assigned_agent_id="assigned_agent_id",
            conversation_status="conversation_status",
            csat_rating=pl.when(pl.col("_csat").is_between(1, 5)).then(pl.col("_csat")),
        )
        hashed = frame.select(stable_message_id_expr(prefix)).to_series()
        frame = frame.with_columns(
            message_id=pl.when(pl.col("message_id").is_null() | (pl.col("message_id") == ""))
            .then(hashed)
            .otherwise(pl.lit(prefix) + pl.col("message_id"))
        )
        return ApiPage(frame, bad.cast(REJECTED_SCHEMA))  # type: ignore[arg-type]


def _stamp(moment: datetime) -> str:
    """Return ``moment`` as NocoDB's filters take it: ``2026-01-01 00:00:00+00:00`` (UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _parse_time(value: Any) -> datetime | None:
    """Parse NocoDB's ``2026-01-01 00:00:00+00:00`` (or ISO 8601) to an aware datetime."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _join(*filters: str | None) -> str:
    """Return ``filters`` and-ed, grouping only the compound ones.

    A single condition is not wrapped again: NocoDB (0.301.3) answers 422 "Invalid filter
    format" to ``((a,eq,x))~and(...)``, while ``(a,eq,x)~and((b)~or(c))`` is fine.
    """
    parts = [f for f in filters if f]
    return "~and".join(p if "~" not in p else f"({p})" for p in parts)


def _in(column: str, values: list[str]) -> str:
    """Return a filter keeping ``column`` in ``values`` (``in`` where safe, else ``eq`` terms)."""
    if any("," in v or ")" in v or "(" in v for v in values):
        return "~or".join(f"({column},eq,{v})" for v in values)
    return f"({column},in,{','.join(values)})"


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
