"""Deliveries and the outbox: schedule a message (delivery row + outbox row in the caller's
transaction) and move a delivery's status forward only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from intake.db import utcnow
from intake.models import Consultation, Delivery, DeliveryEvent, OutboxRow, Person
from intake.vocab import DeliveryStatus

DELIVER_JOB = "deliver"

# Which status may follow which: a late or replayed callback never moves a delivery backwards.
TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"sending", "held", "suppressed", "failed", "sent"}),
    "held": frozenset({"queued", "sending", "suppressed", "failed"}),
    "sending": frozenset({"sent", "delivered", "failed", "queued", "suppressed"}),
    "sent": frozenset({"delivered", "failed"}),
    "delivered": frozenset(),
    "failed": frozenset(),
    "suppressed": frozenset(),
}


def enqueue_job(session: Session, job: str, args: dict[str, Any],
                available_at: datetime | None = None) -> OutboxRow:
    row = OutboxRow(job=job, args=args, available_at=available_at or utcnow())
    session.add(row)
    return row


def enqueue_delivery(session: Session, delivery: Delivery,
                     available_at: datetime | None = None) -> OutboxRow:
    """The outbox row that will run the delivery job (the delivery may be unflushed yet)."""
    row = OutboxRow(job=DELIVER_JOB, args={}, delivery=delivery,
                    available_at=available_at or utcnow())
    session.add(row)
    return row


def schedule_delivery(session: Session, *, channel: str, purpose: str, recipient: str,
                      body: str, person: Person | None = None, person_id: int | None = None,
                      consultation: Consultation | None = None,
                      consultation_id: int | None = None, message_id: int | None = None,
                      subject: str | None = None,
                      headers: dict[str, Any] | None = None) -> Delivery:
    """A queued delivery plus the outbox row that will send it once committed. Takes the
    person and consultation as objects (not yet flushed is fine) or as ids. Nothing is
    flushed here, so a caller that needs the delivery's id flushes first."""
    now = utcnow()
    delivery = Delivery(channel=channel, purpose=purpose, recipient=recipient, subject=subject,
                        body=body, headers=headers, status=DeliveryStatus.QUEUED,
                        message_id=message_id, attempts=0, created_at=now, updated_at=now)
    if person is not None:
        delivery.person = person
    else:
        delivery.person_id = person_id  # type: ignore[assignment]
    if consultation is not None:
        delivery.consultation = consultation
    else:
        delivery.consultation_id = consultation_id
    delivery.history.append(DeliveryEvent(status=DeliveryStatus.QUEUED, at=now))
    session.add(delivery)
    enqueue_delivery(session, delivery)
    return delivery


def advance(delivery: Delivery, status: str, reason: str | None = None,
            at: datetime | None = None) -> bool:
    """Move `delivery` to `status` if that is forward; answer whether it moved."""
    status = DeliveryStatus(status)
    if status == delivery.status:
        if reason and reason != delivery.reason:
            delivery.reason = reason
        return False
    if status not in TRANSITIONS[delivery.status]:
        return False
    at = at or utcnow()
    delivery.status = status
    delivery.reason = reason
    delivery.updated_at = at
    delivery.history.append(DeliveryEvent(status=status, reason=reason, at=at))
    return True
