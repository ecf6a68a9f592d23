"""marshmallow schemas of the counsellor API: they validate requests, shape responses and
generate the OpenAPI document, from one declaration each."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from intake.db import MAX_ID
from intake.vocab import (
    CONSENT_CHANNELS,
    Channel,
    ConsentAction,
    ConsentMethod,
    ConsentPurpose,
    ConsultationStatus,
    DeliveryStatus,
)

STATUSES = [s.value for s in ConsultationStatus]
REPLY_CHANNELS = ["sms", "kakao", "email"]


def no_control_characters(multiline: bool) -> Callable[[str], None]:
    """Refuse control characters (PostgreSQL cannot even store NUL); newlines and tabs are
    allowed in free text that spans lines. Shared by the web form's schema and the API's."""
    allowed = {"\n", "\r", "\t"} if multiline else set()

    def check(value: str) -> None:
        if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in value):
            raise ValidationError("must not contain control characters")

    return check


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


# -- requests -------------------------------------------------------------------------------

def _statuses(value: str) -> None:
    for status in value.split(","):
        if status and status not in STATUSES:
            raise ValidationError(f"unknown status; use {', '.join(STATUSES)}")


class ConsultationQuerySchema(StrictSchema):
    status = fields.String(validate=_statuses,
                           metadata={"description": "one status or several, comma-separated"})
    channel = fields.String(validate=validate.OneOf([c.value for c in Channel]))
    interest = fields.String(validate=[validate.Length(max=40), no_control_characters(False)])
    assignee = fields.String(metadata={"description": "a staff id, `me` or `none`"},
                             validate=validate.Length(max=40))
    q = fields.String(validate=[validate.Length(min=1, max=100), no_control_characters(False)])
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


class DeliveryQuerySchema(StrictSchema):
    consultation_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    status = fields.String(validate=validate.OneOf([s.value for s in DeliveryStatus]))
    channel = fields.String(validate=validate.OneOf(REPLY_CHANNELS + ["voice"]))
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


class AssignSchema(StrictSchema):
    assignee_id = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=MAX_ID))
    assignee = fields.Email(allow_none=True, metadata={"description": "a staff email instead"})

    @validates_schema
    def _one(self, data: dict, **_kw: object) -> None:
        if "assignee_id" not in data and "assignee" not in data:
            raise ValidationError("give assignee_id (null to unassign) or assignee", "assignee_id")


class StatusSchema(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    reason = fields.String(validate=[validate.Length(max=500), no_control_characters(False)])


class NoteSchema(StrictSchema):
    body = fields.String(required=True, validate=[validate.Length(min=1, max=5000),
                                                  no_control_characters(True)])


class ReplySchema(StrictSchema):
    body = fields.String(required=True, validate=[validate.Length(min=1, max=2000),
                                                  no_control_characters(True)])
    channel = fields.String(allow_none=True, validate=validate.OneOf(REPLY_CHANNELS))
    subject = fields.String(allow_none=True, validate=[validate.Length(max=200),
                                                       no_control_characters(False)])


class ConsentRecordSchema(StrictSchema):
    """A consent a counsellor captured outside the hub (phone, paper, fax), with its evidence."""

    purpose = fields.String(required=True,
                            validate=validate.OneOf([p.value for p in ConsentPurpose]))
    channel = fields.String(allow_none=True, validate=validate.OneOf(list(CONSENT_CHANNELS)))
    action = fields.String(required=True,
                           validate=validate.OneOf([a.value for a in ConsentAction]))
    method = fields.String(required=True,
                           validate=validate.OneOf([m.value for m in ConsentMethod]))
    evidence = fields.Dict(required=True, keys=fields.String(), values=fields.Raw(),
                           validate=validate.Length(min=1),
                           metadata={"description": "call id and script version, scan id, "
                                     "Message-ID... (R5)"})


# -- responses ------------------------------------------------------------------------------

class PersonSummarySchema(Schema):
    id = fields.Integer()
    name = fields.String(allow_none=True, metadata={"description": "masked (R55)"})
    contact = fields.String(allow_none=True, metadata={"description": "masked (R55)"})


class ConsultationItemSchema(Schema):
    id = fields.Integer()
    status = fields.String()
    channels = fields.List(fields.String())
    person = fields.Nested(PersonSummarySchema)
    interests = fields.List(fields.String())
    assignee = fields.Dict(allow_none=True)
    needs_health_consent = fields.Boolean()
    created_at = fields.DateTime()
    last_message_at = fields.DateTime()


class ConsultationListSchema(Schema):
    items = fields.List(fields.Nested(ConsultationItemSchema))
    next_cursor = fields.String(allow_none=True)


class ContactPointSchema(Schema):
    kind = fields.String()
    value = fields.String()
    verified = fields.Boolean()


class PersonSchema(Schema):
    id = fields.Integer()
    name = fields.String(allow_none=True)
    sex = fields.String(allow_none=True)
    birth_date = fields.Date(allow_none=True)
    age = fields.Integer(allow_none=True)
    region = fields.String(allow_none=True)
    locale = fields.String()
    is_minor = fields.Boolean()
    guardian_name = fields.String(allow_none=True)
    guardian_phone = fields.String(allow_none=True)
    contact_points = fields.List(fields.Nested(ContactPointSchema))


class AttachmentSchema(Schema):
    id = fields.Integer()
    filename = fields.String(allow_none=True)
    content_type = fields.String(allow_none=True)
    size = fields.Integer(allow_none=True)
    pages = fields.Integer(allow_none=True)
    provider_id = fields.String(allow_none=True)
    url = fields.String(allow_none=True)


class MessageSchema(Schema):
    id = fields.Integer()
    direction = fields.String()
    channel = fields.String()
    subject = fields.String(allow_none=True)
    body = fields.String(allow_none=True)
    created_at = fields.DateTime()
    provider_id = fields.String(allow_none=True)
    redactions = fields.List(fields.String())
    attachments = fields.List(fields.Nested(AttachmentSchema))


class NoteOutSchema(Schema):
    id = fields.Integer()
    body = fields.String()
    author_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class HistorySchema(Schema):
    status = fields.String()
    reason = fields.String(allow_none=True)
    at = fields.DateTime()


class SinkSchema(Schema):
    subject = fields.String(allow_none=True)
    body = fields.String()
    recipient = fields.String()
    created_at = fields.DateTime()


class DeliverySchema(Schema):
    id = fields.Integer()
    consultation_id = fields.Integer(allow_none=True)
    channel = fields.String()
    purpose = fields.String()
    recipient = fields.String(metadata={"description": "masked"})
    status = fields.String()
    reason = fields.String(allow_none=True)
    provider_id = fields.String(allow_none=True)
    subject = fields.String(allow_none=True)
    body = fields.String()
    created_at = fields.DateTime()
    history = fields.List(fields.Nested(HistorySchema))
    sink = fields.Nested(SinkSchema, allow_none=True,
                         metadata={"description": "what the development sink received"})


class DeliveryListSchema(Schema):
    items = fields.List(fields.Nested(DeliverySchema))
    next_cursor = fields.String(allow_none=True)


class AllowedSchema(Schema):
    allowed = fields.Boolean()
    reason = fields.String()


class LedgerEntrySchema(Schema):
    id = fields.Integer()
    purpose = fields.String()
    channel = fields.String(allow_none=True)
    action = fields.String()
    method = fields.String()
    evidence = fields.Dict()
    at = fields.DateTime()


class ConsentsSchema(Schema):
    person_id = fields.Integer()
    allowed = fields.Dict(keys=fields.String(), values=fields.Dict(
        keys=fields.String(), values=fields.Nested(AllowedSchema)))
    sensitive_health = fields.Boolean()
    guardian_pending = fields.Boolean()
    ledger = fields.List(fields.Nested(LedgerEntrySchema))


class StatusChangeSchema(Schema):
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    by_id = fields.Integer(allow_none=True)
    at = fields.DateTime()


class ConsultationSchema(Schema):
    id = fields.Integer()
    status = fields.String()
    assignee = fields.Dict(allow_none=True)
    interests = fields.List(fields.String())
    channels = fields.List(fields.String())
    preferred_hours = fields.String(allow_none=True)
    reply_channel = fields.String(allow_none=True)
    needs_health_consent = fields.Boolean()
    created_at = fields.DateTime()
    last_message_at = fields.DateTime()
    person = fields.Nested(PersonSchema)
    messages = fields.List(fields.Nested(MessageSchema))
    notes = fields.List(fields.Nested(NoteOutSchema))
    status_history = fields.List(fields.Nested(StatusChangeSchema))
    deliveries = fields.List(fields.Nested(DeliverySchema))
    consents = fields.Nested(ConsentsSchema)
