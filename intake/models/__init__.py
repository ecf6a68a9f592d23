"""All mapped classes, importable from one place (Alembic and the services use this)."""

from intake.db import Base
from intake.models.consent import ConsentEvent, ConsentState
from intake.models.consultations import Attachment, Consultation, Message, Note, StatusChange
from intake.models.deliveries import Delivery, DeliveryEvent, OutboxRow, SinkMessage
from intake.models.email import ImapMailbox, MailgunToken
from intake.models.merges import PersonMerge
from intake.models.people import ContactPoint, Person
from intake.models.staff import ApiToken, AuditEntry, Staff
from intake.models.twilio import PendingProviderStatus

__all__ = [
    "ApiToken", "Attachment", "AuditEntry", "Base", "ConsentEvent", "ConsentState",
    "Consultation", "ContactPoint", "Delivery", "DeliveryEvent", "ImapMailbox", "MailgunToken",
    "Message", "Note", "OutboxRow", "PendingProviderStatus", "Person", "PersonMerge",
    "SinkMessage", "Staff", "StatusChange",
]
