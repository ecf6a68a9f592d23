"""The channel-neutral inquiry value: what every adapter in `channels/` produces and the one
thing `intake.services.receive` accepts.

Frozen dataclasses, so an inquiry cannot change between the adapter and the transaction. Contact
values arrive raw; the domain normalises them (so every channel gets the same rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from intake.vocab import Channel, ConsentAction, ConsentMethod, ConsentPurpose


@dataclass(frozen=True)
class ContactValue:
    kind: str  # phone, email, kakao, fax
    value: str
    verified: bool = False


@dataclass(frozen=True)
class ConsentChoice:
    """One consent decision the person made while sending the inquiry, with its evidence."""

    purpose: ConsentPurpose
    action: ConsentAction
    method: ConsentMethod
    channel: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Guardian:
    name: str
    phone: str


@dataclass(frozen=True)
class InboundAttachment:
    filename: str | None
    content_type: str | None
    size: int | None = None
    provider_id: str | None = None
    source_url: str | None = None  # fetched later by a worker
    content: bytes | None = None
    pages: int | None = None


@dataclass(frozen=True)
class Profile:
    """Optional details the web form asks for (R7: none of them is needed for a reply)."""

    sex: str | None = None
    birth_date: date | None = None
    age: int | None = None
    region: str | None = None
    interests: tuple[str, ...] = ()
    preferred_hours: str | None = None
    locale: str = "ko"


@dataclass(frozen=True)
class Inquiry:
    """One inbound event from one channel, normalised.

    `provider_id` is the provider's own id (MessageSid, Message-ID, the form's one-time token or
    the API's Idempotency-Key): `(channel, provider_id)` identifies the event for idempotency.
    `reply_channel` is the channel the person asked to be answered on; `consents` are explicit
    choices (the R6 reply basis for the contact points given is derived by the domain).
    `health_fields_asked` says the channel asked up front for the sensitive-health consent (the
    web form does), so health fields are kept only with it (R8). `request_digest` fingerprints
    the request where the client chose the provider id (the API's Idempotency-Key), so the same
    id with other content is refused instead of answered as a replay.
    """

    channel: Channel
    provider_id: str
    received_at: datetime
    contacts: tuple[ContactValue, ...]
    name: str | None = None
    subject: str | None = None
    body: str | None = None
    profile: Profile = field(default_factory=Profile)
    reply_channel: str | None = None
    consents: tuple[ConsentChoice, ...] = ()
    guardian: Guardian | None = None
    attachments: tuple[InboundAttachment, ...] = ()
    health_fields_asked: bool = False
    consent_method: ConsentMethod = ConsentMethod.INBOUND_MESSAGE
    source_ip: str | None = None
    thread_consultation_id: int | None = None
    request_digest: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None:
            raise ValueError("Inquiry.received_at must be timezone-aware")
        if not self.provider_id:
            raise ValueError("Inquiry.provider_id is required for idempotency")


@dataclass(frozen=True)
class Receipt:
    """What `receive` answers: the same for the first delivery of an event and any replay."""

    consultation_id: int
    person_id: int
    message_id: int
    created: bool  # False when this event had been received before
    new_consultation: bool = False
    status: str = ""  # the consultation's status after receiving
