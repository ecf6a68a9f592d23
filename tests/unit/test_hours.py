"""Unit tests for intake.hours (opening hours in Asia/Seoul, Korean public holidays)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from intake.hours import DEFAULT_SPEC, OpeningHours

SEOUL = ZoneInfo("Asia/Seoul")


def kst(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SEOUL)


@pytest.fixture()
def hours() -> OpeningHours:
    return OpeningHours.parse(DEFAULT_SPEC)


# -- parsing ----------------------------------------------------------------------------------


def test_parse_default_spec(hours: OpeningHours) -> None:
    assert hours.tz == SEOUL
    assert hours.weekly[0] == (time(10), time(19))
    assert hours.weekly[1] == (time(10), time(21))
    assert hours.weekly[2] == (time(10), time(19))
    assert hours.weekly[3] == (time(10), time(19))
    assert hours.weekly[4] == (time(10), time(21))
    assert hours.weekly[5] is None and hours.weekly[6] is None
    assert hours.extra_closed == frozenset()
    assert hours.observe_public_holidays


def test_parse_case_insensitive_ranges_and_extra_closed() -> None:
    h = OpeningHours.parse("MON-Fri 09:30-18:00;  Sat 10:00-13:00", tz="UTC",
                           extra_closed=" 2026-12-24 , 2026-12-31,")
    assert h.tz == ZoneInfo("UTC")
    assert all(h.weekly[d] == (time(9, 30), time(18)) for d in range(5))
    assert h.weekly[5] == (time(10), time(13))
    assert h.weekly[6] is None
    assert h.extra_closed == {date(2026, 12, 24), date(2026, 12, 31)}


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "mon",
        "funday 10:00-19:00",
        "mon 10:00",
        "mon 25:00-26:00",
        "mon 10:60-19:00",
        "mon 19:00-10:00",
        "mon 10:00-10:00",
        "mon 10:00-19:00; mon 11:00-12:00",
        "fri-mon 10:00-19:00",
        "mon,,tue 10:00-19:00",
        "mon 10h-19h",
    ],
)
def test_parse_rejects_bad_spec(spec: str) -> None:
    with pytest.raises(ValueError, match="spec"):
        OpeningHours.parse(spec)


def test_parse_rejects_bad_tz_and_dates() -> None:
    with pytest.raises(ValueError, match="time zone"):
        OpeningHours.parse(DEFAULT_SPEC, tz="Mars/Olympus")
    with pytest.raises(ValueError, match="closed date"):
        OpeningHours.parse(DEFAULT_SPEC, extra_closed="2026-13-01")


# -- is_open ----------------------------------------------------------------------------------


def test_2026_11_25_is_a_wednesday() -> None:
    assert date(2026, 11, 25).weekday() == 2


def test_open_at_opening_edge_and_closed_at_closing_edge(hours: OpeningHours) -> None:
    assert not hours.is_open(kst(2026, 11, 25, 9, 59))
    assert hours.is_open(kst(2026, 11, 25, 10, 0))
    assert hours.is_open(kst(2026, 11, 25, 18, 59))
    assert not hours.is_open(kst(2026, 11, 25, 19, 0))


def test_tuesday_evening_session(hours: OpeningHours) -> None:
    assert hours.is_open(kst(2026, 11, 24, 20, 30))
    assert not hours.is_open(kst(2026, 11, 24, 21, 0))
    assert not hours.is_open(kst(2026, 11, 25, 20, 30))  # Wednesday closes at 19:00


def test_weekend_closed(hours: OpeningHours) -> None:
    assert not hours.is_open(kst(2026, 11, 28, 12))  # Saturday
    assert not hours.is_open(kst(2026, 11, 29, 12))  # Sunday
    assert hours.is_closed_day(date(2026, 11, 28))
    assert hours.is_closed_day(date(2026, 11, 29))
    assert not hours.is_closed_day(date(2026, 11, 27))


def test_holidays_package_lists_christmas_and_new_year() -> None:
    kr = holidays.country_holidays("KR", years=[2026, 2027])
    assert date(2026, 12, 25) in kr
    assert date(2027, 1, 1) in kr


def test_korean_public_holidays_closed(hours: OpeningHours) -> None:
    assert date(2026, 12, 25).weekday() == 4 and date(2027, 1, 1).weekday() == 4  # Fridays
    assert not hours.is_open(kst(2026, 12, 25, 12))
    assert not hours.is_open(kst(2027, 1, 1, 12))
    assert hours.is_closed_day(date(2026, 12, 25))
    assert hours.is_public_holiday(date(2027, 1, 1))


def test_public_holidays_can_be_ignored() -> None:
    base = OpeningHours.parse(DEFAULT_SPEC)
    h = OpeningHours(weekly=base.weekly, tz=base.tz, observe_public_holidays=False)
    assert h.is_open(kst(2026, 12, 25, 12))


def test_extra_closed_date() -> None:
    h = OpeningHours.parse(DEFAULT_SPEC, extra_closed="2026-11-25")
    assert h.is_closed_day(date(2026, 11, 25))
    assert not h.is_open(kst(2026, 11, 25, 12))
    assert h.next_opening(kst(2026, 11, 25, 12)) == kst(2026, 11, 26, 10)


def test_utc_input(hours: OpeningHours) -> None:
    # 01:00 UTC is 10:00 KST on Wednesday 2026-11-25.
    assert hours.is_open(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 11, 25, 0, 59, tzinfo=UTC))
    # 10:00 UTC is 19:00 KST: closed.
    assert not hours.is_open(datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    # 23:00 UTC on Tuesday is 08:00 KST on Wednesday: opens at 10:00 KST.
    nxt = hours.next_opening(datetime(2026, 11, 24, 23, 0, tzinfo=UTC))
    assert nxt == kst(2026, 11, 25, 10)
    assert nxt.tzinfo == SEOUL


def test_naive_datetime_rejected(hours: OpeningHours) -> None:
    with pytest.raises(ValueError, match="aware"):
        hours.is_open(datetime(2026, 11, 25, 12))
    with pytest.raises(ValueError, match="aware"):
        hours.next_opening(datetime(2026, 11, 25, 12))


# -- next_opening -----------------------------------------------------------------------------


def test_next_opening_before_opening_same_day(hours: OpeningHours) -> None:
    assert hours.next_opening(kst(2026, 11, 25, 8)) == kst(2026, 11, 25, 10)


def test_next_opening_is_strictly_after(hours: OpeningHours) -> None:
    # Open at 10:00 sharp: the next opening is the next session, Thursday.
    assert hours.next_opening(kst(2026, 11, 25, 10)) == kst(2026, 11, 26, 10)


def test_next_opening_when_open_is_next_session(hours: OpeningHours) -> None:
    assert hours.next_opening(kst(2026, 11, 25, 15)) == kst(2026, 11, 26, 10)


def test_next_opening_across_weekend(hours: OpeningHours) -> None:
    assert hours.next_opening(kst(2026, 11, 27, 21, 30)) == kst(2026, 11, 30, 10)
    assert hours.next_opening(kst(2026, 11, 28, 12)) == kst(2026, 11, 30, 10)


def test_next_opening_across_holiday_and_weekend(hours: OpeningHours) -> None:
    # Thu 2026-12-24 evening -> Fri 25 Christmas, Sat, Sun -> Mon 28.
    assert hours.next_opening(kst(2026, 12, 24, 19, 30)) == kst(2026, 12, 28, 10)
    # Thu 2026-12-31 evening -> Fri 2027-01-01 New Year's Day, weekend -> Mon 2027-01-04.
    assert hours.next_opening(kst(2026, 12, 31, 20)) == kst(2027, 1, 4, 10)


def test_next_opening_gives_up_after_60_days() -> None:
    h = OpeningHours.parse(DEFAULT_SPEC, extra_closed=",".join(
        (date(2026, 11, 25) + timedelta(days=i)).isoformat() for i in range(70)))
    with pytest.raises(ValueError, match="60 days"):
        h.next_opening(kst(2026, 11, 25, 8))


# -- business hours ---------------------------------------------------------------------------


def test_add_business_hours_within_session(hours: OpeningHours) -> None:
    assert hours.add_business_hours(kst(2026, 11, 25, 10), 2.5) == kst(2026, 11, 25, 12, 30)


def test_add_business_hours_across_night(hours: OpeningHours) -> None:
    # Wed 17:00 + 4h: 2h on Wednesday (to 19:00), 2h on Thursday from 10:00.
    assert hours.add_business_hours(kst(2026, 11, 25, 17), 4) == kst(2026, 11, 26, 12)


def test_add_business_hours_from_closed_time(hours: OpeningHours) -> None:
    assert hours.add_business_hours(kst(2026, 11, 28, 15), 1) == kst(2026, 11, 30, 11)


def test_add_business_hours_ending_at_closing(hours: OpeningHours) -> None:
    assert hours.add_business_hours(kst(2026, 11, 25, 18), 1) == kst(2026, 11, 25, 19)


def test_add_business_hours_across_holiday(hours: OpeningHours) -> None:
    # Thu 2026-12-24 18:00 + 2h: 1h Thursday, Christmas + weekend skipped, 1h Monday.
    assert hours.add_business_hours(kst(2026, 12, 24, 18), 2) == kst(2026, 12, 28, 11)


def test_add_business_hours_zero_and_negative(hours: OpeningHours) -> None:
    start = datetime(2026, 11, 25, 3, tzinfo=UTC)
    assert hours.add_business_hours(start, 0) == start
    with pytest.raises(ValueError):
        hours.add_business_hours(start, -1)


def test_add_business_hours_utc_input(hours: OpeningHours) -> None:
    result = hours.add_business_hours(datetime(2026, 11, 25, 9, tzinfo=UTC), 3)  # 18:00 KST
    assert result == kst(2026, 11, 26, 12)
    assert result.tzinfo == SEOUL


def test_business_hours_between(hours: OpeningHours) -> None:
    assert hours.business_hours_between(kst(2026, 11, 25, 10), kst(2026, 11, 25, 12, 30)) == 2.5
    # Wed 17:00 -> Thu 12:00: 2h + 2h.
    assert hours.business_hours_between(kst(2026, 11, 25, 17), kst(2026, 11, 26, 12)) == 4
    # A whole week from Monday 00:00: 9 + 11 + 9 + 9 + 11.
    assert hours.business_hours_between(kst(2026, 11, 23), kst(2026, 11, 30)) == 49
    # Reversed order gives a negative duration.
    assert hours.business_hours_between(kst(2026, 11, 26, 12), kst(2026, 11, 25, 17)) == -4
    # Closed-only interval.
    assert hours.business_hours_between(kst(2026, 11, 28), kst(2026, 11, 29, 23)) == 0


def test_add_and_between_agree(hours: OpeningHours) -> None:
    start = kst(2026, 12, 23, 16, 15)
    for h in (0.5, 3, 11, 30.25):
        end = hours.add_business_hours(start, h)
        assert hours.business_hours_between(start, end) == pytest.approx(h)
