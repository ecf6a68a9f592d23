"""The delivery job: decide at send time, send once, record what happened.

`deliver(delivery_id)` is what an outbox row `deliver` becomes in RQ. It may run more than once
for the same delivery (a double relay, a retry, a re-drive after Redis lost its jobs), so it is
safe to re-run: the delivery row is locked, and a delivery that is final, or `sending` (its
outcome unknown), is never sent again.

1. one transaction: lock the row, ask `intake.policy.decide` with the consent state as it is
   NOW (R42: a withdrawal after queueing wins), and record suppressed / held / sending;
2. outside any transaction: the channel's sender makes the provider call;
3. a new transaction: record the outcome (sent or delivered with the provider id and an
   outbound message in the thread; back to queued for a retry; failed; or left `sending` for
   reconciliation when the provider may or may not have taken it).

Also here: the RQ failure callback that fails a delivery once its retries are exhausted, and
`redrive_stranded`, the periodic job that re-queues deliveries whose RQ job Redis lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from redis import Redis
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.base import (
    Outgoing,
    PermanentSendError,
    Sender,
    SendResult,
    TransientSendError,
    UnknownOutcomeError,
)
from intake.contacts import mask_contact
from intake.db import utcnow
from intake.hub import Hub
from intake.models import ContactPoint, Delivery, Message, OutboxRow, Person
from intake.policy import Verdict, decide
from intake.services.consent import contact_kinds, load_states
from intake.services.deliveries import advance, enqueue_delivery
from intake.services.provider_status import apply_pending
from intake.vocab import (
    FINAL_DELIVERY_STATUSES,
    OUTBOUND_CHANNELS,
    ConsentAction,
    ConsentPurpose,
    DeliveryPurpose,
    DeliveryStatus,
    Direction,
)
from workers.context import get_hub

log = logging.getLogger(__name__)

UNKNOWN_OUTCOME = "outcome unknown: needs reconciliation"
# A delivery still `queued` this long after its last change, whose RQ job no longer exists,
# was lost with Redis's memory (this Redis keeps nothing on disk) and is queued again.
STRANDED_AFTER = timedelta(minutes=2)


def outbox_job_id(row_id: int) -> str:
    """The RQ job id for an outbox row: a double relay overwrites the same job, never adds one."""
    return f"outbox-{row_id}"


def masked_recipient(delivery: Delivery) -> str:
    kind = OUTBOUND_CHANNELS.get(delivery.channel, "phone")
    try:
        return mask_contact(kind, delivery.recipient)
    except ValueError:
        return "***"


def _locked(session: Session, hub: Hub, delivery_id: int) -> Delivery | None:
    query = select(Delivery).where(Delivery.id == delivery_id)
    if hub.db.is_postgres:
        # Two runs of the same job (double relay, retry racing a re-drive) serialise here.
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


@dataclass(frozen=True)
class _Attempt:
    outgoing: Outgoing
    sender: Sender
    recipient: str  # masked, for logs


def _outgoing(delivery: Delivery) -> Outgoing:
    headers: dict[str, Any] = dict(delivery.headers or {})
    if delivery.purpose == DeliveryPurpose.ACKNOWLEDGEMENT:
        # RFC 3834: an automatic acknowledgement, so auto-responders do not answer it.
        headers.setdefault("auto", True)
    return Outgoing(delivery_id=delivery.id, channel=delivery.channel,
                    recipient=delivery.recipient, body=delivery.body, subject=delivery.subject,
                    headers=headers)


def _prepare(hub: Hub, delivery_id: int) -> _Attempt | str:
    """Step 1: the send-time decision, committed before any provider call."""
    now = utcnow()
    with hub.db.begin() as session:
        delivery = _locked(session, hub, delivery_id)
        if delivery is None:
            log.warning("workers.delivery.missing delivery=%s", delivery_id)
            return "missing"
        if delivery.status in FINAL_DELIVERY_STATUSES or \
                delivery.status == DeliveryStatus.SENDING:
            log.info("workers.delivery.skipped delivery=%s status=%s", delivery.id,
                     delivery.status)
            return str(delivery.status)
        recipient = masked_recipient(delivery)
        person = session.get(Person, delivery.person_id)
        assert person is not None
        states = load_states(session, person.id)
        kind = OUTBOUND_CHANNELS.get(delivery.channel)
        has_contact = kind is not None and kind in contact_kinds(session, person.id)
        guardian = states.get((ConsentPurpose.GUARDIAN, ""))
        minor_pending = bool(person.is_minor) and not (
            guardian is not None and guardian.action == ConsentAction.GRANT)
        to_guardian = bool((delivery.headers or {}).get("to_guardian"))
        decision = decide(delivery.purpose, delivery.channel, states, has_contact, now,
                          hub.clinic.tz, minor_pending=minor_pending, to_guardian=to_guardian,
                          headers=delivery.headers)

        if decision.verdict is Verdict.SUPPRESS:
            advance(delivery, DeliveryStatus.SUPPRESSED, decision.reason, at=now)
            log.info("workers.delivery.suppressed delivery=%s channel=%s recipient=%s reason=%s",
                     delivery.id, delivery.channel, recipient, decision.reason)
            return DeliveryStatus.SUPPRESSED.value
        if decision.verdict is Verdict.HOLD:
            advance(delivery, DeliveryStatus.HELD, decision.reason, at=now)
            if decision.hold_until is not None:
                # Re-decided then, with the consent state of that moment.
                enqueue_delivery(session, delivery, available_at=decision.hold_until)
            log.info("workers.delivery.held delivery=%s channel=%s recipient=%s until=%s "
                     "reason=%s", delivery.id, delivery.channel, recipient,
                     decision.hold_until.isoformat() if decision.hold_until else "-",
                     decision.reason)
            return DeliveryStatus.HELD.value

        sender = hub.services.get("senders", {}).get(delivery.channel)
        if sender is None:
            reason = f"no sender for channel {delivery.channel}"
            advance(delivery, DeliveryStatus.FAILED, reason, at=now)
            log.error("workers.delivery.failed delivery=%s channel=%s recipient=%s reason=%s",
                      delivery.id, delivery.channel, recipient, reason)
            return DeliveryStatus.FAILED.value
        # The lawful basis found at send time is kept on the `sending` event as evidence.
        advance(delivery, DeliveryStatus.SENDING, decision.reason, at=now)
        delivery.attempts = (delivery.attempts or 0) + 1
        return _Attempt(outgoing=_outgoing(delivery), sender=sender, recipient=recipient)


def record_outcome(hub: Hub, delivery_id: int, status: str, reason: str | None = None,
            result: SendResult | None = None) -> None:
    """Step 3: the outcome, in a transaction of its own."""
    now = utcnow()
    with hub.db.begin() as session:
        delivery = _locked(session, hub, delivery_id)
        assert delivery is not None
        if result is not None:
            delivery.provider_id = result.provider_id
            if delivery.channel == "email" and result.provider_id:
                # The Message-ID this delivery carried: a reply's In-Reply-To threads on it.
                delivery.headers = {**(delivery.headers or {}), "message_id": result.provider_id}
        advance(delivery, status, reason, at=now)
        if result is None:
            return
        # Status callbacks that beat the provider id here were kept: apply them now.
        apply_pending(session, delivery)
        if delivery.message_id is not None:
            # A counsellor's reply is already in the thread: give it the provider id, so the
            # next reply's In-Reply-To/References can name it.
            message = session.get(Message, delivery.message_id)
            if message is not None and message.provider_id is None:
                message.provider_id = result.provider_id
        elif delivery.consultation_id is not None:
            _add_to_thread(session, delivery, result, now)


def _add_to_thread(session: Session, delivery: Delivery, result: SendResult,
                   now: datetime) -> None:
    contact_point_id = session.scalar(select(ContactPoint.id).where(
        ContactPoint.kind == OUTBOUND_CHANNELS.get(delivery.channel, ""),
        ContactPoint.value == delivery.recipient))
    assert delivery.consultation_id is not None
    message = Message(consultation_id=delivery.consultation_id, direction=Direction.OUT,
                      channel=delivery.channel, provider_id=result.provider_id,
                      subject=delivery.subject, body=delivery.body,
                      contact_point_id=contact_point_id, created_at=now)
    session.add(message)
    session.flush()
    delivery.message_id = message.id


def deliver(delivery_id: int) -> str:
    """RQ job: send delivery `delivery_id` if it may go now; answer the status it ends in.

    A transient provider error puts the delivery back to `queued` and re-raises, so RQ retries
    the job (the relay gives it its Retry); everything else is recorded and not raised.
    """
    hub = get_hub()
    attempt = _prepare(hub, delivery_id)
    if isinstance(attempt, str):
        return attempt
    channel, recipient = attempt.outgoing.channel, attempt.recipient
    try:
        result = attempt.sender.send(attempt.outgoing)
    except TransientSendError as exc:
        record_outcome(hub, delivery_id, DeliveryStatus.QUEUED, str(exc))
        log.warning("workers.delivery.retry delivery=%s channel=%s recipient=%s reason=%s",
                    delivery_id, channel, recipient, exc)
        raise
    except PermanentSendError as exc:
        record_outcome(hub, delivery_id, DeliveryStatus.FAILED, str(exc))
        log.error("workers.delivery.failed delivery=%s channel=%s recipient=%s reason=%s",
                  delivery_id, channel, recipient, exc)
        # A channel may react to a permanent failure (KakaoTalk: the lawful SMS fallback).
        # Imported here: the channel job modules import this module.
        from workers.registry import FAILURE_HOOKS

        hook = FAILURE_HOOKS.get(channel)
        if hook is not None:
            hook(hub, delivery_id, exc)
        return DeliveryStatus.FAILED.value
    except UnknownOutcomeError as exc:
        record_outcome(hub, delivery_id, DeliveryStatus.SENDING, UNKNOWN_OUTCOME)
        log.error("workers.delivery.outcome_unknown delivery=%s channel=%s recipient=%s "
                  "detail=%s", delivery_id, channel, recipient, exc)
        return DeliveryStatus.SENDING.value
    except Exception:
        # A sender bug after the provider call may have started: never resend blindly.
        record_outcome(hub, delivery_id, DeliveryStatus.SENDING, UNKNOWN_OUTCOME)
        log.exception("workers.delivery.outcome_unknown delivery=%s channel=%s recipient=%s",
                      delivery_id, channel, recipient)
        raise
    try:
        record_outcome(hub, delivery_id, result.status, result=result)
    except Exception:
        # Sent, but not recorded: the provider id in the log is what reconciliation needs.
        log.exception("workers.delivery.record_failed delivery=%s channel=%s provider_id=%s",
                      delivery_id, channel, result.provider_id)
        raise
    log.info("workers.delivery.sent delivery=%s channel=%s recipient=%s status=%s "
             "provider_id=%s", delivery_id, channel, recipient, result.status,
             result.provider_id)
    return result.status


def on_deliver_failure(job: Job, connection: Redis, exc_type: type[BaseException] | None,
                       exc_value: BaseException | None,
                       traceback: TracebackType | None) -> None:
    """RQ failure callback of `deliver`: RQ calls it after every failed run, so it acts only
    when no retry is left. The job itself stays in RQ's FailedJobRegistry."""
    if job.should_retry:
        return
    delivery_id = job.kwargs.get("delivery_id")
    if delivery_id is None:
        return
    hub = get_hub()
    with hub.db.begin() as session:
        delivery = _locked(session, hub, int(delivery_id))
        # Only a delivery waiting for a retry fails here; one left `sending` may have gone out
        # and waits for reconciliation instead.
        if delivery is None or delivery.status != DeliveryStatus.QUEUED:
            return
        reason = f"{exc_value or exc_type} (gave up after {delivery.attempts} attempts)"
        advance(delivery, DeliveryStatus.FAILED, reason[:500])
        recipient = masked_recipient(delivery)
    log.error("workers.delivery.failed delivery=%s recipient=%s reason=%s job=%s",
              delivery_id, recipient, reason, job.id)


def redrive_stranded(limit: int = 500) -> int:
    """Periodic job: queue again the deliveries left `queued` whose RQ job no longer exists
    (Redis restarted empty), so an accepted inquiry's acknowledgement is never lost. A spare
    re-drive is harmless: `deliver` never sends a delivery twice."""
    hub = get_hub()
    cutoff = utcnow() - STRANDED_AFTER
    with hub.db.begin() as session:
        ids = list(session.scalars(
            select(Delivery.id).where(Delivery.status == DeliveryStatus.QUEUED,
                                      Delivery.updated_at < cutoff)
            .order_by(Delivery.id).limit(limit)))
        if not ids:
            return 0
        latest: dict[int, OutboxRow] = {}
        rows = session.scalars(select(OutboxRow).where(
            OutboxRow.delivery_id.in_(ids)).order_by(OutboxRow.id))
        for row in rows:
            if row.delivery_id is not None:
                latest[row.delivery_id] = row
        # A pending outbox row is still on its way; a relayed one is checked against RQ.
        stranded = [i for i in ids if i not in latest]
        relayed = [latest[i] for i in ids if i in latest and latest[i].relayed_at is not None]
        if relayed:
            pipe = hub.redis.pipeline(transaction=False)
            for row in relayed:
                pipe.exists(Job.key_for(outbox_job_id(row.id)))
            found = pipe.execute()
            stranded += [row.delivery_id for row, exists in zip(relayed, found, strict=True)
                         if not exists and row.delivery_id is not None]
        for delivery_id in stranded:
            enqueue_delivery(session, session.get_one(Delivery, delivery_id))
    if stranded:
        log.warning("workers.delivery.redriven count=%d", len(stranded))
    return len(stranded)
