"""`receive`: one inbound inquiry, from any channel, in one database transaction.

1. idempotency on (channel, provider_id): a replay answers the first receipt and stores nothing;
2. identity: normalised contact points find the person (never a name alone), else a new one;
3. threading: the person's open consultation within the window, else a new one;
4. the message, with identifiers masked (R9, R24) and health fields kept only with the
   sensitive-health consent where the channel asked for it up front (R8);
5. consent events with their evidence, and the request-response reply basis (R6);
6. outbox rows: the acknowledgement (or, for a child under 14, the guardian request, R12).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from intake.clinic import Clinic
from intake.contacts import InvalidContact, normalise
from intake.db import Database
from intake.inquiry import ContactValue, Inquiry, Receipt
from intake.models import Attachment, Consultation, ContactPoint, Message, Person
from intake.redaction import mask_identifiers, mentions_health
from intake.services.acknowledgement import acknowledgement, guardian_request
from intake.services.consent import Ledger
from intake.services.deliveries import schedule_delivery
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


class InquiryRejected(ValueError):
    """The inquiry cannot be accepted as it is; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class _Contact:
    kind: str
    value: str
    verified: bool


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def is_minor(inquiry: Inquiry, clinic: Clinic) -> bool:
    """R12: under 14 on the submission date, by birth date or by stated age."""
    profile = inquiry.profile
    if profile.birth_date is not None:
        today = inquiry.received_at.astimezone(clinic.tz).date()
        return age_on(profile.birth_date, today) < MINOR_AGE
    return profile.age is not None and profile.age < MINOR_AGE


def _normalised(contacts: tuple[ContactValue, ...]) -> list[_Contact]:
    out: list[_Contact] = []
    for contact in contacts:
        try:
            value = normalise(contact.kind, contact.value)  # type: ignore[arg-type]
        except InvalidContact as exc:
            raise InquiryRejected(contact.kind, str(exc)) from None
        if all((c.kind, c.value) != (contact.kind, value) for c in out):
            out.append(_Contact(contact.kind, value, contact.verified))
    return out


def _find_existing(session: Session, inquiry: Inquiry) -> Receipt | None:
    message = session.scalar(select(Message).where(
        Message.channel == inquiry.channel, Message.direction == Direction.IN,
        Message.provider_id == inquiry.provider_id))
    if message is None:
        return None
    consultation = session.get(Consultation, message.consultation_id)
    assert consultation is not None
    return Receipt(consultation_id=consultation.id, person_id=consultation.person_id,
                   message_id=message.id, created=False, status=consultation.status)


def _resolve_person(session: Session, inquiry: Inquiry, contacts: list[_Contact],
                    minor: bool) -> tuple[Person, dict[tuple[str, str], ContactPoint], bool]:
    """The person the contact points belong to (never found by a name alone), else a new one;
    answers (person, contact points by (kind, value), is_new)."""
    points: dict[tuple[str, str], ContactPoint] = {}
    if contacts:
        # (kind = ? AND value = ?) OR ...: exact pairs, and a statement that psycopg can
        # prepare (an expanding IN is rendered anew on every call: 1.5 ms of 13 measured).
        rows = session.scalars(select(ContactPoint).where(or_(*(
            and_(ContactPoint.kind == c.kind, ContactPoint.value == c.value)
            for c in contacts))))
        points = {(cp.kind, cp.value): cp for cp in rows}
    person: Person | None = None
    if inquiry.thread_consultation_id is not None:
        consultation = session.get(Consultation, inquiry.thread_consultation_id)
        person = consultation.person if consultation is not None else None
    if person is None:
        for contact in contacts:  # contacts come in the adapter's order of trust
            cp = points.get((contact.kind, contact.value))
            if cp is not None and cp.person_id is not None:
                person = session.get(Person, cp.person_id)
                break
    is_new = person is None
    if person is None:
        person = Person(locale=inquiry.profile.locale, is_minor=False)
        session.add(person)
    _update_profile(person, inquiry, minor)
    for contact in contacts:
        key = (contact.kind, contact.value)
        cp = points.get(key)
        if cp is None:
            # A caller id (fax) or an address that merely replied into a thread is no proof
            # of identity: kept unlinked until a counsellor confirms it.
            unproven = contact.kind == "fax" or inquiry.thread_consultation_id is not None
            cp = ContactPoint(kind=contact.kind, value=contact.value, verified=contact.verified,
                              person=None if unproven else person)
            session.add(cp)
            points[key] = cp
        elif cp.person_id is None and contact.kind != "fax" and \
                inquiry.thread_consultation_id is None:
            cp.person = person
    return person, points, is_new


def _update_profile(person: Person, inquiry: Inquiry, minor: bool) -> None:
    if inquiry.name:
        person.name = mask_identifiers(inquiry.name)[0][:100]
    profile = inquiry.profile
    person.locale = profile.locale or person.locale
    if minor:
        # R12: before the guardian consents, only the child's name and the guardian's contact.
        person.is_minor = True
        person.sex = person.region = None
        person.birth_date = person.age = None
        if inquiry.guardian is not None:
            person.guardian_name = mask_identifiers(inquiry.guardian.name)[0][:100]
            try:
                person.guardian_phone = normalise("phone", inquiry.guardian.phone)
            except InvalidContact as exc:
                raise InquiryRejected("guardian", str(exc)) from None
        return
    for attr in ("sex", "birth_date", "age", "region"):
        value = getattr(profile, attr)
        if value is not None:
            setattr(person, attr, mask_identifiers(value)[0] if isinstance(value, str) else value)


def _thread(session: Session, inquiry: Inquiry, person: Person, is_new_person: bool,
            clinic: Clinic, minor: bool) -> tuple[Consultation, bool]:
    if inquiry.thread_consultation_id is not None:
        consultation = session.get(Consultation, inquiry.thread_consultation_id)
        if consultation is not None and consultation.person_id == person.id:
            return consultation, False
    if not is_new_person:
        since = inquiry.received_at - clinic.thread_window
        consultation = session.scalar(
            select(Consultation)
            .where(Consultation.person_id == person.id, Consultation.status.in_(THREADABLE),
                   Consultation.last_message_at >= since)
            .order_by(Consultation.last_message_at.desc()).limit(1))
        if consultation is not None:
            return consultation, False
    status = ConsultationStatus.PENDING_GUARDIAN if minor else ConsultationStatus.NEW
    consultation = Consultation(person=person, status=status, interests=[], channels=[],
                                created_at=inquiry.received_at,
                                last_message_at=inquiry.received_at,
                                needs_health_consent=False)
    session.add(consultation)
    return consultation, True


def _record_consents(ledger: Ledger, inquiry: Inquiry,
                     contacts: list[_Contact]) -> list[tuple[str, str, str]]:
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


def _schedule_outbound(session: Session, inquiry: Inquiry, person: Person,
                       consultation: Consultation,
                       points: dict[tuple[str, str], ContactPoint], clinic: Clinic, minor: bool,
                       changes: list[tuple[str, str, str]]) -> None:
    if minor:
        if person.guardian_phone:
            schedule_delivery(session, person=person, consultation=consultation,
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
    schedule_delivery(session, person=person, consultation=consultation,
                      channel=channel, purpose=DeliveryPurpose.ACKNOWLEDGEMENT,
                      recipient=recipient, body=body,
                      subject=subject if channel == "email" else None,
                      headers={"auto": True})


def receive(session: Session, inquiry: Inquiry, clinic: Clinic) -> Receipt:
    """Store one inquiry (see the module docstring). The caller owns the transaction.

    Objects are linked through relationships and flushed together, one batch per table: the
    request path of every channel runs through here (bench/ measures it)."""
    existing = _find_existing(session, inquiry)
    if existing is not None:
        return existing
    contacts = _normalised(inquiry.contacts)
    if not contacts and inquiry.thread_consultation_id is None:
        raise InquiryRejected("contact", "an inquiry needs at least one contact point")
    minor = is_minor(inquiry, clinic)
    if minor:
        # R12: nothing of the child's own contact details is kept before the guardian consents.
        if inquiry.guardian is None:
            raise InquiryRejected("guardian", "a child under 14 needs a legal guardian's name "
                                  "and phone (R12)")
        contacts = []
    person, points, is_new_person = _resolve_person(session, inquiry, contacts, minor)
    consultation, is_new = _thread(session, inquiry, person, is_new_person, clinic, minor)
    ledger = Ledger.of(session, person, is_new=is_new_person)

    body, redacted = mask_identifiers(inquiry.body) if inquiry.body else (None, [])
    subject = mask_identifiers(inquiry.subject)[0] if inquiry.subject else None
    explicit_health = any(c.purpose == ConsentPurpose.SENSITIVE_HEALTH
                          and c.action == ConsentAction.GRANT for c in inquiry.consents)
    health_ok = explicit_health or ledger.granted(ConsentPurpose.SENSITIVE_HEALTH)
    interests = list(inquiry.profile.interests)
    if minor:
        body, subject, interests = None, None, []
        redacted = [*redacted, "minor_pending_guardian"]
    elif inquiry.health_fields_asked and not health_ok:
        # R8: the form asked up front and the person declined: a callback request only.
        if body or interests:
            redacted = [*redacted, "health_fields_discarded"]
        body, interests = None, []
    elif not health_ok and (mentions_health(body) or mentions_health(subject)):
        consultation.needs_health_consent = True

    first = contacts[0] if contacts else None
    message = Message(
        consultation=consultation, direction=Direction.IN, channel=inquiry.channel,
        provider_id=inquiry.provider_id, subject=subject, body=body, redactions=redacted,
        contact_point=points[(first.kind, first.value)] if first else None,
        created_at=inquiry.received_at)
    session.add(message)
    for att in () if minor else inquiry.attachments:
        session.add(Attachment(message=message, filename=att.filename,
                               content_type=att.content_type, size=att.size, pages=att.pages,
                               provider_id=att.provider_id, source_url=att.source_url))

    consultation.channels = sorted({*consultation.channels, str(inquiry.channel)})
    consultation.interests = sorted({*consultation.interests, *interests})
    consultation.last_message_at = max(consultation.last_message_at, inquiry.received_at)
    if inquiry.profile.preferred_hours and not minor:
        consultation.preferred_hours = mask_identifiers(inquiry.profile.preferred_hours)[0][:200]
    if inquiry.reply_channel:
        consultation.reply_channel = inquiry.reply_channel
    if consultation.status == ConsultationStatus.WAITING:
        consultation.status = ConsultationStatus.OPEN

    changes = [] if minor else _record_consents(ledger, inquiry, contacts)
    if is_new:
        _schedule_outbound(session, inquiry, person, consultation, points, clinic, minor,
                           changes)
    session.flush()
    return Receipt(consultation_id=consultation.id, person_id=person.id, message_id=message.id,
                   created=True, new_consultation=is_new, status=consultation.status)


def receive_once(db: Database, inquiry: Inquiry, clinic: Clinic) -> Receipt:
    """`receive` in its own transaction; a concurrent duplicate that wins the unique index race
    is answered with the stored receipt instead of an error."""
    try:
        with db.begin() as session:
            return receive(session, inquiry, clinic)
    except IntegrityError:
        with db.begin() as session:
            existing = _find_existing(session, inquiry)
        if existing is None:
            raise
        return existing
