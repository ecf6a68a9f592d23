"""Jobs of the Twilio channel: fetch MMS media and voicemail recordings into the attachment
store, and sweep status callbacks kept ahead of their MessageSid.

`fetch_media(attachment_id)` runs from an outbox row written by the webhook in the same
transaction as the attachment; it is safe to re-run (an attachment already stored is skipped).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from rq import Retry

from channels.twilio.media import FETCH_MEDIA_JOB, MediaRefused, MediaUnavailable, fetch
from intake.models import Attachment, Message
from intake.services.provider_status import apply_all_pending
from workers.context import get_hub
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
    log.info("workers.twilio.media_stored attachment=%s type=%s size=%d", attachment_id,
             content_type, len(content))
    return "stored"


def sweep_pending_statuses() -> int:
    """Status callbacks kept for a sid that a delivery now has (a race of two commits)."""
    hub = get_hub()
    with hub.db.begin() as session:
        return apply_all_pending(session)


JOBS: Mapping[str, JobSpec] = {
    FETCH_MEDIA_JOB: JobSpec(fetch_media, DEFAULT, retry=Retry(max=4, interval=[5, 30, 120, 600])),
}
PERIODIC: tuple[PeriodicJob, ...] = (
    PeriodicJob("twilio-pending-statuses", 60, sweep_pending_statuses),
)
