"""Factories for tests: staff with tokens, inquiries received through the real domain service."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from intake.hub import Hub
from intake.inquiry import ConsentChoice, ContactValue, Inquiry, Profile, Receipt
from intake.services.receive import receive
from intake.services.staff import create_staff, create_token
from intake.vocab import Channel, ConsentAction, ConsentMethod, ConsentPurpose

_seq = itertools.count(1)
# Wednesday 2026-11-25 11:00 in Seoul: the clinic is open.
OPEN_TIME = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def make_staff(hub: Hub, role: str, email: str | None = None) -> tuple[int, str]:
    """A staff user of `role` and a bearer token for them."""
    email = email or f"{role}{next(_seq)}@clinic.example.com"
    with hub.db.begin() as session:
        staff = create_staff(session, email, role, password="correct horse battery",
                             name=f"{role} user")
        token = create_token(session, email)
        return staff.id, token


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def inquiry(channel: Channel = Channel.WEB, *, phone: str | None = "010-1234-5678",
            email: str | None = None, kakao: str | None = None, fax: str | None = None,
            name: str | None = "김민수", body: str | None = "문의",
            provider_id: str | None = None, at: datetime = OPEN_TIME,
            reply_channel: str | None = None, health_consent: bool = False,
            marketing: tuple[str, ...] = (), interests: tuple[str, ...] = (),
            **kwargs: Any) -> Inquiry:
    contacts = []
    if phone:
        contacts.append(ContactValue("phone", phone))
    if email:
        contacts.append(ContactValue("email", email))
    if kakao:
        contacts.append(ContactValue("kakao", kakao))
    if fax:
        contacts.append(ContactValue("fax", fax))
    consents = []
    evidence = {"notice_version": "test", "notice_sha256": "0" * 64}
    if health_consent:
        consents.append(ConsentChoice(ConsentPurpose.SENSITIVE_HEALTH, ConsentAction.GRANT,
                                      ConsentMethod.WEB_FORM, evidence=evidence))
    for ch in marketing:
        consents.append(ConsentChoice(ConsentPurpose.MARKETING, ConsentAction.GRANT,
                                      ConsentMethod.WEB_FORM, channel=ch, evidence=evidence))
    return Inquiry(channel=channel, provider_id=provider_id or f"test-{next(_seq)}",
                   received_at=at, contacts=tuple(contacts), name=name, body=body,
                   reply_channel=reply_channel, consents=tuple(consents),
                   profile=Profile(interests=interests), **kwargs)


def received(hub: Hub, value: Inquiry) -> Receipt:
    with hub.db.begin() as session:
        return receive(session, value, hub.clinic)
