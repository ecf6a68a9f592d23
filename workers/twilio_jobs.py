"""Jobs of the Twilio channel: fetch MMS media and voicemail recordings into the attachment
store (and have Twilio delete its copy of a recording), sweep status callbacks kept ahead of
their MessageSid, destroy voicemail recordings past their retention, and reconcile SMS whose
send timed out.

`fetch_media(attachment_id)` runs from an outbox row written by the webhook in the same
transaction as the attachment; it is safe to re-run (an attachment already stored is skipped).
The others are periodic (PERIODIC, ticked by the worker's relay thread) or outbox jobs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from rq import Retry
from sqlalchemy import or_, select

from channels.base import SendResult
from channels.twilio.media import (
    DELETE_RECORDING_JOB,
    FETCH_MEDIA_JOB,
    MediaRefused,
    MediaUnavailable,
    delete_recording,
    fetch,
    is_recording,
)
from channels.twilio.reconcile import Found, LookupUnavailable, find_sent
from intake.contacts import mask_phone
from intake.db import utcnow
from intake.hub import Hub
from intake.models import Attachment, Delivery, Message
from intake.services.deliveries import advance, enqueue_job
from intake.services.provider_status import TWILIO_STATUS, apply_all_pending, apply_status
from intake.vocab import Channel, DeliveryStatus
from workers.context import get_hub
from workers.jobs import UNKNOWN_OUTCOME, record_outcome
from workers.queues import DEFAULT
from workers.specs import JobSpec, PeriodicJob

log = logging.getLogger(__name__)


def fetch_media(attachment_id: int) -> str:
    """Fetch one attachment's content from Twilio, check its type and size, store it."""
    hub = get_hub()
    with hub.db.begin() as session:
        attachment = session.get(Attachment, attachment_id)
        if attachment is None or attachment.storage_key or not attachment.source_url:
            return "skipped"
        url = attachment.source_url
    try:
        content, content_type = fetch(hub.settings, url)
    except MediaUnavailable as exc:
        log.warning("workers.twilio.media_retry attachment=%s reason=%s", attachment_id, exc)
        raise  # RQ retries with backoff
    except MediaRefused as exc:
        with hub.db.begin() as session:
            attachment = session.get_one(Attachment, attachment_id)
            message = session.get_one(Message, attachment.message_id)
            message.redactions = sorted({*(message.redactions or []), "attachment_refused"})
        log.warning("workers.twilio.media_refused attachment=%s reason=%s", attachment_id, exc)
        return "refused"
    key = hub.store.put(content)
    with hub.db.begin() as session:
        attachment = session.get_one(Attachment, attachment_id)
        attachment.storage_key = key
        attachment.size = len(content)
        attachment.content_type = content_type or attachment.content_type
        recording_sid = attachment.provider_id if is_recording(attachment.provider_id) else None
    log.info("workers.twilio.media_stored attachment=%s type=%s size=%d", attachment_id,
             content_type, len(content))
    if recording_sid:
        _delete_at_twilio(recording_sid)
    return "stored"


def _delete_at_twilio(recording_sid: str) -> None:
    """Ours is stored: Twilio's copy of the voicemail must not linger there (R18-R20). When
    Twilio cannot answer now, an outbox job retries with backoff."""
    hub = get_hub()
    try:
        deleted = delete_recording(hub.settings, recording_sid)
    except MediaUnavailable as exc:
        with hub.db.begin() as session:
            enqueue_job(session, DELETE_RECORDING_JOB, {"recording_sid": recording_sid})
        log.warning("workers.twilio.recording_delete_deferred reason=%s", exc)
        return
    log.info("workers.twilio.recording_deleted_at_twilio deleted=%s", deleted)


def delete_twilio_recording(recording_sid: str) -> str:
    """Outbox job: have Twilio delete a recording (a 404 means it is gone already)."""
    hub = get_hub()
    deleted = delete_recording(hub.settings, recording_sid)  # MediaUnavailable: RQ retries
    log.info("workers.twilio.recording_deleted_at_twilio deleted=%s", deleted)
    return "deleted" if deleted else "gone"


# -- retention of voicemail recordings (R18, R19, R20) -----------------------------------------

# A voicemail is pre-visit inquiry data: it is kept while a counsellor may still need to call
# back and follow up on the inquiry, then destroyed (PIPA Art. 21). The default of 90 days from
# receipt (RECORDING_RETENTION_DAYS) covers a consultation's usual course (inquiry, callback,
# booking, visit) with margin; the clinic may shorten it, never lengthen it without a basis (R18).
RECORDING_RETENTION_INTERVAL = 24 * 60 * 60  # daily (R19: destroyed within 5 days of expiry)
RECORDING_CLASS = "voicemail_recording"
DESTROYED_NOTE = "recording_destroyed:{date}"


def destroy_expired_recordings(now: datetime | None = None, batch: int = 500) -> int:
    """Periodic job: voicemail recordings received more than RECORDING_RETENTION_DAYS ago are
    destroyed. The stored audio is deleted from `hub.store` (unless another live attachment
    still holds the same content-addressed key), the attachment keeps its row with
    `storage_key` and `source_url` cleared (so a replayed fetch job cannot bring it back), the
    message's `redactions` note `recording_destroyed:<date>`, Twilio is asked to delete its
    copy (an outbox job, idempotent), and one destruction log line says class, count, date and
    run id, never content (R19). Works in batches until none is left."""
    hub = get_hub()
    now = now or utcnow()
    run_id = uuid.uuid4().hex[:12]
    day = now.astimezone(hub.clinic.tz).date().isoformat()
    total = 0
    while True:
        retention = timedelta(days=hub.settings.recording_retention_days)
        destroyed = _destroy_batch(hub, now - retention, day, batch)
        total += destroyed
        if destroyed < batch:
            break
    log.info("workers.twilio.retention_destroyed class=%s count=%d date=%s run=%s",
             RECORDING_CLASS, total, day, run_id)
    return total


def _destroy_batch(hub: Hub, cutoff: datetime, day: str, batch: int) -> int:
    keys: set[str] = set()
    with hub.db.begin() as session:
        rows = list(session.scalars(
            select(Attachment).join(Message, Message.id == Attachment.message_id)
            .where(Message.channel == Channel.VOICE, Attachment.provider_id.like("RE%"),
                   Attachment.created_at < cutoff,
                   or_(Attachment.storage_key.is_not(None), Attachment.source_url.is_not(None)))
            .order_by(Attachment.id).limit(batch).with_for_update(of=Attachment)))
        for attachment in rows:
            if attachment.storage_key:
                keys.add(attachment.storage_key)
            attachment.storage_key = None
            attachment.source_url = None
            message = session.get_one(Message, attachment.message_id)
            message.redactions = sorted({*(message.redactions or []),
                                         DESTROYED_NOTE.format(date=day)})
            if attachment.provider_id:
                enqueue_job(session, DELETE_RECORDING_JOB,
                            {"recording_sid": attachment.provider_id})
        session.flush()
        # Content-addressed store: the same bytes may back another attachment still kept.
        shared = set(session.scalars(select(Attachment.storage_key).where(
            Attachment.storage_key.in_(keys)))) if keys else set()
    # Deleted only once no committed row points at it any more.
    for key in keys - shared:
        hub.store.delete(key)
    return len(rows)


# -- reconciliation of SMS whose outcome is unknown (issue 3, item 5) ---------------------------

# A send that timed out is looked up once Twilio has had time to list it...
RECONCILE_AFTER = timedelta(minutes=3)
# ...and declared not sent only when still absent this long after the attempt.
RECONCILE_GRACE = timedelta(minutes=30)
RECONCILE_INTERVAL = 120  # seconds
NOT_SENT = "not sent (reconciled)"
AMBIGUOUS = "outcome unknown: several matching messages at Twilio, check by hand"


def reconcile_unknown(now: datetime | None = None, limit: int = 100) -> dict[str, int]:
    """Periodic job: SMS deliveries left `sending` with the unknown-outcome reason are looked
    up in Twilio's Messages list. Exactly one match: its sid is recorded as if the send had
    answered (the thread message, then any kept status callbacks apply), then its status.
    None after the grace period: failed "not sent (reconciled)", for a counsellor to retry.
    Nothing is ever re-sent from here."""
    hub = get_hub()
    now = now or utcnow()
    outcome = {"found": 0, "not_sent": 0, "waiting": 0, "ambiguous": 0, "unavailable": 0}
    with hub.db.begin() as session:
        candidates = [(d.id, d.recipient, d.body, d.updated_at) for d in session.scalars(
            select(Delivery).where(Delivery.channel == Channel.SMS,
                                   Delivery.status == DeliveryStatus.SENDING,
                                   Delivery.reason == UNKNOWN_OUTCOME,
                                   Delivery.updated_at < now - RECONCILE_AFTER)
            .order_by(Delivery.id).limit(limit))]
    for delivery_id, recipient, body, attempted_at in candidates:
        try:
            found = find_sent(hub.settings, recipient, body, attempted_at)
        except LookupUnavailable as exc:
            outcome["unavailable"] += 1
            log.warning("workers.twilio.reconcile_unavailable delivery=%s reason=%s",
                        delivery_id, exc)
            continue
        if found:
            with hub.db.begin() as session:
                known = set(session.scalars(select(Delivery.provider_id).where(
                    Delivery.provider_id.in_([f.sid for f in found]))))
            found = [f for f in found if f.sid not in known]
        result = _reconcile_one(hub, delivery_id, found, now - attempted_at)
        outcome[result] += 1
        log.info("workers.twilio.reconciled delivery=%s recipient=%s outcome=%s matches=%d",
                 delivery_id, mask_phone(recipient), result, len(found))
    return outcome


def _reconcile_one(hub: Hub, delivery_id: int, found: list[Found], waited: timedelta) -> str:
    with hub.db.begin() as session:
        delivery = session.get(Delivery, delivery_id, with_for_update=hub.db.is_postgres)
        if delivery is None or delivery.status != DeliveryStatus.SENDING or \
                delivery.reason != UNKNOWN_OUTCOME:
            return "waiting"  # settled meanwhile
        if len(found) > 1:
            # Which one is ours cannot be told: a counsellor decides; never asked again.
            advance(delivery, DeliveryStatus.SENDING, AMBIGUOUS)
            return "ambiguous"
        if not found:
            if waited < RECONCILE_GRACE:
                return "waiting"
            advance(delivery, DeliveryStatus.FAILED, NOT_SENT)
            return "not_sent"
    match = found[0]
    # As if the send had answered: the sid, the thread message, then kept callbacks.
    record_outcome(hub, delivery_id, DeliveryStatus.SENT,
            result=SendResult(provider_id=match.sid, status=DeliveryStatus.SENT.value))
    if match.status in TWILIO_STATUS and match.status != "sent":
        with hub.db.begin() as session:
            apply_status(session, match.sid, match.status, match.error_code)
    return "found"


def sweep_pending_statuses() -> int:
    """Status callbacks kept for a sid that a delivery now has (a race of two commits)."""
    hub = get_hub()
    with hub.db.begin() as session:
        return apply_all_pending(session)


JOBS: Mapping[str, JobSpec] = {
    FETCH_MEDIA_JOB: JobSpec(fetch_media, DEFAULT, retry=Retry(max=4, interval=[5, 30, 120, 600])),
    DELETE_RECORDING_JOB: JobSpec(delete_twilio_recording, DEFAULT,
                                  retry=Retry(max=6, interval=[60, 300, 900, 3600, 3600, 3600])),
}
PERIODIC: tuple[PeriodicJob, ...] = (
    PeriodicJob("twilio-pending-statuses", 60, sweep_pending_statuses),
    PeriodicJob("twilio-recording-retention", RECORDING_RETENTION_INTERVAL,
                destroy_expired_recordings),
    PeriodicJob("twilio-reconcile-unknown", RECONCILE_INTERVAL, reconcile_unknown),
)
