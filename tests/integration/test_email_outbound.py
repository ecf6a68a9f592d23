"""The outbound/inbound round trip over a real local SMTP server (aiosmtpd): our mail carries a
`Reply-To: consult+TOKEN@…`, and the patient's answer to it, or the bounce it provokes, comes
back through the raw route into the same consultation / onto the same delivery."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from channels.base import Outgoing
from channels.email import reply_address_resolver
from channels.email.smtp import SmtpSender
from channels.email.threading import reply_address
from intake.hub import Hub
from intake.models import Delivery
from intake.vocab import Channel
from tests.factories import inquiry, received

SECRET = "outbound-test-secret"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope.original_content)
        return "250 OK"


@pytest.fixture
def smtp_sender(hub: Hub) -> Iterator[tuple[SmtpSender, Mailbox]]:
    original = hub.settings
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hub.settings = dataclasses.replace(original, inbound_email_secret=SECRET,
                                       smtp_host="127.0.0.1", smtp_port=port)
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpSender(hub.settings, reply_to=reply_address_resolver(hub)), mailbox
    finally:
        controller.stop()
        hub.settings = original


def _send_acknowledgement(hub: Hub, sender: SmtpSender) -> tuple[int, int, str]:
    """What the deliver job does for the acknowledgement: send, then keep the Message-ID."""
    receipt = received(hub, inquiry(Channel.EMAIL, phone=None, email="patient@example.net"))
    with hub.db.begin() as session:
        delivery = session.scalars(select(Delivery).where(
            Delivery.consultation_id == receipt.consultation_id)).one()
        outgoing = Outgoing(delivery_id=delivery.id, channel="email",
                            recipient=delivery.recipient, body=delivery.body,
                            subject=delivery.subject, headers=dict(delivery.headers or {}))
    result = sender.send(outgoing)
    with hub.db.begin() as session:
        delivery = session.get(Delivery, outgoing.delivery_id)
        assert delivery is not None
        delivery.status, delivery.provider_id = "sent", result.provider_id
    assert result.provider_id
    return receipt.consultation_id, outgoing.delivery_id, result.provider_id


def test_outbound_mail_has_reply_to_and_the_reply_threads_back(client, hub, smtp_sender):
    sender, mailbox = smtp_sender
    consultation_id, _delivery_id, message_id = _send_acknowledgement(hub, sender)
    [raw] = mailbox.messages
    sent = message_from_bytes(raw, policy=policy.default)
    expected = reply_address(consultation_id, secret_key=hub.settings.secret_key,
                             mail_from=hub.settings.mail_from)
    assert sent["Reply-To"] == expected
    assert str(sent["Message-ID"]).strip() == message_id  # folded: ours are long
    answer = EmailMessage()
    answer["From"] = "Someone Else <someone.else@example.org>"
    answer["To"] = sent["Reply-To"]
    answer["Subject"] = "Re: " + str(sent["Subject"])
    answer["Message-ID"] = "<answer-1@example.org>"
    answer.set_content("답장입니다")  # no In-Reply-To: the reply address alone threads it
    response = client.post("/webhooks/email/raw", data=answer.as_bytes(),
                           headers={"X-Intake-Secret": SECRET, "Content-Type": "message/rfc822"})
    assert response.status_code == 200
    assert response.json["consultation_id"] == consultation_id


def test_bounce_of_a_sent_mail_fails_its_delivery(client, hub, smtp_sender):
    sender, mailbox = smtp_sender
    _consultation_id, delivery_id, message_id = _send_acknowledgement(hub, sender)
    [raw] = mailbox.messages
    headers = raw.split(b"\r\n\r\n", 1)[0]
    bounce = (b"From: MAILER-DAEMON@mx.example.net\r\nTo: consult@clinic.example.com\r\n"
              b"Subject: Delivery Status Notification (Failure)\r\n"
              b"Message-ID: <dsn-1@mx.example.net>\r\nMIME-Version: 1.0\r\n"
              b'Content-Type: multipart/report; report-type=delivery-status; boundary="Z"\r\n'
              b"\r\n--Z\r\nContent-Type: text/plain\r\n\r\nNo such user.\r\n"
              b"--Z\r\nContent-Type: text/rfc822-headers\r\n\r\n" + headers +
              b"\r\n--Z--\r\n")
    for _ in range(2):
        response = client.post("/webhooks/email/raw", data=bounce, headers={
            "X-Intake-Secret": SECRET, "Content-Type": "message/rfc822"})
        assert response.json["status"] == "bounce"
    with hub.db.begin() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None and delivery.status == "failed"
        assert delivery.provider_id == message_id
