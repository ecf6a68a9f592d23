"""The unified queue as a domain query: filters, keyset paging, counts per status, SLA state.

Owns the one definition of "which consultations, in which order" shared by the counsellor API
(`intake/api/consultations.py`) and the workspace pages (`intake/workspace/`); both call
`queue_page`, so a filter means the same in JSON and in the browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, and_, cast, exists, func, or_, select
from sqlalchemy.orm import Session

from intake.db import MAX_ID
from intake.hours import OpeningHours
from intake.models import Consultation, ContactPoint, Message, Person, Staff
from intake.vocab import ConsultationStatus, Direction


class QueueFilterError(ValueError):
    """A filter value the queue does not understand (the API answers 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class QueueFilter:
    """What the queue is narrowed to. `assignee` is a staff id, `me` or `none`."""

    status: str | None = None
    channel: str | None = None
    interest: str | None = None
    assignee: str | None = None
    q: str | None = None

    @classmethod
    def from_args(cls, args: dict[str, Any]) -> QueueFilter:
        def text(name: str) -> str | None:
            value = args.get(name)
            return str(value).strip() or None if value is not None else None

        return cls(status=text("status"), channel=text("channel"), interest=text("interest"),
                   assignee=text("assignee"), q=text("q"))


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filtered(flt: QueueFilter, me: int | None, with_status: bool = True) -> Select[Any]:
    """`select(Consultation)` narrowed by `flt`; `me` is the caller's staff id (for `me`)."""
    query = select(Consultation)
    if with_status and flt.status:
        query = query.where(Consultation.status.in_([s for s in flt.status.split(",") if s]))
    if flt.channel:
        query = query.where(cast(Consultation.channels, String).like(
            _like(f'"{flt.channel}"'), escape="\\"))
    if flt.interest:
        query = query.where(cast(Consultation.interests, String).like(
            _like(f'"{flt.interest}"'), escape="\\"))
    assignee = flt.assignee
    if assignee == "me":
        query = query.where(Consultation.assignee_id == me)
    elif assignee == "none":
        query = query.where(Consultation.assignee_id.is_(None))
    elif assignee:
        if not assignee.isdecimal() or int(assignee) > MAX_ID:
            raise QueueFilterError("assignee", "a staff id, me or none")
        query = query.where(Consultation.assignee_id == int(assignee))
    if flt.q:
        pattern = _like(flt.q.lower())
        query = query.where(or_(
            Person.name.ilike(pattern, escape="\\"),
            exists().where(ContactPoint.person_id == Consultation.person_id,
                           ContactPoint.value.ilike(pattern, escape="\\")),
            exists().where(Message.consultation_id == Consultation.id,
                           Message.body.ilike(pattern, escape="\\")),
        ))
    return query.join(Person, Person.id == Consultation.person_id)


@dataclass(frozen=True)
class QueuePage:
    items: list[Consultation]
    assignees: dict[int, Staff]
    # (last_message_at, id) of the last row when another page follows, else None.
    next_key: tuple[datetime, int] | None


def queue_page(session: Session, flt: QueueFilter, me: int | None, limit: int,
               after: tuple[datetime | None, int] | None = None) -> QueuePage:
    """One page, newest activity first. Keyset paging on (last_message_at, id): a page after
    `after` stays the same while new inquiries arrive (they sort before it)."""
    query = filtered(flt, me)
    if after is not None:
        at, ident = after
        query = query.where(or_(Consultation.last_message_at < at,
                                and_(Consultation.last_message_at == at,
                                     Consultation.id < ident)))
    query = query.order_by(Consultation.last_message_at.desc(), Consultation.id.desc())
    rows = session.scalars(query.limit(limit + 1)).unique().all()
    page = list(rows[:limit])
    ids = {c.assignee_id for c in page if c.assignee_id}
    assignees = {s.id: s for s in session.scalars(
        select(Staff).where(Staff.id.in_(ids)))} if ids else {}
    next_key = ((page[-1].last_message_at, page[-1].id) if len(rows) > limit else None)
    return QueuePage(page, assignees, next_key)


def status_counts(session: Session, flt: QueueFilter, me: int | None) -> dict[str, int]:
    """How many consultations per status under every filter but the status one."""
    sub = filtered(flt, me, with_status=False).with_only_columns(
        Consultation.id, Consultation.status).subquery()
    rows = session.execute(select(sub.c.status, func.count()).group_by(sub.c.status))
    counts = {s.value: 0 for s in ConsultationStatus}
    for status, count in rows:
        counts[status] = count
    return counts


def oldest_unanswered(session: Session, ids: list[int]) -> dict[int, datetime]:
    """For each consultation: the first inbound message after our last outbound one."""
    if not ids:
        return {}
    last_out = (select(Message.consultation_id.label("cid"),
                       func.max(Message.created_at).label("at"))
                .where(Message.consultation_id.in_(ids), Message.direction == Direction.OUT)
                .group_by(Message.consultation_id).subquery())
    rows = session.execute(
        select(Message.consultation_id, func.min(Message.created_at))
        .outerjoin(last_out, last_out.c.cid == Message.consultation_id)
        .where(Message.consultation_id.in_(ids), Message.direction == Direction.IN,
               or_(last_out.c.at.is_(None), Message.created_at > last_out.c.at))
        .group_by(Message.consultation_id))
    return {cid: at for cid, at in rows}


@dataclass(frozen=True)
class Sla:
    """First-response SLA: `state` is `ok`, `due_soon` (under a quarter left) or `overdue`."""

    waiting_since: datetime
    due: datetime
    state: str
    business_hours_left: float


CLOSED_STATUSES = (ConsultationStatus.CLOSED, ConsultationStatus.SPAM)


def sla(hours: OpeningHours, waiting_since: datetime, now: datetime, due_hours: float) -> Sla:
    """Due `due_hours` opening hours after `waiting_since`, on the clinic's calendar."""
    due = hours.add_business_hours(waiting_since, due_hours)
    left = hours.business_hours_between(now, due) if now < due else \
        -hours.business_hours_between(due, now)
    if now >= due:
        state = "overdue"
    elif left <= due_hours / 4:
        state = "due_soon"
    else:
        state = "ok"
    return Sla(waiting_since, due, state, left)


def oldest_unassigned(session: Session) -> Consultation | None:
    """"Take next": the unassigned consultation waiting longest, open or new."""
    return session.scalar(
        select(Consultation)
        .where(Consultation.assignee_id.is_(None),
               Consultation.status.in_((ConsultationStatus.NEW, ConsultationStatus.OPEN)))
        .order_by(Consultation.created_at, Consultation.id)
        .limit(1).with_for_update(skip_locked=True, of=Consultation))
