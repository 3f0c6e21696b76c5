"""Business hours: the spec and holidays parsers, business time by hand, and DuckDB agreeing."""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pytest

from analytics_framework.errors import ConfigurationError, InputNotFoundError
from analytics_framework.reports import business_hours as bh
from analytics_framework.reports import get_report

BERLIN = ZoneInfo("Europe/Berlin")  # UTC+1 in early March 2024, UTC+2 from 31 March 03:00
NINE_TO_FIVE = ((540, 1020),)
TEN = ((600, 660),)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def hours(spec: str = "Mon-Fri 09:00-17:00", tz: str = "Europe/Berlin", holidays=()):
    return bh.BusinessHours(bh.parse_hours(spec), tz, frozenset(holidays))


@pytest.mark.parametrize(
    "spec, week",
    [
        ("Mon-Fri 09:00-17:00", (NINE_TO_FIVE,) * 5 + ((), ())),
        (
            "Mon-Thu 09:00-17:00, Fri 09:00-13:00",
            (NINE_TO_FIVE,) * 4 + (((540, 780),), (), ()),
        ),
        (
            "mon-fri 09:00-12:00 13:00-17:00; Saturday 10:00-14:00",
            (((540, 720), (780, 1020)),) * 5 + (((600, 840),), ()),
        ),
        # a range of days wraps over the weekend
        ("Fri-Mon 10:00-11:00", (TEN,) + ((),) * 3 + (TEN,) * 3),
        # a list of days; overlapping ranges of a day merge
        ("Mon,Wed 08:00-09:00 08:30-10:00", (((480, 600),), (), ((480, 600),), (), (), (), ())),
        ("Mon-Sun 00:00-24:00", (((0, 1440),),) * 7),
        # the same day in two groups: the union
        ("Mon 09:00-12:00, Mon-Tue 11:00-13:00", (((540, 780),), ((660, 780),)) + ((),) * 5),
    ],
)
def test_parse_hours(spec, week):
    assert bh.parse_hours(spec) == week


@pytest.mark.parametrize(
    "spec, says",
    [
        ("", "is empty"),
        ("Mon-Fri", "days without hours"),
        ("09:00-17:00", "comes before any day"),
        ("Mon 17:00-09:00", "does not end after it starts"),
        ("Xyz 09:00-10:00", "'Xyz' is not a day"),
        ("Mon 9-17", "'9-17' is not a time range"),
        ("Mon 09:00-25:00", "is not a time of day"),
        ("Mon 09:60-10:00", "is not a time of day"),
    ],
)
def test_parse_hours_errors_name_the_problem(spec, says):
    with pytest.raises(ConfigurationError) as err:
        bh.parse_hours(spec)
    assert says in err.value.one_line() and "\n" not in err.value.one_line()


def test_holidays_file(tmp_path):
    text = "# closed\n2024-03-13  staff day\n\n2024-12-25 # Christmas\n"
    assert bh.parse_holidays(text, "h.txt") == {date(2024, 3, 13), date(2024, 12, 25)}
    with pytest.raises(ConfigurationError, match=r"h.txt line 2: '13/03/2024' is not a YYYY"):
        bh.parse_holidays("2024-03-13\n13/03/2024\n", "h.txt")
    with pytest.raises(ConfigurationError, match="line 1"):
        bh.parse_holidays("20240313\n", "h.txt")  # fromisoformat would take it; we do not
    path = tmp_path / "h.txt"
    path.write_text(text)
    assert bh.read_holidays(str(path)) == {date(2024, 3, 13), date(2024, 12, 25)}
    with pytest.raises(InputNotFoundError, match="cannot read --holidays"):
        bh.read_holidays(str(tmp_path / "missing.txt"))


# Mon-Fri 09:00-17:00 in Berlin; every number by hand (seconds)
CASES = [
    # inside one open stretch: Wed 10:00 -> 10:20 = 20 min
    (local(2024, 3, 6, 10, 0), local(2024, 3, 6, 10, 20), 1200),
    # across a night: Mon 16:30 -> Tue 09:30 = 30 min Mon + 30 min Tue
    (local(2024, 3, 4, 16, 30), local(2024, 3, 5, 9, 30), 3600),
    # across a weekend: Fri 16:00 -> Mon 10:00 = 1 h Fri + 1 h Mon
    (local(2024, 3, 8, 16, 0), local(2024, 3, 11, 10, 0), 7200),
    # all outside: Sat 11:00 -> Sat 12:00; Tue 06:00 -> 08:59
    (local(2024, 3, 9, 11, 0), local(2024, 3, 9, 12, 0), 0),
    (local(2024, 3, 5, 6, 0), local(2024, 3, 5, 8, 59), 0),
    # starts before opening: Tue 07:00 -> 09:45 = 45 min
    (local(2024, 3, 5, 7, 0), local(2024, 3, 5, 9, 45), 2700),
    # a whole week: Mon 00:00 -> next Mon 00:00 = 5 x 8 h
    (local(2024, 3, 4), local(2024, 3, 11), 144000),
    # Tue 16:00 -> Thu 09:15 without a holiday: 1 h + 8 h + 15 min
    (local(2024, 3, 12, 16, 0), local(2024, 3, 14, 9, 15), 33300),
    # fractions of a second survive: 09:00:00.25 -> 09:00:01
    (local(2024, 3, 6, 9, 0, 0) + timedelta(microseconds=250000), local(2024, 3, 6, 9, 0, 1), 0.75),
    # the end before the start counts nothing
    (local(2024, 3, 6, 11, 0), local(2024, 3, 6, 10, 0), 0),
]


@pytest.mark.parametrize("start, end, seconds", CASES)
def test_business_seconds_by_hand(start, end, seconds):
    assert bh.business_seconds(hours(), start, end) == seconds


def test_a_holiday_is_closed_all_day():
    # Tue 16:00 -> Thu 09:15 with Wednesday 13 March off: 1 h Tue + 15 min Thu
    closed = hours(holidays=[date(2024, 3, 13)])
    assert bh.business_seconds(closed, local(2024, 3, 12, 16), local(2024, 3, 14, 9, 15)) == 4500


def test_daylight_saving_counts_elapsed_time():
    # Berlin skips 02:00-03:00 on Sunday 31 March 2024: noon Saturday to noon Sunday is 23 h
    always = hours("Mon-Sun 00:00-24:00")
    assert bh.business_seconds(always, local(2024, 3, 30, 12), local(2024, 3, 31, 12)) == 82800
    # open hours follow the wall clock: Mon 1 April 09:00 local is 07:00 UTC
    opens, closes = hours().intervals(date(2024, 4, 1), date(2024, 4, 1))[0]
    assert (opens, closes) == (
        datetime(2024, 4, 1, 7, tzinfo=UTC),
        datetime(2024, 4, 1, 15, tzinfo=UTC),
    )


def test_a_skipped_local_hour_never_overlaps_intervals():
    # 01:00-02:30 and 03:00-05:00 on the spring-forward night: 02:30 does not exist
    odd = hours("Sun 01:00-02:30 03:00-05:00")
    spans = odd.intervals(date(2024, 3, 31), date(2024, 3, 31))
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    # elapsed: 01:00-02:00 CET (1 h; 02:00-02:30 does not exist) + 03:00-05:00 CEST (2 h)
    assert bh.business_seconds(odd, local(2024, 3, 31, 0), local(2024, 3, 31, 6)) == 10800


def _duckdb_seconds(h: bh.BusinessHours, pairs: list[tuple[datetime, datetime]]) -> list:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    ts = pa.timestamp("us", "UTC")
    con.register(
        "replies",
        pa.table(
            {
                "n": pa.array(range(len(pairs)), pa.int64()),
                "waiting_since": pa.array([a for a, _ in pairs], ts),
                "replied_at": pa.array([b for _, b in pairs], ts),
                "year": pa.array([2024] * len(pairs), pa.int32()),
                "month": pa.array([3] * len(pairs), pa.int32()),
                "day": pa.array([1] * len(pairs), pa.int32()),
            }
        ),
    )
    params = {f"{k}_{p}": None for k in ("first", "last") for p in "ymd"}
    bh.register(con, h, params)
    rows = con.execute("SELECT business_us / 1e6 FROM replies_business ORDER BY n").fetchall()
    return [r[0] for r in rows]


def test_duckdb_agrees_with_the_hand_computed_cases():
    pairs = [(a, b) for a, b, _ in CASES if b >= a]
    got = _duckdb_seconds(hours(), pairs)
    assert got == pytest.approx([s for a, b, s in CASES if b >= a], abs=1e-6)


@pytest.mark.parametrize(
    "spec, tz",
    [
        ("Mon-Thu 09:00-17:00, Fri 09:00-13:00", "Europe/Berlin"),
        ("Mon-Sun 00:00-24:00", "America/New_York"),
        ("Mon-Fri 08:00-12:00 13:30-18:00, Sat 10:00-14:00", "Asia/Kolkata"),
    ],
)
def test_duckdb_agrees_with_python_on_random_waits(spec, tz):
    rng = random.Random(7)
    h = hours(spec, tz, holidays=[date(2024, 3, 13), date(2024, 11, 4)])
    base = datetime(2024, 1, 1, tzinfo=UTC)
    pairs = []
    for _ in range(300):
        a = base + timedelta(seconds=rng.uniform(0, 365 * 86400))
        pairs.append((a, a + timedelta(seconds=rng.expovariate(1 / 200000))))
    got = _duckdb_seconds(h, pairs)
    want = [bh.business_seconds(h, a, b) for a, b in pairs]
    assert got == pytest.approx(want, abs=1e-6)


def test_a_million_replies_stay_fast():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        """
        CREATE TABLE replies AS
        SELECT TIMESTAMPTZ '2020-01-01' + to_microseconds(CAST(random() * 3e14 AS BIGINT))
                   AS waiting_since,
               2024 AS year, 1 AS month, 1 AS day
        FROM range(1000000)
        """
    )
    con.execute(
        "CREATE OR REPLACE TABLE replies AS SELECT *, waiting_since + "
        "to_microseconds(CAST(random() * 1e11 AS BIGINT)) AS replied_at FROM replies"
    )
    params = {f"{k}_{p}": None for k in ("first", "last") for p in "ymd"}
    began = time.perf_counter()
    bh.register(con, hours("Mon-Fri 09:00-17:00", "America/New_York"), params)
    n, nulls = con.execute(
        "SELECT count(*), count(*) - count(business_us) FROM replies_business"
    ).fetchone()
    assert (n, nulls) == (1_000_000, 0)
    assert time.perf_counter() - began < 20  # about 1 s on two cores


def test_options_checked_before_anything_runs():
    overview = get_report("overview")
    assert bh.from_options(overview, {}, "UTC") is None
    with pytest.raises(ConfigurationError, match="--holidays needs --business-hours"):
        bh.from_options(overview, {"holidays": "h.txt"}, "UTC")
    with pytest.raises(ConfigurationError, match="unknown time zone"):
        bh.from_options(overview, {"business_hours": "Mon 09:00-10:00"}, "Mars/Olympus")
    agents = get_report("agents")
    with pytest.raises(ConfigurationError, match="--sort frt_business_median_s needs"):
        bh.from_options(agents, {"sort": "frt_business_median_s"}, "UTC")
    got = bh.from_options(agents, {"business_hours": "Sat 10:00-11:00"}, "Asia/Tokyo")
    assert got == bh.BusinessHours(((),) * 5 + (((600, 660),), ()), "Asia/Tokyo")
