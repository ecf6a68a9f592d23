"""`receive`: one inbound inquiry, from any channel, in one database transaction.

1. idempotency on (channel, provider_id): a replay answers the first receipt and stores nothing
   (the same id with another request digest is refused: `ProviderIdReused`);
2. identity (`resolve`): normalised contact points find the person (never a name alone), else
   a new one;
3. threading: the person's open consultation within the window, else a new one;
4. the message, with identifiers masked (R9, R24) and health fields kept only with the
   sensitive-health consent where the channel asked for it up front (R8);
5. consent events with their evidence, and the request-response reply basis (R6);
6. outbox rows: the acknowledgement (or, for a child under 14, the guardian request, R12).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from intake.clinic import Clinic
from intake.db import Database, utcnow
from intake.inquiry import Inquiry, Receipt
from intake.models import Attachment, Consultation, Message, Person
from intake.redaction import mentions_health, storable_text
from intake.services.acknowledgement import acknowledgement, guardian_request
from intake.services.consent import Ledger
from intake.services.deliveries import schedule_delivery
from intake.services.resolve import (
    Contact,
    InquiryRejected,
    NewPerson,
    normalised_contacts,
    resolve_person,
)
from intake.vocab import (
    OUTBOUND_CHANNELS,
    THREADABLE,
    Channel,
    ConsentAction,
    ConsentPurpose,
    ConsultationStatus,
    DeliveryPurpose,
    Direction,
)

MINOR_AGE = 14
# The reply channels a contact point of each kind opens (R6: the person gave it to be answered).
REPLY_CHANNELS_BY_KIND = {"phone": ("sms", "voice"), "email": ("email",), "kakao": ("kakao",)}


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def is_minor(inquiry: Inquiry, clinic: Clinic) -> bool:
    """R12: under 14 on the submission date, by birth date or by stated age."""
    profile = inquiry.profile
    if profile.birth_date is not None:
        today = inquiry.received_at.astimezone(clinic.tz).date()
        return age_on(profile.birth_date, today) < MINOR_AGE
    return profile.age is not None and profile.age < MINOR_AGE


_messages, _consultations, _attachments = (Message.__table__, Consultation.__table__,
                                           Attachment.__table__)

# Built once, run for every inquiry: new rows are written with Core statements and rows that
# exist are changed through the ORM (why: `intake.services.resolve`'s docstring).
_FIND_MESSAGE = (
    select(_messages.c.id, _messages.c.request_digest,
           _consultations.c.id.label("consultation_id"), _consultations.c.person_id,
           _consultations.c.status)
    .join(_consultations, _consultations.c.id == _messages.c.consultation_id)
    .where(_messages.c.channel == bindparam("channel"), _messages.c.direction == Direction.IN.value,
           _messages.c.provider_id == bindparam("provider_id")))
_OPEN_CONSULTATION = (
    select(_consultations.c.id)
    .where(_consultations.c.person_id == bindparam("person_id"),
           _consultations.c.status.in_([str(s) for s in THREADABLE]),
           _consultations.c.last_message_at >= bindparam("since"))
    .order_by(_consultations.c.last_message_at.desc()).limit(1))
_INSERT_CONSULTATION = insert(_consultations).returning(_consultations.c.id)
_INSERT_MESSAGE = insert(_messages).returning(_messages.c.id)
_INSERT_ATTACHMENTS = insert(_attachments)


class ProviderIdReused(ValueError):
    """The provider id names a stored event whose request had other content (an API client's
    Idempotency-Key used again for another inquiry): neither a replay nor a new event."""


def _find_existing(session: Session, inquiry: Inquiry) -> Receipt | None:
    row = session.connection().execute(_FIND_MESSAGE, {
        "channel": str(inquiry.channel), "provider_id": inquiry.provider_id}).first()
    if row is None:
        return None
    if inquiry.request_digest and row.request_digest \
            and inquiry.request_digest != row.request_digest:
        raise ProviderIdReused(inquiry.provider_id)
    return Receipt(consultation_id=row.consultation_id, person_id=row.person_id,
                   message_id=row.id, created=False, status=row.status)


def _open_consultation(session: Session, inquiry: Inquiry, person_id: int,
                       is_new_person: bool, clinic: Clinic) -> Consultation | None:
    """The consultation this inquiry threads into, locked, or None for a new one."""
    if inquiry.thread_consultation_id is not None:
        consultation = _locked(session, inquiry.thread_consultation_id)
        if consultation is not None and consultation.person_id == person_id:
            return consultation
    if is_new_person:
        return None
    found = session.connection().execute(_OPEN_CONSULTATION, {
        "person_id": person_id, "since": inquiry.received_at - clinic.thread_window}).scalar()
    return _locked(session, found) if found is not None else None


def _locked(session: Session, consultation_id: int) -> Consultation | None:
    """The consultation, read after any concurrent writer of it has committed (FOR UPDATE):
    two messages threading into it at once would otherwise each merge its channels and
    interests into the same old list, and the later commit would drop the other's. Pending
    changes are flushed first: the fresh read must not overwrite them."""
    session.flush()
    return session.get(Consultation, consultation_id, with_for_update={"of": Consultation},
                       populate_existing=True)


def _record_consents(ledger: Ledger, inquiry: Inquiry,
                     contacts: list[Contact]) -> list[tuple[str, str, str]]:
    """Explicit choices from the inquiry, then the R6 reply basis; answers the marketing
    changes (purpose, channel, action) that need an R47 result notice."""
    base: dict[str, object] = {"source": f"{inquiry.channel}:{inquiry.provider_id}"}
    if inquiry.source_ip:
        base["ip"] = inquiry.source_ip
    changes: list[tuple[str, str, str]] = []
    for choice in inquiry.consents:
        ledger.record(choice.purpose, choice.action, choice.method,
                      {**base, **choice.evidence}, channel=choice.channel,
                      at=inquiry.received_at)
        if choice.purpose in (ConsentPurpose.MARKETING, ConsentPurpose.MARKETING_NIGHT):
            changes.append((choice.purpose, choice.channel or "", choice.action))
    for contact in contacts:
        for channel in REPLY_CHANNELS_BY_KIND.get(contact.kind, ()):
            current = ledger.states.get((ConsentPurpose.REPLY, channel))
            if current is not None and current.action in (
                    ConsentAction.GRANT, ConsentAction.OPT_IN, ConsentAction.OPT_OUT,
                    ConsentAction.WITHDRAW):
                continue  # never override an opt-out with an implied basis
            ledger.record(ConsentPurpose.REPLY, ConsentAction.GRANT, inquiry.consent_method,
                          {**base, "basis": "request_response (PIPA 15(1)4, R6)",
                           "contact_kind": contact.kind}, channel=channel,
                          at=inquiry.received_at)
    return changes


def ack_channel(inquiry: Inquiry, kinds: set[str]) -> str | None:
    """The channel the acknowledgement goes on: the one the person chose, else the one they
    wrote on, else any they gave a contact for. `phone` means a call: acknowledge by SMS."""
    preferred = inquiry.reply_channel
    if preferred == "phone":
        preferred = "sms"
    candidates = [preferred, str(inquiry.channel), "email", "sms", "kakao"]
    if inquiry.channel == Channel.VOICE:
        candidates.insert(1, "sms")
    for channel in candidates:
        if channel in OUTBOUND_CHANNELS and channel != "voice" and \
                OUTBOUND_CHANNELS[channel] in kinds:
            return channel
    return None


def _schedule_outbound(session: Session, inquiry: Inquiry, person: Person | NewPerson,
                       consultation_id: int, points: dict[tuple[str, str], int],
                       clinic: Clinic, minor: bool,
                       changes: list[tuple[str, str, str]]) -> None:
    if minor:
        if person.guardian_phone:
            schedule_delivery(session, person_id=person.id, consultation_id=consultation_id,
                              channel="sms", purpose=DeliveryPurpose.NOTICE,
                              recipient=person.guardian_phone,
                              body=guardian_request(clinic, person),
                              headers={"to_guardian": True})
        return
    kinds = {kind for (kind, _value) in points}
    channel = ack_channel(inquiry, kinds)
    if channel is None:
        return
    kind = OUTBOUND_CHANNELS[channel]
    recipient = next(value for (k, value) in points if k == kind)
    subject, body = acknowledgement(clinic, person, inquiry.received_at, changes)
    schedule_delivery(session, person_id=person.id, consultation_id=consultation_id,
                      channel=channel, purpose=DeliveryPurpose.ACKNOWLEDGEMENT,
                      recipient=recipient, body=body,
                      subject=subject if channel == "email" else None,
                      headers={"auto": True})


def receive(session: Session, inquiry: Inquiry, clinic: Clinic) -> Receipt:
    """Store one inquiry (see the module docstring). The caller owns the transaction."""
    existing = _find_existing(session, inquiry)
    if existing is not None:
        return existing
    contacts = normalised_contacts(inquiry.contacts)
    if not contacts and inquiry.thread_consultation_id is None:
        raise InquiryRejected("contact", "an inquiry needs at least one contact point")
    minor = is_minor(inquiry, clinic)
    if minor:
        # R12: nothing of the child's own contact details is kept before the guardian consents.
        if inquiry.guardian is None:
            raise InquiryRejected("guardian", "a child under 14 needs a legal guardian's name "
                                  "and phone (R12)")
        contacts = []
    person, points, is_new_person = resolve_person(session, inquiry, contacts, minor)
    consultation = _open_consultation(session, inquiry, person.id, is_new_person, clinic)
    ledger = Ledger.of(session, person.id, is_new=is_new_person)

    body, redacted = storable_text(inquiry.body) if inquiry.body else (None, [])
    subject = storable_text(inquiry.subject)[0] if inquiry.subject else None
    explicit_health = any(c.purpose == ConsentPurpose.SENSITIVE_HEALTH
                          and c.action == ConsentAction.GRANT for c in inquiry.consents)
    health_ok = explicit_health or ledger.granted(ConsentPurpose.SENSITIVE_HEALTH)
    interests = list(inquiry.profile.interests)
    needs_health_consent = False
    if minor:
        body, subject, interests = None, None, []
        redacted = [*redacted, "minor_pending_guardian"]
    elif inquiry.health_fields_asked and not health_ok:
        # R8: the form asked up front and the person declined: a callback request only.
        if body or interests:
            redacted = [*redacted, "health_fields_discarded"]
        body, interests = None, []
    elif not health_ok and (mentions_health(body) or mentions_health(subject)):
        needs_health_consent = True
    preferred_hours = None
    if inquiry.profile.preferred_hours and not minor:
        preferred_hours = storable_text(inquiry.profile.preferred_hours)[0][:200]

    conn = session.connection()
    if consultation is None:
        status = ConsultationStatus.PENDING_GUARDIAN if minor else ConsultationStatus.NEW
        consultation_id: int = conn.execute(_INSERT_CONSULTATION, {
            "person_id": person.id, "status": status.value, "assignee_id": None,
            "interests": sorted(set(interests)), "channels": [str(inquiry.channel)],
            "preferred_hours": preferred_hours, "reply_channel": inquiry.reply_channel,
            "needs_health_consent": needs_health_consent, "created_at": inquiry.received_at,
            "last_message_at": inquiry.received_at}).scalar_one()
    else:
        consultation_id, status = consultation.id, ConsultationStatus(consultation.status)
        consultation.channels = sorted({*consultation.channels, str(inquiry.channel)})
        consultation.interests = sorted({*consultation.interests, *interests})
        consultation.last_message_at = max(consultation.last_message_at, inquiry.received_at)
        if preferred_hours:
            consultation.preferred_hours = preferred_hours
        if inquiry.reply_channel:
            consultation.reply_channel = inquiry.reply_channel
        if needs_health_consent:
            consultation.needs_health_consent = True
        if status == ConsultationStatus.WAITING:
            consultation.status = status = ConsultationStatus.OPEN
        session.expire(consultation, ["messages"])

    first = contacts[0] if contacts else None
    message_id: int = conn.execute(_INSERT_MESSAGE, {
        "consultation_id": consultation_id, "direction": Direction.IN.value,
        "channel": str(inquiry.channel), "provider_id": inquiry.provider_id,
        "subject": subject, "body": body, "redactions": redacted,
        "contact_point_id": points[(first.kind, first.value)] if first else None,
        "author_id": None, "request_digest": inquiry.request_digest,
        "created_at": inquiry.received_at}).scalar_one()
    attachments = () if minor else inquiry.attachments
    if attachments:
        now = utcnow()
        conn.execute(_INSERT_ATTACHMENTS, [
            {"message_id": message_id, "filename": att.filename,
             "content_type": att.content_type, "size": att.size, "pages": att.pages,
             "provider_id": att.provider_id, "source_url": att.source_url,
             "storage_key": None, "created_at": now} for att in attachments])

    changes = [] if minor else _record_consents(ledger, inquiry, contacts)
    ledger.write()
    if consultation is None:
        _schedule_outbound(session, inquiry, person, consultation_id, points, clinic, minor,
                           changes)
    session.flush()  # the changes to a known person or an open consultation
    return Receipt(consultation_id=consultation_id, person_id=person.id, message_id=message_id,
                   created=True, new_consultation=consultation is None, status=status)


def receive_once(db: Database, inquiry: Inquiry, clinic: Clinic,
                 after: Callable[[Session, Receipt], None] | None = None) -> Receipt:
    """`receive` in its own transaction, with `after` (a channel's own follow-up of a new event,
    e.g. storing its attachments) in the same one, so a 2xx means both are committed.

    A concurrent transaction may win a unique index first: the same event (a provider's retry
    racing the original) or the same new person's contact point (two first messages at once).
    PostgreSQL fails the loser only once the winner has committed, so receiving again sees the
    winner's rows: the stored receipt, or the person and consultation to thread into. Nothing
    accepted is lost to the race."""

    def attempt() -> Receipt:
        with db.begin() as session:
            receipt = receive(session, inquiry, clinic)
            if receipt.created and after is not None:
                after(session, receipt)
            return receipt

    try:
        return attempt()
    except IntegrityError:
        return attempt()
