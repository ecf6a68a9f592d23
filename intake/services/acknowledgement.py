"""The texts the hub sends on its own: the acknowledgement (depending on opening hours, with the
R47 result notice when the inquiry changed marketing consent) and the guardian request (R12)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from intake.clinic import Clinic


class Addressee(Protocol):
    """Whom a text is written to: a stored person, or the row `receive` has just written."""

    @property
    def name(self) -> str | None: ...

    @property
    def locale(self) -> str | None: ...


def acknowledgement(clinic: Clinic, person: Addressee, at: datetime,
                    marketing_changes: list[tuple[str, str, str]]) -> tuple[str, str]:
    """(subject, body) in the person's language: inside opening hours a call soon, outside the
    next opening time."""
    n = clinic.notices
    locale = person.locale
    values = {"clinic": clinic.display_name(locale), "name": person.name or ""}
    if clinic.hours.is_open(at):
        body = n.text("ack.open", locale, **values)
    else:
        opening = n.format_datetime(clinic.hours.next_opening(at).astimezone(clinic.tz), locale)
        body = n.text("ack.closed", locale, next_opening=opening, **values)
    notice = marketing_result(clinic, locale, at, marketing_changes)
    if notice:
        body = f"{body}\n\n{notice}"
    return n.text("ack.subject", locale, **values), body


def marketing_result(clinic: Clinic, locale: str | None, at: datetime,
                     changes: list[tuple[str, str, str]]) -> str:
    """R47: what the person did about advertising, on what date, and the result."""
    n = clinic.notices
    lines = []
    for action in ("grant", "withdraw"):
        channels = sorted({ch for (purpose, ch, act) in changes if act == action and ch})
        if not channels:
            continue
        lines.append(n.text(
            "ack.marketing_result", locale,
            date=at.astimezone(clinic.tz).date().isoformat(),
            channels=", ".join(n.text(f"channel.{ch}", locale) for ch in channels),
            action=n.text(f"action.{action}", locale), clinic=clinic.display_name(locale)))
    return "\n".join(lines)


def guardian_request(clinic: Clinic, person: Addressee) -> str:
    return clinic.notices.text("guardian.request", person.locale,
                               clinic=clinic.display_name(person.locale),
                               child=person.name or "", clinic_phone=clinic.phone)
