"""The hub's vocabularies: every word the API, the database and the adapters share.

Stored as plain strings (portable across PostgreSQL and SQLite, easy to extend by migration).
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """Where a message came from or goes to. `web` is the homepage form and the JSON intake."""

    WEB = "web"
    SMS = "sms"
    VOICE = "voice"
    KAKAO = "kakao"
    EMAIL = "email"
    FAX = "fax"
    UNKNOWN = "unknown"


# Channels a message can be sent out on, and the contact point kind each one needs.
OUTBOUND_CHANNELS: dict[str, str] = {"sms": "phone", "voice": "phone", "kakao": "kakao",
                                     "email": "email"}
# The channels the consent state is reported for (design: sms, kakao, email, voice).
CONSENT_CHANNELS: tuple[str, ...] = ("sms", "kakao", "email", "voice")


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class ConsultationStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting_on_patient"
    BOOKED = "booked"
    CLOSED = "closed"
    SPAM = "spam"
    PENDING_GUARDIAN = "pending_guardian"


# Statuses a new inbound message may thread into.
THREADABLE = (ConsultationStatus.NEW, ConsultationStatus.OPEN, ConsultationStatus.WAITING,
              ConsultationStatus.BOOKED, ConsultationStatus.PENDING_GUARDIAN)


class ConsentPurpose(StrEnum):
    REPLY = "reply"
    SENSITIVE_HEALTH = "sensitive_health"
    MARKETING = "marketing"
    MARKETING_NIGHT = "marketing_night"
    GUARDIAN = "guardian"


class ConsentAction(StrEnum):
    GRANT = "grant"
    REFUSE = "refuse"
    WITHDRAW = "withdraw"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


class ConsentMethod(StrEnum):
    """How the consent was captured (R5)."""

    WEB_FORM = "web_form"
    INBOUND_MESSAGE = "inbound_message"  # the person wrote to us there (R6 request_response)
    SMS_KEYWORD = "sms_keyword"
    CARRIER = "carrier"
    KAKAO_FLOW = "kakao_flow"
    EMAIL_LINK = "email_link"
    EMAIL_REPLY = "email_reply"
    PHONE_VERBAL = "phone_verbal"
    PAPER_OR_FAX_SIGNED = "paper_or_fax_signed"
    COUNSELLOR = "counsellor"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    HELD = "held"


FINAL_DELIVERY_STATUSES = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED,
                           DeliveryStatus.SUPPRESSED)


class DeliveryPurpose(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    REPLY = "reply"
    CONFIRMATION = "confirmation"
    NOTICE = "notice"
    MARKETING = "marketing"


INFORMATIONAL = (DeliveryPurpose.ACKNOWLEDGEMENT, DeliveryPurpose.REPLY,
                 DeliveryPurpose.CONFIRMATION, DeliveryPurpose.NOTICE)


class Role(StrEnum):
    COUNSELLOR = "counsellor"
    MARKETER = "marketer"
    PRIVACY_OFFICER = "privacy_officer"
    ADMIN = "admin"
