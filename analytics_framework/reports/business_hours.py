"""Business hours: a weekly schedule in a time zone, holidays, and business-time durations.

Definition (metric definitions v1, "business-hours calendar"): the **business time** between two
instants is the elapsed time between them that falls inside open hours — the weekly schedule of
``--business-hours`` in ``--timezone``, minus the ``--holidays`` (local days closed all day).
Business-time FRT and response time apply it to each reply of the ``replies`` table, from
``waiting_since`` to ``replied_at``; everything else about them (which replies count, whose they
are, percentiles) is as for the calendar ones. This is how help desks compute their
business-hours metrics: Zendesk stores first reply time "in calendar hours and business hours"
(support.zendesk.com/hc/en-us/articles/4408821871642, "Calculating first reply time"), Chatwoot
takes ``from.business_time_until(to)`` in the inbox's time zone over its working hours
(chatwoot/chatwoot, ``app/helpers/reporting_event_helper.rb``). A wait that starts on Friday at
16:00 and is answered on Monday at 10:00 under ``Mon-Fri 09:00-17:00`` is 2 business hours.

Open hours are wall-clock times on local days, turned into instants with the zone's rules, so a
daylight-saving change moves them with the clock; the time counted is real elapsed time. A local
time that does not exist (skipped by a spring-forward change) resolves as Python's ``zoneinfo``
resolves it (``fold=0``), and intervals are clipped so that they never overlap.

How it is computed, for millions of replies: :meth:`BusinessHours.intervals` lists the open
intervals of the days the data spans (a few thousand rows for years of data) with the open time
before each; :func:`register` loads them into DuckDB and defines the view ``replies_business``:
every ``replies`` row plus ``business_us``, from two ASOF joins (the last
interval opening at or before each instant) and integer microsecond arithmetic — open time up
to ``t`` is the open time before its interval plus the part of the interval before ``t``, and
business time is the difference of the two ends. :func:`business_seconds` computes the same
pairwise in Python.

Spec grammar (``--business-hours``): day groups, each days then one or more ranges, e.g.
``Mon-Fri 09:00-17:00``, ``Mon-Thu 09:00-17:00, Fri 09:00-13:00``,
``Mon-Fri 09:00-12:00 13:00-17:00, Sat 10:00-14:00``. Days are ``Mon`` … ``Sun`` (or full names,
any case), ranges of days may wrap (``Fri-Mon``), a list of days is ``Mon,Wed``; times are
``HH:MM`` from ``00:00`` to ``24:00`` and a range must end after it starts (split a night shift at
midnight). Holidays (``--holidays FILE``): one ``YYYY-MM-DD`` per line, optionally followed by a
name; blank lines and ``#`` comments are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from analytics_framework.errors import ConfigurationError, InputNotFoundError
from analytics_framework.reports.spec import Column, Option, Report

if TYPE_CHECKING:  # the report catalogue imports this module; the CLI's start-up must stay light
    import duckdb
    import pyarrow as pa

SECTION = "business hours"
"""The section of business-time columns; the engine drops them when no schedule is given."""

OPTIONS = (
    Option(
        "business_hours",
        None,
        'business-time FRT and response time under a weekly schedule, e.g. "Mon-Fri 09:00-17:00"',
    ),
    Option("holidays", None, "with business_hours: a file of YYYY-MM-DD days closed all day"),
)
"""The two options a report with business-time columns declares."""

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EXAMPLE = 'write it like "Mon-Fri 09:00-17:00" or "Mon-Thu 09:00-17:00, Fri 09:00-13:00"'
TIME_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
Ranges = tuple[tuple[int, int], ...]
"""Open ranges of one weekday: sorted, disjoint ``(open, close)`` minutes after local midnight."""


def columns() -> tuple[Column, ...]:
    """Return the business-time columns (mean, median, p90 of FRT and of response time)."""
    out = []
    for metric, label, what in (
        ("frt", "FRT", "first response time"),
        ("response", "resp", "response time"),
    ):
        for stat, short in (("mean", "avg"), ("median", "p50"), ("p90", "p90")):
            out.append(
                Column(
                    f"{metric}_business_{stat}_s",
                    f"{label} biz {short}",
                    "seconds",
                    SECTION,
                    f"{what} counting open hours only (--business-hours), {stat}",
                )
            )
    return tuple(out)


@dataclass(frozen=True)
class BusinessHours:
    """A weekly schedule in a time zone, with holidays.

    Attributes:
        week: seven :data:`Ranges`, Monday first.
        timezone: IANA zone the schedule and the holidays are local to.
        holidays: local days closed all day.
    """

    week: tuple[Ranges, ...]
    timezone: str = "UTC"
    holidays: frozenset[date] = field(default_factory=frozenset)

    def intervals(self, first: date, last: date) -> list[tuple[datetime, datetime]]:
        """Return the open intervals of local days ``first`` … ``last`` (inclusive), in UTC.

        Returns:
            Sorted, disjoint, non-empty ``(opens_at, closes_at)`` pairs, aware UTC datetimes.
        """
        zone = ZoneInfo(self.timezone)
        out: list[tuple[datetime, datetime]] = []
        for n in range((last - first).days + 1):
            day = first + timedelta(days=n)
            if day in self.holidays:
                continue
            midnight = datetime(day.year, day.month, day.day, tzinfo=zone)  # local, aware
            for open_min, close_min in self.week[day.weekday()]:
                # aware + timedelta is wall-clock arithmetic: 09:00 local whatever the offset
                opens = (midnight + timedelta(minutes=open_min)).astimezone(UTC)
                closes = (midnight + timedelta(minutes=close_min)).astimezone(UTC)
                if out:  # a skipped local hour can map a later wall time to an earlier instant
                    opens = max(opens, out[-1][1])
                if closes > opens:
                    out.append((opens, closes))
        return out

    def calendar(self, lo: datetime, hi: datetime) -> pa.Table:
        """Return the open intervals covering instants ``lo`` … ``hi``, as DuckDB reads them.

        Columns ``opens_at``/``closes_at`` (timestamp[us, UTC]), ``open_before_us`` (int64,
        open microseconds from the calendar's start to ``opens_at``) and ``beyond`` (bool): the
        intervals of the local days of ``lo`` … ``hi`` between two empty sentinel rows, one at
        local midnight a day before (so every instant from there on finds a row at or before
        it, and none ties with an interval opening at midnight), one at local midnight after
        the last day (``beyond``: an instant from there on reads as unknown).
        """
        import pyarrow as pa

        zone = ZoneInfo(self.timezone)
        first, last = lo.astimezone(zone).date(), hi.astimezone(zone).date()
        rows = [
            (_midnight(first - timedelta(days=1), zone),) * 2,
            *self.intervals(first, last),
            (_midnight(last + timedelta(days=1), zone),) * 2,
        ]
        before, total = [], 0
        for opens, closes in rows:
            before.append(total)
            total += _us(closes) - _us(opens)
        ts = pa.timestamp("us", "UTC")
        return pa.table(
            {
                "opens_at": pa.array([o for o, _ in rows], ts),
                "closes_at": pa.array([c for _, c in rows], ts),
                "open_before_us": pa.array(before, pa.int64()),
                "beyond": pa.array([False] * (len(rows) - 1) + [True], pa.bool_()),
            }
        )


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """Return the instant (UTC) at which local ``day`` starts in ``zone``."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _us(t: datetime) -> int:
    """Return the microseconds since the epoch of an aware datetime, exactly."""
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def business_seconds(hours: BusinessHours, start: datetime, end: datetime) -> float:
    """Return the business time from ``start`` to ``end`` (aware datetimes), in seconds.

    The pairwise form of what :func:`register` computes in DuckDB: the length of
    ``[start, end]`` inside open hours; 0 when ``end`` is not after ``start``.
    """
    zone = ZoneInfo(hours.timezone)
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    total = 0
    for opens, closes in hours.intervals(first, last):
        total += max(0, _us(min(end, closes)) - _us(max(start, opens)))
    return total / 1_000_000


def _day(token: str, spec: str) -> int:
    name = token.lower()
    for names in (DAYS, FULL_DAYS):
        if name in names:
            return names.index(name)
    raise ConfigurationError(
        f"--business-hours {spec!r}: {token!r} is not a day (Mon … Sun)", EXAMPLE
    )


def _days(token: str, spec: str) -> list[int]:
    first, sep, last = token.partition("-")
    if not sep:
        return [_day(first, spec)]
    a, b = _day(first, spec), _day(last, spec)
    return [(a + i) % 7 for i in range((b - a) % 7 + 1)]  # Fri-Mon wraps over the weekend


def _range(token: str, spec: str) -> tuple[int, int]:
    m = TIME_RANGE.match(token)
    if m is None:
        raise ConfigurationError(
            f"--business-hours {spec!r}: {token!r} is not a time range HH:MM-HH:MM", EXAMPLE
        )
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    opens, closes = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or opens > 1440 or closes > 1440:
        raise ConfigurationError(
            f"--business-hours {spec!r}: {token!r} is not a time of day (00:00 … 24:00)", EXAMPLE
        )
    if closes <= opens:
        raise ConfigurationError(
            f"--business-hours {spec!r}: {token!r} does not end after it starts",
            "split hours that cross midnight in two, like Mon 22:00-24:00, Tue 00:00-06:00",
        )
    return opens, closes


def _merge(ranges: list[tuple[int, int]]) -> Ranges:
    merged: list[tuple[int, int]] = []
    for opens, closes in sorted(ranges):
        if merged and opens <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
        else:
            merged.append((opens, closes))
    return tuple(merged)


def parse_hours(spec: str) -> tuple[Ranges, ...]:
    """Parse a ``--business-hours`` spec into seven :data:`Ranges`, Monday first.

    Overlapping or repeated ranges of a day are merged; days not named are closed.

    Raises:
        ConfigurationError: an unknown day, a malformed time range, one that does not end
            after it starts, days without hours, or hours without days.
    """
    week: list[list[tuple[int, int]]] = [[] for _ in DAYS]
    days: list[int] = []
    ranges: list[tuple[int, int]] = []
    groups: list[tuple[list[int], list[tuple[int, int]]]] = []
    for token in re.split(r"[\s,;]+", spec.strip()):
        if not token:
            continue
        if token[0].isdigit():  # a time range; anything else names days
            if not days:
                raise ConfigurationError(
                    f"--business-hours {spec!r}: {token!r} comes before any day", EXAMPLE
                )
            ranges.append(_range(token, spec))
            continue
        if ranges:  # a day after hours starts the next group
            groups.append((days, ranges))
            days, ranges = [], []
        days += _days(token, spec)
    if days and not ranges:
        raise ConfigurationError(f"--business-hours {spec!r}: days without hours", EXAMPLE)
    if days:
        groups.append((days, ranges))
    if not groups:
        raise ConfigurationError("--business-hours is empty", EXAMPLE)
    for group_days, group_ranges in groups:
        for d in group_days:
            week[d] += group_ranges
    return tuple(_merge(r) for r in week)


def parse_holidays(text: str, name: str) -> frozenset[date]:
    """Parse a holidays file's text: one ``YYYY-MM-DD`` per line, then optionally a name.

    Args:
        text: the file's contents.
        name: the file, for messages.

    Raises:
        ConfigurationError: a line that is not blank, a ``#`` comment or a date.
    """
    days = set()
    for n, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split(maxsplit=1)
        if not words:
            continue
        try:
            if len(words[0]) != 10:  # fromisoformat also takes 20241225 and 2024-W52-3
                raise ValueError(words[0])
            days.add(date.fromisoformat(words[0]))
        except ValueError:
            raise ConfigurationError(
                f"--holidays {name} line {n}: {line.strip()!r} is not a YYYY-MM-DD date",
                "write one date per line, like 2024-12-25 (a name may follow it)",
            ) from None
    return frozenset(days)


def read_holidays(path: str) -> frozenset[date]:
    """Read a holidays file (:func:`parse_holidays`).

    Raises:
        InputNotFoundError: the file cannot be read.
        ConfigurationError: a malformed line.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputNotFoundError(
            f"cannot read --holidays {path}: {reason}", "pass a readable text file"
        ) from None
    return parse_holidays(text, path)


def from_options(report: Report, values: dict[str, Any], timezone: str) -> BusinessHours | None:
    """Return the schedule a report's options ask for, or None (no ``business_hours``).

    Raises:
        ConfigurationError: a malformed spec or holidays file, an unknown zone, ``holidays``
            without ``business_hours``, or an option (``--sort``) naming a business-time
            column while no schedule is given.
    """
    spec, holidays = values.get("business_hours"), values.get("holidays")
    if spec is None:
        if holidays is not None:
            raise ConfigurationError(
                "--holidays needs --business-hours", 'add --business-hours "Mon-Fri 09:00-17:00"'
            )
        business = {c.name for c in report.columns if c.section == SECTION}
        for name, value in values.items():
            if isinstance(value, str) and value in business:
                raise ConfigurationError(
                    f"--{name.replace('_', '-')} {value} needs --business-hours",
                    'add --business-hours "Mon-Fri 09:00-17:00", or choose a calendar column',
                )
        return None
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"unknown time zone {timezone!r}", "use an IANA name like Europe/Paris"
        ) from None
    return BusinessHours(
        week=parse_hours(str(spec)),
        timezone=timezone,
        holidays=read_holidays(str(holidays)) if holidays is not None else frozenset(),
    )


OPEN_UNTIL = (
    "({c}.open_before_us + least(greatest(epoch_us(r.{t}) - epoch_us({c}.opens_at), 0), "
    "epoch_us({c}.closes_at) - epoch_us({c}.opens_at)))"
)

VIEW = f"""
CREATE OR REPLACE TEMP VIEW replies_business AS
SELECT
    r.*,
    epoch_us(r.replied_at) - epoch_us(r.waiting_since) AS response_us,
    CASE WHEN NOT (a.beyond OR b.beyond) THEN
        {OPEN_UNTIL.format(c="b", t="replied_at")} - {OPEN_UNTIL.format(c="a", t="waiting_since")}
    END AS business_us
FROM replies AS r
ASOF LEFT JOIN business_calendar AS a ON r.waiting_since >= a.opens_at
ASOF LEFT JOIN business_calendar AS b ON r.replied_at >= b.opens_at
"""
"""``replies_business``: each reply with ``response_us`` (its response time) and ``business_us``
(its business time), integer microseconds (``business_us`` NULL when an end lies outside the
calendar: before its first sentinel, or at or after its last). Reports aggregate the integers: a
mean over them is exact whatever order DuckDB's threads add them in, and quantiles over BIGINT
cost less than over DOUBLE. The general form, two ASOF joins; :func:`bucket_view` computes the
same faster."""

WIDTHS_US = (
    3_600_000_000,
    1_800_000_000,
    900_000_000,
    300_000_000,
    60_000_000,
    1_000_000,
    1_000,
    1,
)
"""Bucket widths tried, widest first: an hour, 30, 15, 5 and 1 minutes, a second, 1 ms, 1 µs."""

MAX_BUCKETS = 1_000_000
"""More buckets than this (openings at odd minutes over years): the ASOF joins of :data:`VIEW`."""

BUCKETS = """
CREATE OR REPLACE TEMP TABLE business_buckets AS
WITH cal AS (
    SELECT epoch_us(opens_at) AS o, epoch_us(closes_at) AS c, open_before_us AS before
    FROM business_calendar
),
k AS (SELECT range AS k, {base} + (range - 1) * {width} AS s FROM range(1, {count}))
SELECT k.k, a.c, a.before - a.o AS off
FROM k ASOF JOIN cal AS a ON k.s >= a.o
"""
"""``business_buckets``: per bucket ``k`` ≥ 1, the instants ``base + (k-1)·width`` up to the next
bucket, the interval that an ASOF join finds at its start: its end ``c`` and ``off``, its open
time before minus its start. Every opening lies on a bucket start, so every instant of the
bucket finds that same interval, and its open time up to ``t`` — :data:`OPEN_UNTIL`, ``before +
least(greatest(t - o, 0), c - o)`` — is ``least(t, c) + off`` (``t ≥ o``): the same integers,
two columns. The buckets stop where the last sentinel (``beyond``) opens."""


def bucket_view(base: int, width: int) -> str:
    """Return the ``replies_business`` view over :data:`BUCKETS`, two hash joins, no ASOF.

    It gives the values of :data:`VIEW` from two hash joins on integer bucket numbers instead
    of two ASOF joins.

    An instant's bucket is ``(t - base + width) // width`` (integer division truncates, so
    every instant before ``base``, the first sentinel's opening, gets a number below 1); an end
    before the first sentinel or at/after the last finds no bucket, and its NULL ``off`` makes
    ``business_us`` NULL, as the ASOF joins do (no interval; ``beyond``).
    """
    return f"""
CREATE OR REPLACE TEMP VIEW replies_business AS
SELECT
    r.* EXCLUDE (_w, _r),
    _r - _w AS response_us,
    (least(_r, b.c) + b.off) - (least(_w, a.c) + a.off) AS business_us
FROM (
    SELECT *, epoch_us(waiting_since) AS _w, epoch_us(replied_at) AS _r FROM replies
) AS r
LEFT JOIN business_buckets AS a ON a.k = (r._w - {base} + {width}) // {width}
LEFT JOIN business_buckets AS b ON b.k = (r._r - {base} + {width}) // {width}
"""


def _width(opens: list[int]) -> int | None:
    """Return the widest of :data:`WIDTHS_US` that divides every opening (epoch µs).

    None when that takes more than :data:`MAX_BUCKETS` buckets.
    """
    span = opens[-1] - opens[0]
    for width in WIDTHS_US:
        if all(o % width == 0 for o in opens):
            return width if span // width + 1 <= MAX_BUCKETS else None
    return None  # unreachable: 1 µs divides everything


PARQUET_GLOB = re.compile(r"read_parquet\('((?:[^']|'')*)'")
"""The file pattern of a view over Parquet files (``storage.query.connect``), SQL-quoted."""

STATS_SPAN = """
SELECT
    count(*) FILTER (WHERE stats_min_value IS NULL OR stats_max_value IS NULL) AS missing,
    epoch_us(min(CAST(stats_min_value AS TIMESTAMPTZ))
        FILTER (WHERE path_in_schema = 'waiting_since')),
    epoch_us(max(CAST(stats_max_value AS TIMESTAMPTZ))
        FILTER (WHERE path_in_schema = 'replied_at'))
FROM (
    SELECT
        *,
        CAST(regexp_extract(file_name, '[/\\\\]year=(\\d+)[/\\\\]', 1) AS INTEGER) AS year,
        CAST(regexp_extract(file_name, '[/\\\\]month=(\\d+)[/\\\\]', 1) AS INTEGER) AS month,
        CAST(regexp_extract(file_name, '[/\\\\]day=(\\d+)[/\\\\]', 1) AS INTEGER) AS day
    FROM parquet_metadata('{glob}')
    WHERE path_in_schema IN ('waiting_since', 'replied_at') AND num_values > 0
)
WHERE {where}
"""
"""The earliest ``waiting_since`` and latest ``replied_at`` of the replies files of the partition
days, from their row groups' statistics (and how many row groups have none)."""


def _span_us(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> tuple[Any, Any]:
    """Return the earliest ``waiting_since`` and the latest ``replied_at`` of some days' replies.

    Epoch µs, or None without replies, over the partition days ``first`` … ``last``.

    Read from the Parquet files' row-group statistics when ``replies`` is a view over Parquet
    files that all have them (the footers, about 20 ms for 90 days, instead of a scan of every
    reply, about 100 ms at 2.4M replies); else, or on any error, from the rows themselves.
    """
    import duckdb

    from analytics_framework.storage.query import day_filter

    where = day_filter("", "first", "last")
    bounds = {k: v for k, v in params.items() if f"${k}" in where}
    view = con.execute(
        "SELECT sql FROM duckdb_views() WHERE view_name = 'replies' AND NOT internal"
    ).fetchone()
    found = PARQUET_GLOB.search(view[0] or "") if view else None
    if found is not None:
        try:
            missing, lo, hi = con.execute(
                STATS_SPAN.format(glob=found.group(1), where=where), bounds
            ).fetchone()  # type: ignore[misc]
        except duckdb.Error:
            missing = None
        if missing == 0:
            return lo, hi
    # as epoch microseconds: DuckDB hands TIMESTAMPTZ to Python only through pytz
    return con.execute(
        "SELECT epoch_us(min(waiting_since)), epoch_us(max(replied_at)) "
        f"FROM replies WHERE {where}",
        bounds,
    ).fetchone() or (None, None)


def register(
    con: duckdb.DuckDBPyConnection, hours: BusinessHours | None, params: dict[str, Any]
) -> None:
    """Define the view ``replies_business``: ``replies`` plus the columns of :data:`VIEW`.

    The calendar covers the replies of the report's partition days (the engine's
    ``first``/``last`` day parameters in ``params``) on ``con``; without a schedule
    ``business_us`` is NULL.
    """
    if hours is None:
        con.execute(NO_SCHEDULE_VIEW)
        return
    lo_us, hi_us = _span_us(con, params)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)  # no replies: any (tiny) calendar will do
    lo = epoch + timedelta(microseconds=lo_us or 0)
    hi = epoch + timedelta(microseconds=hi_us or lo_us or 0)
    calendar = hours.calendar(lo, hi)
    con.register("business_calendar", calendar)
    opens = calendar.column("opens_at").cast("int64").to_pylist()
    width = _width(opens)
    if width is None:
        con.execute(VIEW)
        return
    count = (opens[-1] - opens[0]) // width + 1  # numbers 1 … count - 1, up to ``beyond``
    con.execute(BUCKETS.format(base=opens[0], width=width, count=count))
    con.execute(bucket_view(opens[0], width))


NO_SCHEDULE_VIEW = """
CREATE OR REPLACE TEMP VIEW replies_business AS
SELECT
    *,
    CAST(round(response_s * 1e6) AS BIGINT) AS response_us,
    CAST(NULL AS BIGINT) AS business_us
FROM replies
"""
"""``replies_business`` without a schedule: the columns of :data:`VIEW`, business time NULL;
``response_us`` from ``response_s`` (exact: it was microseconds / 1e6), one column read instead
of two timestamps."""

VIEWS = (VIEW, BUCKETS, bucket_view(0, 1), NO_SCHEDULE_VIEW)
"""Every SQL text :func:`register` may run (the columns an export keeps in memory come from it)."""


def columns_of(report: Report) -> set[str]:
    """Return the names of a report's business-time columns (section :data:`SECTION`)."""
    return {c.name for c in report.columns if c.section == SECTION}
