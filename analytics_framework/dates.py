"""Day ranges: parsing ``YYYY-MM-DD`` options and turning local days into UTC instants."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from analytics_framework.errors import ConfigurationError


def day_range_utc(
    start: date | None, end: date | None, timezone: str
) -> tuple[datetime | None, datetime | None]:
    """Turn a half-open day range in ``timezone`` into UTC instants ``[start, end)``."""
    tz = ZoneInfo(timezone)
    utc = ZoneInfo("UTC")

    def at(d: date | None) -> datetime | None:
        return None if d is None else datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(utc)

    return at(start), at(end)


def parse_day(value: str | None, option: str) -> date | None:
    """Parse ``YYYY-MM-DD`` for ``option``; None passes through.

    Raises:
        ConfigurationError: not a valid ISO date.
    """
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigurationError(
            f"{option} {value!r} is not a date", f"write it as YYYY-MM-DD, e.g. {option} 2017-10-01"
        ) from None


def check_range(start: date | None, end: date | None) -> None:
    """Raise ConfigurationError unless ``start < end`` (when both are given)."""
    if start and end and not start < end:
        raise ConfigurationError(
            f"--start-date {start} is not before --end-date {end}",
            "the range is half-open [start, end): make the end date later, e.g. "
            f"--end-date {start + timedelta(days=1)}",
        )


def day_list(start: date, end: date) -> list[date]:
    """Days of the half-open range ``[start, end)``."""
    return [start + timedelta(days=i) for i in range((end - start).days)]
