"""Outbound email over real SMTP (`SMTP_HOST` set; without it the development sink sends).

Owns building the message (`build_message`, pure, no I/O) and the SMTP conversation with the
classification of what went wrong, which the delivery job turns into a status:

- `TransientSendError` (the delivery is queued again and retried): connection refused; a
  timeout or disconnect before the whole message was sent; any 4xx; login refused.
- `PermanentSendError` (failed): a 5xx to MAIL FROM, RCPT TO, DATA or the message.
- `UnknownOutcomeError` (stays `sending` for reconciliation, never resent blindly): a timeout
  or disconnect after the message and its final dot were sent, before the server's answer.

The DATA phase is driven step by step (DATA, 354, content, final reply) rather than through
`smtplib.SMTP.sendmail`, because only then can "the server may have taken it" be told apart from
"it cannot have". The Message-ID is the delivery's provider id, so a reply's In-Reply-To and a
bounce's original headers find the delivery again.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, make_msgid, parseaddr
from html import escape
from typing import Any

from channels.base import (
    Outgoing,
    PermanentSendError,
    SendResult,
    TransientSendError,
    UnknownOutcomeError,
)
from config import Settings
from intake.redaction import mask_log_text

DEFAULT_SUBJECT = "상담 안내 / Your consultation"
_LEADING_DOT = re.compile(rb"(?m)^\.")


def _header(headers: Mapping[str, Any], *names: str) -> Any:
    """The first of `names` present in `headers` (both `in_reply_to` and `In-Reply-To` work)."""
    for name in names:
        value = headers.get(name)
        if value:
            return value
    return None


def mail_domain(mail_from: str) -> str:
    """The domain of MAIL_FROM's address (the right-hand side of our Message-IDs)."""
    address = parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or "localhost"


def new_message_id(delivery_id: int, mail_from: str) -> str:
    return make_msgid(idstring=f"delivery-{delivery_id}", domain=mail_domain(mail_from))


def html_body(text: str) -> str:
    """The plain text as HTML: escaped, blank lines make paragraphs, single newlines breaks."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()) if p]
    inner = "\n".join(
        "<p>" + "<br>\n".join(escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs)
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
            f"<body>\n{inner}\n</body></html>\n")


def build_message(message: Outgoing, *, mail_from: str, message_id: str,
                  date: datetime | None = None,
                  default_subject: str = DEFAULT_SUBJECT) -> EmailMessage:
    """The RFC 5322 message for `message`: plain text with an HTML alternative."""
    headers = message.headers
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = message.recipient
    msg["Subject"] = message.subject or default_subject
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = message_id
    in_reply_to = _header(headers, "in_reply_to", "In-Reply-To")
    references = _header(headers, "references", "References")
    if isinstance(references, (list, tuple)):
        references = " ".join(str(r) for r in references)
    if in_reply_to:
        msg["In-Reply-To"] = str(in_reply_to)
        # RFC 5322 3.6.4: without the parent's References, the parent's id starts the chain.
        references = references or str(in_reply_to)
    if references:
        msg["References"] = str(references)
    reply_to = _header(headers, "reply_to", "Reply-To")
    if reply_to:
        msg["Reply-To"] = str(reply_to)
    if _header(headers, "auto"):
        # RFC 3834: an automatic message; well-behaved auto-responders do not answer it.
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"  # the same for Exchange/Outlook
    msg.set_content(message.body, subtype="plain", charset="utf-8")
    msg.add_alternative(html_body(message.body), subtype="html", charset="utf-8")
    return msg


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    # Servers echo addresses in their replies; the reason is shown and logged.
    return mask_log_text(" ".join(text.split()))[:300]


def _refused(step: str, code: int, reply: bytes | str) -> Exception:
    text = f"{step} refused: {code} {_reply_text(reply)}"
    return PermanentSendError(text) if 500 <= code < 600 else TransientSendError(text)


class SmtpSender:
    """The email sender for a real SMTP relay (STARTTLS and login when configured)."""

    channel = "email"

    def __init__(self, settings: Settings,
                 reply_to: Callable[[int], str | None] | None = None) -> None:
        # `reply_to(delivery_id)` answers the consultation's `consult+TOKEN@` address, so a
        # reply threads back even when the patient's client drops In-Reply-To.
        self.reply_to = reply_to
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.timeout = settings.smtp_timeout
        self.starttls = settings.smtp_starttls
        self.username = settings.smtp_username
        self.password = settings.smtp_password
        self.mail_from = settings.mail_from

    def send(self, message: Outgoing) -> SendResult:
        message_id = new_message_id(message.delivery_id, self.mail_from)
        if self.reply_to is not None and not _header(message.headers, "reply_to", "Reply-To"):
            address = self.reply_to(message.delivery_id)
            if address:
                message = replace(message, headers={**message.headers, "reply_to": address})
        msg = build_message(message, mail_from=self.mail_from, message_id=message_id)
        envelope_from = parseaddr(self.mail_from)[1]
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientSendError(f"SMTP server {self.host}:{self.port} unreachable: "
                                     f"{type(exc).__name__}: {exc}") from exc
        try:
            self._converse(smtp, msg, envelope_from, message.recipient)
        finally:
            smtp.close()
        return SendResult(provider_id=message_id, status="sent")

    def _converse(self, smtp: smtplib.SMTP, msg: EmailMessage, envelope_from: str,
                  recipient: str) -> None:
        content_sent = False
        try:
            smtp.ehlo_or_helo_if_needed()
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password)
            utf8 = not (envelope_from.isascii() and recipient.isascii())
            if utf8 and not smtp.has_extn("smtputf8"):
                raise PermanentSendError("the address needs SMTPUTF8, which the server lacks")
            options = ["SMTPUTF8", "BODY=8BITMIME"] if utf8 else []
            code, reply = smtp.mail(envelope_from, options)
            if code != 250:
                raise _refused("sender", code, reply)
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                raise _refused("recipient", code, reply)
            code, reply = smtp.docmd("DATA")
            if code != 354:
                raise _refused("data", code, reply)
            payload = msg.as_bytes(policy=SMTPUTF8 if utf8 else SMTP)
            payload = _LEADING_DOT.sub(b"..", payload)
            if not payload.endswith(b"\r\n"):
                payload += b"\r\n"
            smtp.send(payload + b".\r\n")
            # The whole message and its final dot are out: from here on the server may have
            # taken it, so a lost answer means "unknown", never a blind resend.
            content_sent = True
            code, reply = smtp.getreply()
            if code != 250:
                raise _refused("message", code, reply)
        except (PermanentSendError, TransientSendError):
            raise
        except smtplib.SMTPAuthenticationError as exc:
            # A configuration problem, not the recipient's: retried while an operator fixes it.
            raise TransientSendError(f"SMTP login refused: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            raise TransientSendError(
                f"SMTP error {exc.smtp_code}: {_reply_text(exc.smtp_error)}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            detail = f"{type(exc).__name__}: {_reply_text(str(exc))}"
            if content_sent:
                raise UnknownOutcomeError(f"connection lost after the message was sent "
                                          f"({detail})") from exc
            raise TransientSendError(f"SMTP conversation failed ({detail})") from exc
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass  # the message was accepted; a rude goodbye changes nothing


__all__ = ["SmtpSender", "build_message", "html_body", "new_message_id"]
