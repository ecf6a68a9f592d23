"""A person's consent state and ledger; recording a consent captured outside the hub."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from intake.api import bp
from intake.api.docs import documented
from intake.api.request import load_body
from intake.api.schemas import ConsentRecordSchema, ConsentsSchema
from intake.app import client_address
from intake.auth import STAFF_READERS, current_principal, require_role
from intake.errors import ApiError
from intake.hub import current_hub
from intake.models import Person
from intake.services.audit import audit
from intake.services.consent import ConsentError, consent_report, record_consent
from intake.services.counselling import release_guardian_hold
from intake.vocab import ConsentAction, ConsentPurpose, Role


@bp.get("/people/<int:person_id>/consents")
@documented("/api/v1/people/{person_id}/consents", "get",
            "The consent state (allowed now, and why) and the ledger behind it", "people",
            response=ConsentsSchema, errors=(404,))
@require_role(*STAFF_READERS)
def get_consents(person_id: int) -> ResponseReturnValue:
    hub = current_hub()
    with hub.db.begin() as session:
        person = session.get(Person, person_id)
        if person is None:
            raise ApiError(404, "not_found", f"no person {person_id}")
        audit(session, current_principal().id, "consents.view", person.id,
              f"person:{person.id}", client_address())
        return jsonify(ConsentsSchema().dump(consent_report(session, person, hub.clinic.tz)))


@bp.post("/people/<int:person_id>/consents")
@documented("/api/v1/people/{person_id}/consents", "post",
            "Record a consent captured by phone, paper or fax, with its evidence (R5); a "
            "guardian grant releases a child's consultation (R12)", "people",
            body=ConsentRecordSchema, response=ConsentsSchema, status=201, errors=(404,))
@require_role(Role.COUNSELLOR, Role.ADMIN, Role.PRIVACY_OFFICER)
def post_consent(person_id: int) -> ResponseReturnValue:
    args = load_body(ConsentRecordSchema)
    hub = current_hub()
    principal = current_principal()
    with hub.db.begin() as session:
        person = session.get(Person, person_id)
        if person is None:
            raise ApiError(404, "not_found", f"no person {person_id}")
        try:
            event = record_consent(session, person.id, args["purpose"], args["action"],
                                   args["method"], {**args["evidence"],
                                                    "recorded_from": client_address()},
                                   channel=args.get("channel"), recorded_by_id=principal.id)
        except ConsentError as exc:
            raise ApiError(422, "validation_failed", str(exc),
                           fields={"channel": [str(exc)]}) from None
        if event.purpose == ConsentPurpose.GUARDIAN and event.action == ConsentAction.GRANT:
            release_guardian_hold(session, person, principal.id)
        audit(session, principal.id, "consents.record", person.id, f"person:{person.id}",
              client_address(), purpose=event.purpose, consent_action=event.action)
        session.flush()
        return jsonify(ConsentsSchema().dump(consent_report(session, person, hub.clinic.tz))), 201
