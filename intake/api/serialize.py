"""Shaping domain rows into the contract's JSON (see design.md "Shapes")."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.clinic import Clinic
from intake.contacts import mask_contact, mask_name
from intake.models import (
    Consultation,
    Delivery,
    Message,
    Note,
    Person,
    SinkMessage,
    Staff,
    StatusChange,
)
from intake.services.consent import consent_report

CONTACT_PRIORITY = {"phone": 0, "email": 1, "kakao": 2, "fax": 3}


def staff_ref(staff: Staff | None) -> dict[str, Any] | None:
    if staff is None:
        return None
    return {"id": staff.id, "name": staff.name, "email": staff.email}


def masked_person(person: Person) -> dict[str, Any]:
    """List view: names and contacts masked (R55); the full record shows on opening it."""
    points = sorted(person.contact_points, key=lambda cp: CONTACT_PRIORITY.get(cp.kind, 9))
    contact = mask_contact(points[0].kind, points[0].value) if points else None
    if contact is None and person.guardian_phone:
        contact = mask_contact("phone", person.guardian_phone)
    return {"id": person.id, "name": mask_name(person.name or ""), "contact": contact}


def list_item(c: Consultation, assignees: dict[int, Staff], with_health: bool) -> dict[str, Any]:
    return {
        "id": c.id, "status": c.status, "channels": list(c.channels or []),
        "person": masked_person(c.person),
        "interests": list(c.interests or []) if with_health else [],
        "assignee": staff_ref(assignees.get(c.assignee_id)) if c.assignee_id else None,
        "needs_health_consent": c.needs_health_consent,
        "created_at": c.created_at, "last_message_at": c.last_message_at,
    }


def attachment(a: Any) -> dict[str, Any]:
    return {"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size,
            "pages": a.pages, "provider_id": a.provider_id,
            "url": f"/api/v1/attachments/{a.id}" if a.storage_key else None}


def message(m: Message) -> dict[str, Any]:
    return {"id": m.id, "direction": m.direction, "channel": m.channel, "subject": m.subject,
            "body": m.body, "created_at": m.created_at, "provider_id": m.provider_id,
            "redactions": list(m.redactions or []),
            "attachments": [attachment(a) for a in m.attachments]}


def delivery(d: Delivery, sink: SinkMessage | None = None) -> dict[str, Any]:
    return {
        "id": d.id, "consultation_id": d.consultation_id, "channel": d.channel,
        "purpose": d.purpose, "recipient": mask_contact(_kind(d.channel), d.recipient),
        "status": d.status, "reason": d.reason, "provider_id": d.provider_id,
        "subject": d.subject, "body": d.body, "created_at": d.created_at,
        "history": [{"status": e.status, "reason": e.reason, "at": e.at} for e in d.history],
        "sink": None if sink is None else {"subject": sink.subject, "body": sink.body,
                                           "recipient": mask_contact(_kind(d.channel),
                                                                     sink.recipient),
                                           "created_at": sink.created_at},
    }


def _kind(channel: str) -> str:
    return {"sms": "phone", "voice": "phone", "email": "email", "kakao": "kakao"}.get(
        channel, "phone")


def sinks_for(session: Session, ids: list[int]) -> dict[int, SinkMessage]:
    if not ids:
        return {}
    rows = session.scalars(select(SinkMessage).where(SinkMessage.delivery_id.in_(ids)))
    return {row.delivery_id: row for row in rows if row.delivery_id is not None}


def consultation(session: Session, c: Consultation, clinic: Clinic) -> dict[str, Any]:
    person = c.person
    messages = session.scalars(select(Message).where(Message.consultation_id == c.id)
                               .order_by(Message.created_at, Message.id)).all()
    notes = session.scalars(select(Note).where(Note.consultation_id == c.id)
                            .order_by(Note.created_at, Note.id)).all()
    history = session.scalars(select(StatusChange).where(StatusChange.consultation_id == c.id)
                              .order_by(StatusChange.at, StatusChange.id)).all()
    deliveries = session.scalars(select(Delivery).where(Delivery.consultation_id == c.id)
                                 .order_by(Delivery.id)).all()
    sinks = sinks_for(session, [d.id for d in deliveries])
    assignee = session.get(Staff, c.assignee_id) if c.assignee_id else None
    return {
        "id": c.id, "status": c.status, "assignee": staff_ref(assignee),
        "interests": list(c.interests or []), "channels": list(c.channels or []),
        "preferred_hours": c.preferred_hours, "reply_channel": c.reply_channel,
        "needs_health_consent": c.needs_health_consent,
        "created_at": c.created_at, "last_message_at": c.last_message_at,
        "person": {
            "id": person.id, "name": person.name, "sex": person.sex,
            "birth_date": person.birth_date, "age": person.age, "region": person.region,
            "locale": person.locale, "is_minor": person.is_minor,
            "guardian_name": person.guardian_name, "guardian_phone": person.guardian_phone,
            "contact_points": [{"kind": cp.kind, "value": cp.value, "verified": cp.verified}
                               for cp in person.contact_points],
        },
        "messages": [message(m) for m in messages],
        "notes": [{"id": n.id, "body": n.body, "author_id": n.author_id,
                   "created_at": n.created_at} for n in notes],
        "status_history": [{"from_status": h.from_status, "to_status": h.to_status,
                            "by_id": h.by_id, "at": h.at} for h in history],
        "deliveries": [delivery(d, sinks.get(d.id)) for d in deliveries],
        "consents": consent_report(session, person, clinic.tz),
    }
