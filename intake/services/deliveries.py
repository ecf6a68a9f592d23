"""Deliveries and the outbox: schedule a message (delivery row + outbox row in the caller's
transaction) and move a delivery's status forward only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from intake.db import utcnow
from intake.models import Delivery, DeliveryEvent, OutboxRow
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


_deliveries, _history, _outbox = (Delivery.__table__, DeliveryEvent.__table__,
                                  OutboxRow.__table__)
# Built once: every inquiry's acknowledgement is scheduled through them.
_INSERT_DELIVERY = insert(_deliveries).returning(_deliveries.c.id)
_INSERT_HISTORY = insert(_history)
_INSERT_OUTBOX = insert(_outbox)


def schedule_delivery(session: Session, *, channel: str, purpose: str, recipient: str,
                      body: str, person_id: int, consultation_id: int | None = None,
                      message_id: int | None = None, subject: str | None = None,
                      headers: dict[str, Any] | None = None,
                      available_at: datetime | None = None) -> int:
    """A queued delivery, its first history entry and the outbox row that will send it once
    committed (at `available_at`, else now); answers the delivery's id.

    Written at once with Core statements (the rows it names must exist already): this runs
    for every inbound inquiry, and nothing in the request reads the delivery back as an
    object. A caller that wants the object loads it by id."""
    now = utcnow()
    conn = session.connection()
    delivery_id: int = conn.execute(_INSERT_DELIVERY, {
        "consultation_id": consultation_id, "person_id": person_id, "message_id": message_id,
        "channel": channel, "purpose": str(purpose), "recipient": recipient,
        "subject": subject, "body": body, "status": DeliveryStatus.QUEUED.value,
        "reason": None, "provider_id": None, "attempts": 0, "headers": headers,
        "created_at": now, "updated_at": now}).scalar_one()
    conn.execute(_INSERT_HISTORY, {"delivery_id": delivery_id,
                                   "status": DeliveryStatus.QUEUED.value, "reason": None,
                                   "at": now})
    conn.execute(_INSERT_OUTBOX, {"job": DELIVER_JOB, "args": {}, "delivery_id": delivery_id,
                                  "available_at": available_at or now, "relayed_at": None,
                                  "created_at": now})
    return delivery_id


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
