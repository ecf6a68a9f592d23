"""Provider delivery-status callbacks applied to deliveries: idempotent, order-independent.

Called by the Twilio status webhook (`apply_status`), by the delivery job right after it records
a MessageSid (`apply_pending`), and by a periodic sweep (`apply_all_pending`) for the rare race
where a callback and the sid were committed at the same moment. `advance` only moves forward,
so a `sent` arriving after `delivered` changes nothing, and a replayed (sid, status) is a no-op.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from intake.db import utcnow
from intake.models import Delivery, PendingProviderStatus, Person
from intake.services.deliveries import advance
from intake.services.optout import record_opt_out
from intake.vocab import ConsentMethod, DeliveryStatus

OPTED_OUT = "21610"

# Twilio's MessageStatus → ours; statuses before `sent` (queued, accepted, sending...) are ours
# already (`sending`) and change nothing.
TWILIO_STATUS: dict[str, DeliveryStatus] = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}
_RANK = {DeliveryStatus.SENT: 0, DeliveryStatus.DELIVERED: 1, DeliveryStatus.FAILED: 1}
# The error codes a counsellor meets most; the rest are named by number.
ERROR_TEXT = {
    "21610": "recipient opted out (STOP)",
    "21614": "not a mobile number",
    "30003": "unreachable handset",
    "30004": "message blocked",
    "30005": "unknown destination",
    "30006": "landline or unreachable carrier",
    "30007": "filtered by the carrier",
    "30008": "unknown error",
}


def failure_reason(status: str, error_code: str | None) -> str | None:
    if TWILIO_STATUS.get(status) is not DeliveryStatus.FAILED:
        return None
    if not error_code:
        return f"twilio: {status}"
    return f"twilio: {status}, error {error_code} ({ERROR_TEXT.get(error_code, 'see Twilio')})"


def _apply(session: Session, delivery: Delivery, status: str, error_code: str | None,
           at: datetime) -> bool:
    mapped = TWILIO_STATUS[status]
    moved = advance(delivery, mapped, failure_reason(status, error_code), at=at)
    if moved and error_code == OPTED_OUT and delivery.channel == "sms":
        # Twilio refused the number as opted out (R42): the ledger learns it from the carrier.
        person = session.get(Person, delivery.person_id)
        if person is not None:
            record_opt_out(session, person, "sms", ConsentMethod.CARRIER,
                           {"source": f"twilio:{OPTED_OUT}", "error_code": OPTED_OUT,
                            "message_sid": delivery.provider_id,
                            "delivery_id": delivery.id}, at=at)
    return moved


def apply_status(session: Session, provider_id: str, status: str, error_code: str | None,
                 at: datetime | None = None) -> str:
    """Apply one callback; answers `applied`, `unchanged`, `pending` or `ignored`. The caller
    owns the transaction."""
    status = status.lower()
    if status not in TWILIO_STATUS:
        return "ignored"
    at = at or utcnow()
    delivery = session.scalars(select(Delivery).where(Delivery.provider_id == provider_id)
                               .with_for_update()).first()
    if delivery is not None:
        return "applied" if _apply(session, delivery, status, error_code, at) else "unchanged"
    exists = session.scalar(select(PendingProviderStatus.id).where(
        PendingProviderStatus.provider_id == provider_id, PendingProviderStatus.status == status))
    if exists is None:
        try:
            with session.begin_nested():
                session.add(PendingProviderStatus(provider_id=provider_id, status=status,
                                                  error_code=error_code, received_at=at))
        except IntegrityError:
            pass  # the same callback, kept by a concurrent request
    return "pending"


def apply_pending(session: Session, delivery: Delivery) -> int:
    """Apply the callbacks kept for `delivery.provider_id` (sent before delivered), then drop
    them; answers how many moved the delivery."""
    if not delivery.provider_id:
        return 0
    rows = list(session.scalars(select(PendingProviderStatus).where(
        PendingProviderStatus.provider_id == delivery.provider_id)))
    moved = 0
    for row in sorted(rows, key=lambda r: (_RANK[TWILIO_STATUS[r.status]], r.received_at)):
        moved += _apply(session, delivery, row.status, row.error_code, row.received_at)
        session.delete(row)
    return moved


def apply_all_pending(session: Session, limit: int = 500) -> int:
    """The sweep: kept callbacks whose delivery now has the sid."""
    sids = list(session.scalars(
        select(PendingProviderStatus.provider_id)
        .join(Delivery, Delivery.provider_id == PendingProviderStatus.provider_id)
        .distinct().limit(limit)))
    moved = 0
    for sid in sids:
        delivery = session.scalars(select(Delivery).where(Delivery.provider_id == sid)
                                   .with_for_update()).first()
        if delivery is not None:
            moved += apply_pending(session, delivery)
    return moved
