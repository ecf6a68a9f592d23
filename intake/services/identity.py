"""People who are one person: merge suggestions, merges a counsellor confirms, and undo.

Called by the workspace (`intake/workspace/views.py`). Nothing here merges on its own: a
suggestion is shown, a counsellor confirms it (and never on a name alone, which only suggests).

A merge moves the merged person's contact points, consultations and deliveries to the survivor
and fills the survivor's empty profile fields. The consent ledger is append-only (a database
trigger refuses updates), so its events stay where they were recorded: the survivor's consent
states are derived again from its own ledger joined with the ledgers of everyone merged into it
(per purpose and channel, the latest event wins, as when events are recorded), and
`ledger_people` tells the workspace whose events to show. `PersonMerge.moved` lists every id
that moved; undo moves exactly those back and derives the survivor's states again, so consent
recorded after the merge stays with whoever it was recorded for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from intake.db import utcnow
from intake.models import (
    ConsentEvent,
    ConsentState,
    Consultation,
    ContactPoint,
    Delivery,
    Message,
    Person,
    PersonMerge,
)
from intake.services.consent import reconfirm_due
from intake.vocab import ConsentAction, ConsentPurpose

PROFILE_FIELDS = ("name", "sex", "birth_date", "age", "region", "guardian_name",
                  "guardian_phone")


class MergeRefused(ValueError):
    """The merge or undo is understood but not allowed (the page says why)."""


@dataclass(frozen=True)
class Suggestion:
    person_id: int
    reason: str  # "shared phone", "shared email", "shared kakao", "same name"


def suggestions(session: Session, person: Person, limit: int = 5) -> list[Suggestion]:
    """Other people who may be `person`: a contact point one of their messages came from
    belongs to someone else, or the same name (a hint only, never a merge by itself)."""
    found: dict[int, str] = {}
    mine = select(Consultation.id).where(Consultation.person_id == person.id)
    shared = session.execute(
        select(ContactPoint.person_id, ContactPoint.kind)
        .join(Message, Message.contact_point_id == ContactPoint.id)
        .where(Message.consultation_id.in_(mine), ContactPoint.person_id.is_not(None),
               ContactPoint.person_id != person.id).distinct())
    for other, kind in shared:
        found.setdefault(other, f"shared {kind}")
    theirs = session.execute(
        select(Consultation.person_id, ContactPoint.kind)
        .join(Message, Message.consultation_id == Consultation.id)
        .join(ContactPoint, ContactPoint.id == Message.contact_point_id)
        .where(ContactPoint.person_id == person.id, Consultation.person_id != person.id)
        .distinct())
    for other, kind in theirs:
        found.setdefault(other, f"shared {kind}")
    if person.name and person.name.strip():
        merged_away = select(PersonMerge.merged_id).where(PersonMerge.undone_at.is_(None))
        same = session.scalars(select(Person.id).where(
            Person.name == person.name, Person.id != person.id,
            Person.id.not_in(merged_away)).order_by(Person.id.desc()).limit(limit))
        for other in same:
            found.setdefault(other, "same name")
    return [Suggestion(pid, why) for pid, why in list(found.items())[:limit]]


def _ids(session: Session, column: Any, where: Any) -> list[int]:
    return list(session.scalars(select(column).where(where)))


def ledger_people(session: Session, person_id: int) -> set[int]:
    """The person and everyone merged into them (and into those), not undone."""
    found, frontier = {person_id}, [person_id]
    while frontier:
        merged = set(session.scalars(select(PersonMerge.merged_id).where(
            PersonMerge.survivor_id.in_(frontier), PersonMerge.undone_at.is_(None))))
        frontier = list(merged - found)
        found |= merged
    return found


def rederive_states(session: Session, person_id: int) -> None:
    """The person's consent states from their joined ledger: per key, the latest event."""
    for state in session.scalars(select(ConsentState).where(
            ConsentState.person_id == person_id)):
        session.delete(state)
    session.flush()
    latest: dict[tuple[str, str], ConsentEvent] = {}
    people = ledger_people(session, person_id)
    for event in session.scalars(select(ConsentEvent).where(ConsentEvent.person_id.in_(people))
                                 .order_by(ConsentEvent.at, ConsentEvent.id)):
        latest[(event.purpose, event.channel or "")] = event
    for (purpose, channel), event in latest.items():
        session.add(ConsentState(
            person_id=person_id, purpose=purpose, channel=channel, action=event.action,
            event_id=event.id, since=event.at,
            reconfirm_due=(reconfirm_due(event.at) if purpose == ConsentPurpose.MARKETING
                           and event.action == ConsentAction.GRANT else None)))
    session.flush()


def _active_merge_of(session: Session, person_id: int) -> PersonMerge | None:
    return session.scalar(select(PersonMerge).where(PersonMerge.merged_id == person_id,
                                                    PersonMerge.undone_at.is_(None)))


def merge(session: Session, survivor: Person, merged: Person, by: int | None,
          reason: str) -> PersonMerge:
    """Fold `merged` into `survivor` (a counsellor confirmed it); answers the undoable record."""
    if survivor.id == merged.id:
        raise MergeRefused("a person cannot be merged with themselves")
    if _active_merge_of(session, merged.id) or _active_merge_of(session, survivor.id):
        raise MergeRefused("one of the two records was merged away already")
    moved: dict[str, Any] = {
        "contact_points": _ids(session, ContactPoint.id, ContactPoint.person_id == merged.id),
        "consultations": _ids(session, Consultation.id, Consultation.person_id == merged.id),
        "deliveries": _ids(session, Delivery.id, Delivery.person_id == merged.id),
        "filled": [],
    }
    for table, ids in ((ContactPoint, moved["contact_points"]),
                       (Consultation, moved["consultations"]),
                       (Delivery, moved["deliveries"])):
        if ids:
            session.execute(update(table).where(table.id.in_(ids))  # type: ignore[attr-defined]
                            .values(person_id=survivor.id)
                            .execution_options(synchronize_session=False))
    for field in PROFILE_FIELDS:
        if getattr(survivor, field) in (None, "") and getattr(merged, field) not in (None, ""):
            setattr(survivor, field, getattr(merged, field))
            moved["filled"].append(field)
    if merged.is_minor and not survivor.is_minor:
        survivor.is_minor = True  # a child stays protected (R12) whichever record survives
        moved["filled"].append("is_minor")
    record = PersonMerge(survivor_id=survivor.id, merged_id=merged.id, reason=reason[:200],
                         moved=moved, by_id=by)
    session.add(record)
    session.flush()
    rederive_states(session, survivor.id)
    session.expire_all()
    return record


def undo(session: Session, record: PersonMerge, by: int | None) -> None:
    """Move back exactly what the merge moved and derive both ledgers' states again."""
    if record.undone_at is not None:
        raise MergeRefused("this merge was undone already")
    if _active_merge_of(session, record.survivor_id):
        raise MergeRefused("undo the later merge of the surviving record first")
    moved = record.moved
    for table, ids in ((ContactPoint, moved.get("contact_points", [])),
                       (Consultation, moved.get("consultations", [])),
                       (Delivery, moved.get("deliveries", []))):
        if ids:
            session.execute(update(table).where(and_(
                table.id.in_(ids),  # type: ignore[attr-defined]
                table.person_id == record.survivor_id))  # type: ignore[attr-defined]
                .values(person_id=record.merged_id)
                .execution_options(synchronize_session=False))
    survivor = session.get(Person, record.survivor_id)
    if survivor is not None:
        for field in moved.get("filled", []):
            setattr(survivor, field, False if field == "is_minor" else None)
    record.undone_at = utcnow()
    record.undone_by_id = by
    session.flush()
    rederive_states(session, record.survivor_id)
    session.expire_all()


def merges_of(session: Session, person_id: int) -> list[PersonMerge]:
    return list(session.scalars(select(PersonMerge).where(
        (PersonMerge.survivor_id == person_id) | (PersonMerge.merged_id == person_id))
        .order_by(PersonMerge.id.desc())))
