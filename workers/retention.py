"""Destruction jobs (R12, R19, R20): remove what may no longer be kept, and log only counts.

- `purge_pending_guardian`: a child's consultation still waiting for the guardian's consent
  after `GUARDIAN_PURGE_DAYS` days is destroyed with its messages, attachments, deliveries (their
  history, outbox rows and development-sink copies), notes and status changes, and the person
  with their contact points and consent records when nothing else of theirs remains (R12).
- `purge_relayed_outbox`: outbox rows relayed more than a week ago (their work is done).

The destruction log is one line per run with the record class and the count, never content.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from intake.db import utcnow
from intake.models import (
    Attachment,
    AuditEntry,
    ConsentEvent,
    ConsentState,
    Consultation,
    ContactPoint,
    Delivery,
    DeliveryEvent,
    Message,
    Note,
    OutboxRow,
    Person,
    SinkMessage,
    StatusChange,
)
from intake.vocab import ConsultationStatus
from workers.context import get_hub

log = logging.getLogger(__name__)

OUTBOX_KEEP = timedelta(days=7)


def destroy_consultations(session: Session, consultation_ids: Sequence[int]) -> int:
    """Delete the consultations and everything hanging off them, then each of their people who
    has nothing else left. Answers how many consultations were destroyed."""
    ids = list(consultation_ids)
    if not ids:
        return 0
    people = set(session.scalars(
        select(Consultation.person_id).where(Consultation.id.in_(ids))))
    message_ids = select(Message.id).where(Message.consultation_id.in_(ids))
    delivery_ids = list(session.scalars(select(Delivery.id).where(
        (Delivery.consultation_id.in_(ids)) | (Delivery.message_id.in_(message_ids)))))
    _delete_deliveries(session, delivery_ids)
    session.execute(delete(Attachment).where(Attachment.message_id.in_(message_ids)))
    session.execute(delete(Message).where(Message.consultation_id.in_(ids)))
    session.execute(delete(Note).where(Note.consultation_id.in_(ids)))
    session.execute(delete(StatusChange).where(StatusChange.consultation_id.in_(ids)))
    session.execute(delete(Consultation).where(Consultation.id.in_(ids)))
    for person_id in people:
        _delete_person_if_alone(session, person_id)
    session.expire_all()
    return len(ids)


def _delete_deliveries(session: Session, delivery_ids: list[int]) -> None:
    if not delivery_ids:
        return
    session.execute(delete(OutboxRow).where(OutboxRow.delivery_id.in_(delivery_ids)))
    session.execute(delete(SinkMessage).where(SinkMessage.delivery_id.in_(delivery_ids)))
    session.execute(delete(DeliveryEvent).where(DeliveryEvent.delivery_id.in_(delivery_ids)))
    session.execute(delete(Delivery).where(Delivery.id.in_(delivery_ids)))


def _delete_person_if_alone(session: Session, person_id: int) -> None:
    remaining = session.scalar(select(func.count()).select_from(Consultation)
                               .where(Consultation.person_id == person_id))
    remaining = (remaining or 0) + (session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.person_id == person_id)) or 0)
    if remaining:
        return
    session.execute(delete(ConsentState).where(ConsentState.person_id == person_id))
    session.execute(delete(ConsentEvent).where(ConsentEvent.person_id == person_id))
    session.execute(delete(ContactPoint).where(ContactPoint.person_id == person_id))
    # The access log is kept (R29) but no longer points at a destroyed person (R20).
    session.execute(update(AuditEntry).where(AuditEntry.person_id == person_id)
                    .values(person_id=None))
    session.execute(delete(Person).where(Person.id == person_id))


def purge_pending_guardian(now: datetime | None = None) -> int:
    """Periodic job (R12): destroy unverified children's consultations past the purge period."""
    hub = get_hub()
    cutoff = (now or utcnow()) - timedelta(days=hub.settings.guardian_purge_days)
    query = select(Consultation.id).where(
        Consultation.status == ConsultationStatus.PENDING_GUARDIAN,
        Consultation.created_at < cutoff)
    if hub.db.is_postgres:
        # A counsellor recording the guardian's consent right now keeps the case.
        query = query.with_for_update(skip_locked=True)
    with hub.db.begin() as session:
        count = destroy_consultations(session, list(session.scalars(query)))
    log.info("workers.retention.destroyed class=pending_guardian count=%d", count)
    return count


def purge_relayed_outbox(now: datetime | None = None) -> int:
    """Periodic job: drop outbox rows relayed more than a week ago."""
    hub = get_hub()
    cutoff = (now or utcnow()) - OUTBOX_KEEP
    with hub.db.begin() as session:
        result = session.execute(delete(OutboxRow).where(OutboxRow.relayed_at < cutoff))
        count = int(getattr(result, "rowcount", 0) or 0)
    log.info("workers.retention.destroyed class=relayed_outbox count=%d", count)
    return count
