"""Jobs of the email channel: a fax document's page count (`email.count_pages`, from the
outbox row written with the fax), IMAP polling (`poll_imap`, periodic) and the purge of Mailgun
tokens too old to matter (`purge_mailgun_tokens`, periodic: a token older than the 15-minute
freshness window is refused by its timestamp anyway).

The periodic tick runs `poll_imap` every 15 s; the job itself honours IMAP_POLL_SECONDS with a
Redis key (SET NX PX), because a periodic job's interval is fixed at import and the setting is
only known from the running hub. Without IMAP_URL the job does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import delete

from channels.email.fax import count_pages as count_fax_pages
from channels.email.imap import open_source, parse_imap_url, poll
from channels.email.inbound import COUNT_PAGES_JOB
from intake.db import utcnow
from intake.models import MailgunToken
from workers.context import get_hub
from workers.queues import DEFAULT
from workers.specs import JobSpec, PeriodicJob

log = logging.getLogger(__name__)
POLL_KEY = "intake:email:imap-poll-due"
TICK_SECONDS = 15


def poll_imap() -> str:
    """Read new mail from IMAP_URL's folder into the hub (see channels.email.imap)."""
    hub = get_hub()
    url = hub.settings.imap_url
    if not url:
        return "disabled"
    interval_ms = max(1, hub.settings.imap_poll_seconds) * 1000
    if not hub.redis.set(POLL_KEY, 1, nx=True, px=interval_ms):
        return "not due"
    target = parse_imap_url(url)
    box, source = open_source(target)
    try:
        result = poll(hub, source, target.key)
    finally:
        try:
            box.logout()
        except Exception:  # noqa: BLE001 - the mail is committed; a rude goodbye changes nothing
            log.info("workers.email.imap_logout_failed")
    log.info("workers.email.imap_polled", extra={
        "fetched": result.fetched, "stored": result.stored, "skipped": result.skipped})
    return f"fetched {result.fetched}, stored {result.stored}, skipped {result.skipped}"


def count_pages(attachment_id: int) -> int | None:
    """Read the page count of a stored fax PDF/TIFF onto its attachment (safe to re-run)."""
    return count_fax_pages(get_hub(), attachment_id)


def purge_mailgun_tokens() -> int:
    """Forget tokens seen over an hour ago (four times the freshness window)."""
    hub = get_hub()
    with hub.db.begin() as session:
        result = session.execute(delete(MailgunToken).where(
            MailgunToken.seen_at < utcnow() - timedelta(hours=1)))
    return int(getattr(result, "rowcount", 0) or 0)


JOBS: Mapping[str, JobSpec] = {COUNT_PAGES_JOB: JobSpec(count_pages, DEFAULT)}
PERIODIC: tuple[PeriodicJob, ...] = (
    PeriodicJob("email-imap-poll", TICK_SECONDS, poll_imap),
    PeriodicJob("email-mailgun-token-purge", 3600, purge_mailgun_tokens),
)
