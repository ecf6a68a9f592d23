"""What a counsellor does to a consultation: assign, change status, note, reply.

Replies go through the same delivery pipeline as everything else; the channel is checked here
(so the counsellor hears "no" at once, 409) and again by the worker at send time (R42).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.clinic import Clinic
from intake.db import utcnow
from intake.models import (
    ConsentState,
    Consultation,
    Delivery,
    Message,
    Note,
    Person,
    Staff,
    StatusChange,
)
from intake.policy import reply_decision
from intake.services.consent import load_states
from intake.services.deliveries import enqueue_delivery, schedule_delivery
from intake.vocab import (
    OUTBOUND_CHANNELS,
    ConsentAction,
    ConsentPurpose,
    ConsultationStatus,
    DeliveryPurpose,
    DeliveryStatus,
    Direction,
    Role,
)

REPLY_ORDER = ("email", "sms", "kakao")
ASSIGNABLE_ROLES = (Role.COUNSELLOR, Role.ADMIN, Role.PRIVACY_OFFICER)


class ActionRefused(ValueError):
    """The action is understood but not allowed now (409)."""

    def __init__(self, code: str, message: str, **extra: object) -> None:
        super().__init__(message)
        self.code, self.extra = code, extra


def guardian_pending(session: Session, person: Person) -> bool:
    if not person.is_minor:
        return False
    state = session.get(ConsentState, (person.id, ConsentPurpose.GUARDIAN.value, ""))
    return state is None or state.action != ConsentAction.GRANT


def assign(session: Session, consultation: Consultation, assignee: Staff | None,
           by: int) -> None:
    if assignee is not None and (not assignee.active or assignee.role not in ASSIGNABLE_ROLES):
        raise ActionRefused("not_assignable", "only an active counsellor can be assigned")
    consultation.assignee_id = assignee.id if assignee else None
    if assignee is not None and consultation.status == ConsultationStatus.NEW:
        change_status(session, consultation, ConsultationStatus.OPEN, by, reason="assigned")


def change_status(session: Session, consultation: Consultation, status: str, by: int | None,
                  reason: str | None = None) -> None:
    status = ConsultationStatus(status)
    if status == consultation.status:
        return
    if (consultation.status == ConsultationStatus.PENDING_GUARDIAN
            and status not in (ConsultationStatus.CLOSED, ConsultationStatus.SPAM)
            and guardian_pending(session, consultation.person)):
        raise ActionRefused("guardian_consent_required",
                            "a child's consultation waits for the guardian's consent (R12)")
    session.add(StatusChange(consultation_id=consultation.id, from_status=consultation.status,
                             to_status=status, by_id=by,
                             detail={"reason": reason} if reason else None))
    consultation.status = status


def add_note(session: Session, consultation: Consultation, body: str, by: int) -> Note:
    note = Note(consultation_id=consultation.id, author_id=by, body=body)
    session.add(note)
    session.flush()
    return note


def reply_reasons(session: Session, consultation: Consultation,
                  clinic: Clinic) -> dict[str, tuple[bool, str]]:
    """For each reply channel: may a reply go there now, and why."""
    person = consultation.person
    states = load_states(session, person.id)
    kinds = {cp.kind for cp in person.contact_points}
    out: dict[str, tuple[bool, str]] = {}
    for channel in REPLY_ORDER:
        decision = reply_decision(states, channel, OUTBOUND_CHANNELS[channel] in kinds, clinic.tz)
        out[channel] = (decision.allowed, decision.reason)
    return out


def _preferred_order(session: Session, consultation: Consultation) -> list[str]:
    order: list[str] = []
    preferred = consultation.reply_channel
    if preferred == "phone":
        preferred = "sms"
    if preferred in REPLY_ORDER:
        order.append(preferred)
    last_in = session.scalar(select(Message.channel).where(
        Message.consultation_id == consultation.id, Message.direction == Direction.IN)
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(1))
    if last_in in REPLY_ORDER and last_in not in order:
        order.append(last_in)
    order += [c for c in REPLY_ORDER if c not in order]
    return order


def _email_threading(session: Session, consultation: Consultation) -> dict[str, object]:
    """In-Reply-To/References of the last email in the thread, so the patient's client threads."""
    ids = session.scalars(select(Message.provider_id).where(
        Message.consultation_id == consultation.id, Message.channel == "email",
        Message.provider_id.is_not(None)).order_by(Message.created_at, Message.id)).all()
    ids = [i for i in ids if i and i.startswith("<")]
    if not ids:
        return {}
    return {"in_reply_to": ids[-1], "references": " ".join(ids[-10:])}


@dataclass(frozen=True)
class ReplyPlan:
    channel: str
    recipient: str


def plan_reply(session: Session, consultation: Consultation, clinic: Clinic,
               channel: str | None) -> ReplyPlan:
    person = consultation.person
    if guardian_pending(session, person):
        raise ActionRefused("no_allowed_channel", "a child's consultation waits for the "
                            "guardian's consent (R12)",
                            reasons={c: "guardian consent not recorded (R12)"
                                     for c in REPLY_ORDER})
    reasons = reply_reasons(session, consultation, clinic)
    candidates = [channel] if channel else _preferred_order(session, consultation)
    for candidate in candidates:
        allowed, _reason = reasons[candidate]
        if allowed:
            kind = OUTBOUND_CHANNELS[candidate]
            recipient = next(cp.value for cp in person.contact_points if cp.kind == kind)
            return ReplyPlan(candidate, recipient)
    shown = {c: reasons[c][1] for c in candidates}
    what = f"replies on {channel} are not allowed" if channel else "no channel allows a reply"
    raise ActionRefused("no_allowed_channel", f"{what}: " + "; ".join(shown.values()),
                        reasons=shown)


def reply(session: Session, consultation: Consultation, clinic: Clinic, body: str,
          by: int, channel: str | None = None, subject: str | None = None) -> Delivery:
    """Queue a counsellor's reply; the thread shows it at once with its delivery status."""
    plan = plan_reply(session, consultation, clinic, channel)
    now = utcnow()
    locale = consultation.person.locale
    if plan.channel == "email" and not subject:
        subject = clinic.notices.text("reply.subject", locale,
                                      clinic=clinic.display_name(locale))
    message = Message(consultation_id=consultation.id, direction=Direction.OUT,
                      channel=plan.channel, body=body, subject=subject, author_id=by,
                      created_at=now)
    session.add(message)
    session.flush()
    headers = _email_threading(session, consultation) if plan.channel == "email" else None
    delivery_id = schedule_delivery(session, person_id=consultation.person_id,
                                    consultation_id=consultation.id, message_id=message.id,
                                    channel=plan.channel, purpose=DeliveryPurpose.REPLY,
                                    recipient=plan.recipient, body=body, subject=subject,
                                    headers=headers)
    consultation.last_message_at = max(consultation.last_message_at, now)
    if consultation.status in (ConsultationStatus.NEW, ConsultationStatus.OPEN):
        change_status(session, consultation, ConsultationStatus.WAITING, by, reason="replied")
    return session.get_one(Delivery, delivery_id)


def release_guardian_hold(session: Session, person: Person, by: int | None,
                          at: datetime | None = None) -> int:
    """After the guardian's consent (R12): the child's consultations open and held deliveries
    are decided again. Answers how many consultations were released."""
    released = 0
    for consultation in session.scalars(select(Consultation).where(
            Consultation.person_id == person.id,
            Consultation.status == ConsultationStatus.PENDING_GUARDIAN)):
        change_status(session, consultation, ConsultationStatus.NEW, by,
                      reason="guardian consent recorded")
        released += 1
    for delivery in session.scalars(select(Delivery).where(
            Delivery.person_id == person.id, Delivery.status == DeliveryStatus.HELD)):
        enqueue_delivery(session, delivery, available_at=at)
    return released
