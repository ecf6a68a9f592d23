"""One inbound mail, from any delivery route, into the hub: `accept(hub, parsed)`.

Called by the webhook routes (`channels.email.routes`) and the IMAP poll. Owns what happens
after parsing:

- automatic mail (auto-replies, out-of-office, bounces, delivery reports) never opens a
  consultation and is never acknowledged; a bounce marks the delivery whose Message-ID it
  quotes as failed;
- fax-to-email becomes channel `fax`: the sender's number as an unverified `fax` contact point,
  the document stored through `hub.store` in the request, its page count filled in by the
  `email.count_pages` outbox job within seconds (no parsing of PDFs in the request); a fax is
  never answered by fax;
- threading: In-Reply-To/References naming one of our Message-IDs, or a `consult+TOKEN@`
  reply address, joins that consultation whichever address wrote;
- attachments: typed by content, over-limit ones refused with a record on the message
  (`attachment_refused:…` in its redactions) while the message itself is kept;
- one transaction: `receive` plus the attachments' storage keys, so a 2xx means committed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.email import fax as faxes
from channels.email.parsing import ParsedEmail
from channels.email.threading import consultation_from_addresses
from intake.hub import Hub
from intake.inquiry import ContactValue, InboundAttachment, Inquiry, Receipt
from intake.models import Attachment, Delivery, Message
from intake.services.deliveries import advance, enqueue_job
from intake.services.receive import InquiryRejected, receive_once
from intake.vocab import Channel, Direction

log = logging.getLogger(__name__)
COUNT_PAGES_JOB = "email.count_pages"


@dataclass(frozen=True)
class Outcome:
    """What happened to one mail: `stored` (new), `duplicate` (seen before), `automatic`
    (ignored auto-reply/report) or `bounce` (`failed` deliveries marked)."""

    kind: str
    receipt: Receipt | None = None
    bounced: int = 0
    channel: str = "email"

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"status": self.kind, "channel": self.channel}
        if self.receipt is not None:
            body |= {"consultation_id": self.receipt.consultation_id,
                     "message_id": self.receipt.message_id}
        if self.kind == "bounce":
            body["deliveries_failed"] = self.bounced
        return body


@dataclass(frozen=True)
class _Kept:
    inbound: InboundAttachment
    storage_key: str | None
    refusal: str | None


def _mark_bounced(hub: Hub, parsed: ParsedEmail) -> int:
    """Deliveries the bounce quotes move to `failed` (forward-only, so replays change nothing)."""
    if not parsed.bounced_ids:
        return 0
    moved = 0
    reason = f"bounced: {parsed.subject or 'delivery report'}"[:300]
    with hub.db.begin() as session:
        deliveries = session.scalars(select(Delivery).where(
            Delivery.channel == "email", Delivery.provider_id.in_(parsed.bounced_ids)))
        for delivery in deliveries:
            if advance(delivery, "failed", reason):
                moved += 1
    return moved


def _thread_consultation(hub: Hub, parsed: ParsedEmail) -> int | None:
    ids = parsed.thread_ids
    if ids:
        with hub.db.begin() as session:
            found = session.scalar(select(Delivery.consultation_id).where(
                Delivery.channel == "email", Delivery.provider_id.in_(ids),
                Delivery.consultation_id.is_not(None)).order_by(Delivery.id.desc()).limit(1))
            if found is None:
                found = session.scalar(select(Message.consultation_id).where(
                    Message.channel == "email", Message.direction == Direction.OUT,
                    Message.provider_id.in_(ids)).order_by(Message.id.desc()).limit(1))
        if found is not None:
            return int(found)
    return consultation_from_addresses(parsed.to, secret_key=hub.settings.secret_key)


def _keep_attachments(hub: Hub, parsed: ParsedEmail, fax_channel: bool) -> list[_Kept]:
    settings = hub.settings
    kept: list[_Kept] = []
    for index, att in enumerate(parsed.attachments):
        refusal = None
        if index >= settings.attachment_max_count:
            refusal = "count_limit"
        elif att.size > settings.attachment_max_bytes:
            refusal = "size_limit"
        key = hub.store.put(att.content) if refusal is None else None
        kept.append(_Kept(InboundAttachment(
            filename=att.filename, content_type=att.content_type, size=att.size,
            provider_id=att.content_id), key, refusal))
    return kept


def _inquiry(hub: Hub, parsed: ParsedEmail, fax_channel: bool,
             kept: list[_Kept], thread_id: int | None) -> Inquiry:
    received_at = datetime.now(UTC)
    if fax_channel:
        number = faxes.sender_number(parsed)
        contacts = (ContactValue("fax", number),) if number else ()
        name = faxes.sender_name(parsed)
        body = parsed.full_text
        thread_id = None  # a fax is its own event; caller ids never thread (unverified)
    else:
        contacts = (ContactValue("email", parsed.from_address),) if parsed.from_address else ()
        name = parsed.from_name
        body = parsed.text
    if not contacts and thread_id is None:
        raise InquiryRejected("from", "the fax carries no sender number" if fax_channel
                              else "the mail has no sender address")
    return Inquiry(
        channel=Channel.FAX if fax_channel else Channel.EMAIL, provider_id=parsed.provider_id,
        received_at=received_at, contacts=contacts, name=name, subject=parsed.subject,
        body=body or None, attachments=tuple(k.inbound for k in kept),
        thread_consultation_id=thread_id,
        raw={"message_id": parsed.message_id, "sent_at": parsed.date.isoformat()
             if parsed.date else None})


def _commit(hub: Hub, inquiry: Inquiry, kept: list[_Kept]) -> Receipt:
    """`receive` and, for a new message, its stored attachments' keys, fax page counts and
    refusals, in one transaction (a concurrent copy that wins is answered with its receipt)."""
    fax_channel = inquiry.channel == Channel.FAX

    def after(session: Session, receipt: Receipt) -> None:
        rows = session.scalars(select(Attachment).where(
            Attachment.message_id == receipt.message_id).order_by(Attachment.id)).all()
        for row, item in zip(rows, kept, strict=False):
            row.storage_key = item.storage_key
            if fax_channel and item.storage_key and \
                    row.content_type in faxes.FAX_DOCUMENT_TYPES:
                session.flush()
                enqueue_job(session, COUNT_PAGES_JOB, {"attachment_id": row.id})
        refusals = [f"attachment_refused:{k.refusal}:{k.inbound.filename or 'unnamed'}"
                    f":{k.inbound.size}" for k in kept if k.refusal]
        if refusals:
            message = session.get(Message, receipt.message_id)
            assert message is not None
            message.redactions = [*message.redactions, *refusals]

    return receive_once(hub.db, inquiry, hub.clinic, after)


def accept(hub: Hub, parsed: ParsedEmail) -> Outcome:
    """Store one parsed mail (see the module docstring); raises InquiryRejected for mail
    that cannot become a consultation."""
    if parsed.auto_reason:
        bounced = _mark_bounced(hub, parsed)
        log.info("channels.email.automatic_ignored",
                 extra={"reason": parsed.auto_reason, "deliveries_failed": bounced})
        return Outcome("bounce" if parsed.bounced_ids else "automatic", bounced=bounced)
    fax_channel = faxes.is_fax(parsed, hub.settings.fax_gateway_senders)
    thread_id = None if fax_channel else _thread_consultation(hub, parsed)
    kept = _keep_attachments(hub, parsed, fax_channel)
    inquiry = _inquiry(hub, parsed, fax_channel, kept, thread_id)
    receipt = _commit(hub, inquiry, kept)
    channel = str(inquiry.channel)
    log.info("channels.email.received", extra={
        "channel": channel, "created": receipt.created,
        "attachments": len(kept), "refused": sum(1 for k in kept if k.refusal)})
    return Outcome("stored" if receipt.created else "duplicate", receipt, channel=channel)

