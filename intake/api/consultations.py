"""The unified queue and the counsellor's actions on one consultation."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake import queries
from intake.api import bp
from intake.api import serialize as ser
from intake.api.docs import documented
from intake.api.request import decode_cursor, encode_cursor, load_body, load_query
from intake.api.schemas import (
    AssignSchema,
    ConsultationListSchema,
    ConsultationQuerySchema,
    ConsultationSchema,
    DeliverySchema,
    NoteOutSchema,
    NoteSchema,
    ReplySchema,
    StatusSchema,
)
from intake.app import client_address
from intake.auth import STAFF_READERS, current_principal, require_role
from intake.errors import ApiError
from intake.hub import current_hub
from intake.models import Consultation, Staff
from intake.services import counselling
from intake.services.audit import audit
from intake.vocab import Role

QUEUE_READERS = (*STAFF_READERS, Role.MARKETER)
WORKERS = (Role.COUNSELLOR, Role.ADMIN)


@bp.get("/consultations")
@documented("/api/v1/consultations", "get", "The unified queue, newest activity first",
            "consultations", query=ConsultationQuerySchema, response=ConsultationListSchema)
@require_role(*QUEUE_READERS)
def list_consultations() -> ResponseReturnValue:
    args = load_query(ConsultationQuerySchema)
    principal = current_principal()
    after = decode_cursor(args["cursor"]) if args.get("cursor") else None
    with current_hub().db.begin() as session:
        try:
            page = queries.queue_page(session, queries.QueueFilter.from_args(args),
                                      principal.id, args["limit"], after)
        except queries.QueueFilterError as exc:
            raise ApiError(422, "validation_failed", "the request has invalid fields",
                           fields={exc.field: [str(exc)]}) from None
        with_health = principal.role != Role.MARKETER
        items = [ser.list_item(c, page.assignees, with_health) for c in page.items]
        next_cursor = encode_cursor(*page.next_key) if page.next_key else None
        return jsonify(ConsultationListSchema().dump({"items": items,
                                                      "next_cursor": next_cursor}))


def _load(session: Session, consultation_id: int) -> Consultation:
    consultation = session.get(Consultation, consultation_id)
    if consultation is None:
        raise ApiError(404, "not_found", f"no consultation {consultation_id}")
    return consultation


def _refused(exc: counselling.ActionRefused) -> ApiError:
    return ApiError(409, exc.code, str(exc), **exc.extra)


def _changed(session: Session, consultation: Consultation, action: str,
             **detail: object) -> ResponseReturnValue:
    """Audit a counsellor's change (R29) and answer the consultation as it is now."""
    audit(session, current_principal().id, action, consultation.person_id,
          f"consultation:{consultation.id}", client_address(), **detail)
    session.flush()
    return jsonify(ConsultationSchema().dump(ser.consultation(session, consultation,
                                                              current_hub().clinic)))


@bp.get("/consultations/<int:consultation_id>")
@documented("/api/v1/consultations/{consultation_id}", "get",
            "One consultation: person, whole thread, deliveries, consent state",
            "consultations", response=ConsultationSchema, errors=(404,))
@require_role(*STAFF_READERS)
def get_consultation(consultation_id: int) -> ResponseReturnValue:
    hub = current_hub()
    principal = current_principal()
    with hub.db.begin() as session:
        consultation = _load(session, consultation_id)
        data = ser.consultation(session, consultation, hub.clinic)
        audit(session, principal.id, "consultation.view", consultation.person_id,
              f"consultation:{consultation.id}", client_address())
        return jsonify(ConsultationSchema().dump(data))


@bp.post("/consultations/<int:consultation_id>/assign")
@documented("/api/v1/consultations/{consultation_id}/assign", "post",
            "Assign (or unassign with null)", "consultations", body=AssignSchema,
            response=ConsultationSchema, errors=(404, 409))
@require_role(*WORKERS)
def assign(consultation_id: int) -> ResponseReturnValue:
    args = load_body(AssignSchema)
    hub = current_hub()
    principal = current_principal()
    with hub.db.begin() as session:
        consultation = _load(session, consultation_id)
        staff: Staff | None = None
        if args.get("assignee_id") is not None:
            staff = session.get(Staff, args["assignee_id"])
        elif args.get("assignee"):
            staff = session.scalar(select(Staff).where(Staff.email == args["assignee"].lower()))
        if staff is None and (args.get("assignee_id") or args.get("assignee")):
            raise ApiError(422, "validation_failed", "the request has invalid fields",
                           fields={"assignee_id": ["no such staff user"]})
        try:
            counselling.assign(session, consultation, staff, principal.id)
        except counselling.ActionRefused as exc:
            raise _refused(exc) from None
        return _changed(session, consultation, "consultation.assign",
                        assignee_id=staff.id if staff else None)


@bp.post("/consultations/<int:consultation_id>/status")
@documented("/api/v1/consultations/{consultation_id}/status", "post", "Change the status",
            "consultations", body=StatusSchema, response=ConsultationSchema, errors=(404, 409))
@require_role(*WORKERS)
def change_status(consultation_id: int) -> ResponseReturnValue:
    args = load_body(StatusSchema)
    hub = current_hub()
    principal = current_principal()
    with hub.db.begin() as session:
        consultation = _load(session, consultation_id)
        before = consultation.status
        try:
            counselling.change_status(session, consultation, args["status"], principal.id,
                                      args.get("reason"))
        except counselling.ActionRefused as exc:
            raise _refused(exc) from None
        return _changed(session, consultation, "consultation.status", before=before,
                        after=consultation.status)


@bp.post("/consultations/<int:consultation_id>/notes")
@documented("/api/v1/consultations/{consultation_id}/notes", "post", "Add an internal note",
            "consultations", body=NoteSchema, response=NoteOutSchema, status=201, errors=(404,))
@require_role(*WORKERS)
def add_note(consultation_id: int) -> ResponseReturnValue:
    args = load_body(NoteSchema)
    principal = current_principal()
    with current_hub().db.begin() as session:
        consultation = _load(session, consultation_id)
        note = counselling.add_note(session, consultation, args["body"], principal.id)
        audit(session, principal.id, "consultation.note", consultation.person_id,
              f"consultation:{consultation.id}", client_address())
        return jsonify(NoteOutSchema().dump({"id": note.id, "body": note.body,
                                             "author_id": note.author_id,
                                             "created_at": note.created_at})), 201


@bp.post("/consultations/<int:consultation_id>/replies")
@documented("/api/v1/consultations/{consultation_id}/replies", "post",
            "Reply through a channel the person allows (409 when none does)", "consultations",
            body=ReplySchema, response=DeliverySchema, status=202, errors=(404, 409))
@require_role(*WORKERS)
def reply(consultation_id: int) -> ResponseReturnValue:
    args = load_body(ReplySchema)
    hub = current_hub()
    principal = current_principal()
    with hub.db.begin() as session:
        consultation = _load(session, consultation_id)
        try:
            delivery = counselling.reply(session, consultation, hub.clinic, args["body"],
                                         principal.id, channel=args.get("channel"),
                                         subject=args.get("subject"))
        except counselling.ActionRefused as exc:
            raise _refused(exc) from None
        audit(session, principal.id, "consultation.reply", consultation.person_id,
              f"consultation:{consultation.id}", client_address(), delivery_id=delivery.id,
              channel=delivery.channel)
        session.flush()
        return jsonify(DeliverySchema().dump(ser.delivery(delivery))), 202
