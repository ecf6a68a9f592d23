"""The clinic's opening hours.

Owns: parsing the opening-hours spec, deciding whether the clinic is open at a moment (in the
clinic's time zone, closed on Korean public holidays and on configured extra closed dates), the
next opening, and business-hour arithmetic for SLA deadlines. Pure: no I/O, no database.

One session per weekday, opening and closing on the same local day (no overnight sessions).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = ["DEFAULT_SPEC", "DEFAULT_TZ", "HOLIDAY_COUNTRY", "MAX_SEARCH_DAYS", "OpeningHours"]

DEFAULT_SPEC = "mon,wed,thu 10:00-19:00; tue,fri 10:00-21:00"
DEFAULT_TZ = "Asia/Seoul"
HOLIDAY_COUNTRY = "KR"
MAX_SEARCH_DAYS = 60

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_INDEX = {name: i for i, name in enumerate(DAY_NAMES)}
_CLAUSE_RE = re.compile(r"^\s*(?P<days>[A-Za-z,\s-]+?)\s+(?P<start>\S+)\s*-\s*(?P<end>\S+)\s*$")
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")


@lru_cache(maxsize=64)
def _public_holidays(year: int) -> frozenset[date]:
    """The public holidays of HOLIDAY_COUNTRY in `year` (from the `holidays` package)."""
    return frozenset(holidays.country_holidays(HOLIDAY_COUNTRY, years=year).keys())


def _parse_time(text: str, spec: str) -> time:
    match = _TIME_RE.match(text)
    if not match:
        raise ValueError(f"bad opening-hours spec {spec!r}: {text!r} is not a HH:MM time")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"bad opening-hours spec {spec!r}: {text!r} is not a valid time")
    return time(hour, minute)


def _parse_days(text: str, spec: str) -> list[int]:
    days: list[int] = []
    for item in text.split(","):
        item = item.strip().lower()
        if not item:
            raise ValueError(f"bad opening-hours spec {spec!r}: empty day name")
        first, sep, last = item.partition("-")
        names = (first.strip(), last.strip()) if sep else (item, item)
        for name in names:
            if name not in _DAY_INDEX:
                raise ValueError(
                    f"bad opening-hours spec {spec!r}: unknown day {name!r} "
                    f"(use {', '.join(DAY_NAMES)})"
                )
        lo, hi = _DAY_INDEX[names[0]], _DAY_INDEX[names[1]]
        if hi < lo:
            raise ValueError(f"bad opening-hours spec {spec!r}: day range {item!r} runs backwards")
        days.extend(range(lo, hi + 1))
    return days


def _require_aware(at: datetime, name: str = "at") -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be a time-zone-aware datetime")


@dataclass(frozen=True)
class OpeningHours:
    """Weekly opening hours (Monday=0; None or absent = closed) in the clinic's time zone."""

    weekly: Mapping[int, tuple[time, time] | None]
    tz: ZoneInfo
    extra_closed: frozenset[date] = frozenset()
    observe_public_holidays: bool = True

    @classmethod
    def parse(cls, spec: str, tz: str = DEFAULT_TZ, extra_closed: str = "") -> OpeningHours:
        """Build from `"mon,wed,thu 10:00-19:00; tue,fri 10:00-21:00"` (unnamed days closed).

        Day ranges such as `mon-fri` are accepted too. `extra_closed` is a comma-separated list
        of ISO dates. Raises ValueError with a clear message on any bad input.
        """
        weekly: dict[int, tuple[time, time] | None] = dict.fromkeys(range(7))
        seen: set[int] = set()
        clauses = [c for c in spec.split(";") if c.strip()]
        if not clauses:
            raise ValueError(f"bad opening-hours spec {spec!r}: no opening hours given")
        for clause in clauses:
            match = _CLAUSE_RE.match(clause)
            if not match:
                raise ValueError(
                    f"bad opening-hours spec {spec!r}: clause {clause.strip()!r} is not "
                    "like 'mon,tue 10:00-19:00'"
                )
            start = _parse_time(match.group("start"), spec)
            end = _parse_time(match.group("end"), spec)
            if end <= start:
                raise ValueError(
                    f"bad opening-hours spec {spec!r}: closing time {end:%H:%M} is not after "
                    f"opening time {start:%H:%M}"
                )
            for day in _parse_days(match.group("days"), spec):
                if day in seen:
                    raise ValueError(
                        f"bad opening-hours spec {spec!r}: {DAY_NAMES[day]} is listed twice"
                    )
                seen.add(day)
                weekly[day] = (start, end)
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {tz!r}") from exc
        closed: set[date] = set()
        for item in extra_closed.split(","):
            item = item.strip()
            if not item:
                continue
            try:
                closed.add(date.fromisoformat(item))
            except ValueError as exc:
                raise ValueError(f"bad extra closed date {item!r}: use YYYY-MM-DD") from exc
        return cls(weekly=MappingProxyType(weekly), tz=zone, extra_closed=frozenset(closed))

    # -- days -------------------------------------------------------------------------------

    def is_public_holiday(self, d: date) -> bool:
        """True if `d` is a Korean public holiday (and public holidays are observed)."""
        return self.observe_public_holidays and d in _public_holidays(d.year)

    def is_closed_day(self, d: date) -> bool:
        """True if the clinic does not open on `d`: holiday, extra closed date or no hours."""
        return (
            self.weekly.get(d.weekday()) is None
            or d in self.extra_closed
            or self.is_public_holiday(d)
        )

    def session_on(self, d: date) -> tuple[datetime, datetime] | None:
        """The (opening, closing) moments on local date `d`, aware in the clinic tz; or None."""
        if self.is_closed_day(d):
            return None
        hours = self.weekly.get(d.weekday())
        if hours is None:  # pragma: no cover - is_closed_day covers it
            return None
        start, end = hours
        return (
            datetime.combine(d, start, tzinfo=self.tz),
            datetime.combine(d, end, tzinfo=self.tz),
        )

    def _sessions_from(
        self, d: date, days: int = MAX_SEARCH_DAYS
    ) -> Iterator[tuple[datetime, datetime]]:
        for offset in range(days + 1):
            session = self.session_on(d + timedelta(days=offset))
            if session is not None:
                yield session

    # -- moments ----------------------------------------------------------------------------

    def local(self, at: datetime) -> datetime:
        """`at` (aware, any tz) expressed in the clinic's time zone."""
        _require_aware(at)
        return at.astimezone(self.tz)

    def is_open(self, at: datetime) -> bool:
        """True if the clinic is open at the aware moment `at` (opening inclusive, closing not)."""
        local = self.local(at)
        session = self.session_on(local.date())
        return session is not None and session[0] <= local < session[1]

    def next_opening(self, at: datetime) -> datetime:
        """The next opening strictly after `at`, aware in the clinic tz.

        If open at `at`, the start of the next session after the current one. Looks at most
        MAX_SEARCH_DAYS ahead; raises ValueError if no opening is found in that window.
        """
        local = self.local(at)
        for start, _end in self._sessions_from(local.date()):
            if start > local:
                return start
        raise ValueError(f"the clinic does not open within {MAX_SEARCH_DAYS} days of {local}")

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` of opening time have elapsed from `start` (for SLA deadlines).

        Only open time counts; the result is aware in the clinic tz. Zero hours returns `start`;
        a deadline that ends exactly at closing time is that closing time.
        """
        if hours < 0:
            raise ValueError("hours must not be negative")
        current = self.local(start)
        remaining = timedelta(hours=hours)
        if not remaining:
            return current
        while True:
            session = self.session_on(current.date())
            if session is not None and session[0] <= current < session[1]:
                available = session[1] - current
                if remaining <= available:
                    return current + remaining
                remaining -= available
                current = session[1]
            current = self.next_opening(current)

    def business_hours_between(self, start: datetime, end: datetime) -> float:
        """Opening hours elapsed between `start` and `end` (negative if `end` is before)."""
        a, b = self.local(start), self.local(end)
        if b < a:
            return -self.business_hours_between(end, start)
        total = timedelta()
        d = a.date()
        while d <= b.date():
            session = self.session_on(d)
            if session is not None:
                lo, hi = max(session[0], a), min(session[1], b)
                if hi > lo:
                    total += hi - lo
            d += timedelta(days=1)
        return total.total_seconds() / 3600
