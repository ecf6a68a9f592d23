"""The clinic as configuration: name, hours, holidays, interests, notices, windows.

Built once per app or worker from `Settings`; the services take it as an argument so that the
domain never reads the environment itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from intake.hours import OpeningHours
from intake.notices import Notices


@dataclass(frozen=True)
class Clinic:
    name: str
    name_en: str
    phone: str
    address: str
    tz: ZoneInfo
    hours: OpeningHours
    notices: Notices
    interests: tuple[str, ...]
    thread_window: timedelta
    privacy_officer: str

    @classmethod
    def from_settings(cls, settings: Any) -> Clinic:
        return cls(
            name=settings.clinic_name,
            name_en=settings.clinic_name_en,
            phone=settings.clinic_phone,
            address=settings.clinic_address,
            tz=ZoneInfo(settings.clinic_timezone),
            hours=OpeningHours.parse(settings.clinic_hours, tz=settings.clinic_timezone,
                                     extra_closed=settings.clinic_closed_dates),
            notices=Notices.load(settings.notices_dir),
            interests=tuple(settings.clinic_interests),
            thread_window=timedelta(days=settings.thread_window_days),
            privacy_officer=settings.privacy_officer,
        )

    def display_name(self, locale: str | None) -> str:
        return self.name_en if locale == "en" else self.name
