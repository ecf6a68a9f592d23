"""The queue's "most urgent first" order: unanswered consultations, first-response deadline
soonest first (overdue ones therefore first). Called by the workspace's queue views; the
default "newest first" order stays `intake.queries.queue_page`.

Why the order is on the waiting time and not on the computed deadline: the deadline is the
oldest unanswered message's time plus a fixed number of opening hours on the clinic's calendar
(`queries.sla`), and adding opening hours never reverses the order of two start times (a later
start never gets an earlier deadline). So "oldest unanswered first" *is* "deadline soonest
first", and the database can sort and page it without knowing the calendar. Ties (two messages
in the same closed period share a deadline) are broken by the older message, then the id.

Paging is keyset on (waiting_since, id), like the default order is on (last_message_at, id):
a page stays the same while new inquiries arrive, because a new unanswered message sorts
after every waiting one. A consultation answered meanwhile simply drops out of later pages.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Subquery, and_, func, or_, select
from sqlalchemy.orm import Session

from intake import queries
from intake.models import Consultation, Message, Staff
from intake.vocab import Direction

ORDERS = ("newest", "urgent")


def waiting_since() -> Subquery:
    """Per consultation: the first inbound message after our last outbound one (the same rule
    as `queries.oldest_unanswered`, as a subquery over every consultation)."""
    last_out = (select(Message.consultation_id.label("cid"),
                       func.max(Message.created_at).label("at"))
                .where(Message.direction == Direction.OUT)
                .group_by(Message.consultation_id).subquery())
    return (select(Message.consultation_id.label("cid"),
                   func.min(Message.created_at).label("since"))
            .outerjoin(last_out, last_out.c.cid == Message.consultation_id)
            .where(Message.direction == Direction.IN,
                   or_(last_out.c.at.is_(None), Message.created_at > last_out.c.at))
            .group_by(Message.consultation_id).subquery())


def urgent_page(session: Session, flt: queries.QueueFilter, me: int | None, limit: int,
                after: tuple[datetime | None, int] | None = None) -> queries.QueuePage:
    """One page of the unanswered, not closed consultations, most urgent first; `next_key` is
    (waiting_since, id) of the last row when another page follows."""
    waiting = waiting_since()
    query = (queries.filtered(flt, me)
             .join(waiting, waiting.c.cid == Consultation.id)
             .where(Consultation.status.not_in(queries.CLOSED_STATUSES))
             .add_columns(waiting.c.since))
    if after is not None and after[0] is not None:
        at, ident = after
        query = query.where(or_(waiting.c.since > at,
                                and_(waiting.c.since == at, Consultation.id > ident)))
    query = query.order_by(waiting.c.since, Consultation.id)
    rows = session.execute(query.limit(limit + 1)).unique().all()
    page = [row[0] for row in rows[:limit]]
    ids = {c.assignee_id for c in page if c.assignee_id}
    assignees = {s.id: s for s in session.scalars(
        select(Staff).where(Staff.id.in_(ids)))} if ids else {}
    next_key = (rows[limit - 1][1], page[-1].id) if len(rows) > limit else None
    return queries.QueuePage(page, assignees, next_key)
