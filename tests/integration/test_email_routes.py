"""Inbound email and fax-to-email through the real webhook routes, with real MIME messages.

Every message is built as bytes (per charset, HTML-only, auto-reply, bounce, fax PDF/TIFF) or
read from ../shared/fixtures/channels/, posted to a route, and replayed to prove idempotency.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import random
import smtplib
import socket
import struct
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from pypdf import PdfWriter
from sqlalchemy import func, select

from channels.email.threading import reply_address
from intake.hub import Hub
from intake.models import Attachment, Consultation, ContactPoint, Delivery, Message
from intake.services.deliveries import schedule_delivery
from intake.vocab import Channel
from tests.conftest import FIXTURES
from tests.factories import inquiry, received
from tests.unit.test_email_parsing import BROKEN_HEADERS
from workers.context import set_hub
from workers.runner import run_worker

SECRET = "inbound-test-secret"
SIGNING = json.loads((FIXTURES / "signature_vectors.json").read_text())["mailgun"]
RAW_HEADERS = {"X-Intake-Secret": SECRET, "Content-Type": "message/rfc822"}


@pytest.fixture(autouse=True)
def email_settings(hub: Hub) -> Iterator[None]:
    original = hub.settings
    hub.settings = dataclasses.replace(
        original, inbound_email_secret=SECRET, mailgun_signing_key=SIGNING["webhook_signing_key"],
        fax_gateway_senders=("@fax.example.com",))
    try:
        yield
    finally:
        hub.settings = original


def post_raw(client: Any, raw: bytes, **headers: str) -> Any:
    return client.post("/webhooks/email/raw", data=raw, headers={**RAW_HEADERS, **headers})


def count(hub: Hub, model: Any, *where: Any) -> int:
    with hub.db.begin() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def message_by(hub: Hub, provider_id: str) -> dict[str, Any]:
    with hub.db.begin() as session:
        m = session.scalars(select(Message).where(Message.provider_id == provider_id)).one()
        c = session.get(Consultation, m.consultation_id)
        assert c is not None
        return {"id": m.id, "channel": m.channel, "body": m.body, "subject": m.subject,
                "redactions": list(m.redactions), "consultation_id": c.id,
                "person_id": c.person_id, "needs_health_consent": c.needs_health_consent,
                "contact": (m.contact_point.kind, m.contact_point.value,
                            m.contact_point.person_id) if m.contact_point else None,
                "attachments": [(a.filename, a.content_type, a.size, a.pages, a.storage_key)
                                for a in m.attachments],
                "deliveries": session.scalar(select(func.count()).select_from(Delivery).where(
                    Delivery.consultation_id == c.id))}


def drain(hub: Hub) -> None:
    """The real relay and an RQ burst worker: runs the `email.count_pages` outbox jobs."""
    try:
        run_worker(hub, burst=True)
    finally:
        set_hub(None)


def mail(body: str = "상담 문의드립니다.", *, sender: str = "지수 <jisu@example.net>",
         subject: str = "코 상담", message_id: str = "<m1@example.net>",
         **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "consult@clinic.example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = "Tue, 24 Nov 2026 10:05:41 +0900"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def charset_mail(text: str, label: str, codec: str, message_id: str) -> bytes:
    words = "상담" if codec == "iso2022_kr" else "상담 똠"
    subject = "=?" + label + "?B?" + base64.b64encode(words.encode(codec)).decode() + "?="
    head = (f"From: sender@example.net\r\nTo: consult@clinic.example.com\r\n"
            f"Subject: {subject}\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset={label}\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n")
    return head.encode("ascii") + text.encode(codec) + b"\r\n"


def pdf_bytes(pages: int) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def tiff_bytes(pages: int) -> bytes:
    """A little-endian TIFF with `pages` IFDs of 1x1 bilevel images (a fax's usual format)."""
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for page in range(pages):
        start = len(out)
        entries = [(256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 1), (259, 3, 1, 1),
                   (262, 3, 1, 0), (273, 4, 1, 0), (278, 3, 1, 1), (279, 4, 1, 1)]
        ifd_size = 2 + len(entries) * 12 + 4
        data_offset = start + ifd_size
        out += struct.pack("<H", len(entries))
        for tag, kind, n, value in entries:
            out += struct.pack("<HHII", tag, kind, n, data_offset if tag == 273 else value)
        next_ifd = data_offset + 1 if page < pages - 1 else 0
        out += struct.pack("<I", next_ifd) + b"\x00"
    return bytes(out)


def fax_mail(document: bytes, filename: str, subtype: str, *, message_id: str,
             subject: str = "eFax from Seoul Referral Clinic - 3 pages, Caller-ID: 02-555-0142",
             sender: str = "message@inbound.efax.example.net") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "consult@clinic.example.com"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg.set_content("You have received a fax. Caller-ID: 02-555-0142")
    maintype, _, sub = subtype.partition("/")
    msg.add_attachment(document, maintype=maintype, subtype=sub, filename=filename)
    return msg.as_bytes()


# --- the raw route: secret first ---------------------------------------------------------

def test_raw_missing_secret_is_401_and_stores_nothing(client, hub):
    raw = mail(message_id="<nosecret@example.net>")
    response = client.post("/webhooks/email/raw", data=raw,
                           headers={"Content-Type": "message/rfc822"})
    assert response.status_code == 401
    assert post_raw(client, raw, **{"X-Intake-Secret": "wrong"}).status_code == 403
    assert count(hub, Message) == 0 and count(hub, Consultation) == 0


def test_raw_plain_fixture_stored_once_on_replay(client, hub):
    raw = (FIXTURES / "email_plain.eml").read_bytes()
    first = post_raw(client, raw)
    assert first.status_code == 200, first.json
    assert first.json["status"] == "stored"
    second = post_raw(client, raw, **{"Content-Type": "application/octet-stream"})
    assert second.status_code == 200 and second.json["status"] == "duplicate"
    assert second.json["message_id"] == first.json["message_id"]
    stored = message_by(hub, "<9d2f6b1c-43a7-4e0b-8c5d-7a1e3f9b2c60@mail.example.org>")
    assert stored["subject"] == "Re: 리프팅 상담 문의드립니다"
    assert "평일 저녁 7시" in stored["body"]
    assert stored["contact"][:2] == ("email", "haneul.jung@example.org")
    assert count(hub, Message) == 1


def test_raw_rejects_wrong_content_type_and_garbage(client, hub):
    assert post_raw(client, b"x", **{"Content-Type": "application/json"}).status_code == 415
    assert post_raw(client, b"\r\n\r\n").status_code == 400
    assert count(hub, Message) == 0


def test_rrn_masked_and_health_text_flags_consultation_R8_R9(client, hub):
    raw = mail("코 수술 후 부기가 심해요. 주민번호 900101-1234567 입니다.",
               message_id="<r8r9@example.net>")
    assert post_raw(client, raw).status_code == 200
    stored = message_by(hub, "<r8r9@example.net>")
    assert "1234567" not in stored["body"]
    assert stored["needs_health_consent"] is True


@pytest.mark.parametrize(("label", "codec", "text"), [
    ("utf-8", "utf-8", "안녕하세요 똠방각하 상담 원합니다"),
    ("euc-kr", "cp949", "안녕하세요 똠방각하 상담 원합니다"),
    ("ks_c_5601-1987", "cp949", "안녕하세요 똠방각하 상담 원합니다"),
    ("cp949", "cp949", "안녕하세요 똠방각하 상담 원합니다"),
    ("iso-2022-kr", "iso2022_kr", "안녕하세요 상담 원합니다"),
])
def test_korean_charsets_and_encoded_word_subjects(client, hub, label, codec, text):
    """ks_c_5601-1987 and euc-kr decode as CP949 (똠 is outside plain EUC-KR)."""
    message_id = f"<charset-{label}@example.net>"
    raw = charset_mail(text, label, codec, message_id)
    assert post_raw(client, raw).status_code == 200
    assert post_raw(client, raw).json["status"] == "duplicate"
    stored = message_by(hub, message_id)
    assert stored["body"] == text
    assert stored["subject"].startswith("상담")
    if codec == "cp949":
        assert stored["subject"] == "상담 똠"


def test_html_only_mail_is_sanitised_to_text(client, hub):
    msg = EmailMessage()
    msg["From"] = "html@example.net"
    msg["To"] = "consult@clinic.example.com"
    msg["Subject"] = "html"
    msg["Message-ID"] = "<html-only@example.net>"
    msg.set_content("<div>눈 상담<br>원해요 &amp; 감사</div><script>alert(1)</script>"
                    "<blockquote>이전 메일</blockquote>", subtype="html")
    assert post_raw(client, msg.as_bytes()).status_code == 200
    body = message_by(hub, "<html-only@example.net>")["body"]
    assert "눈 상담\n원해요 & 감사" in body
    assert "<" not in body and "alert" not in body and "이전 메일" not in body


def test_quoted_reply_and_signature_trimmed(client, hub):
    raw = mail("토요일 11시 가능할까요?\n\n-- \n김지수\n\n"
               "On Mon, Nov 23, 2026 Clinic wrote:\n> 예약이 확인되었습니다.",
               message_id="<trim@example.net>")
    assert post_raw(client, raw).status_code == 200
    assert message_by(hub, "<trim@example.net>")["body"] == "토요일 11시 가능할까요?"


@pytest.mark.parametrize("headers", [
    {"Auto-Submitted": "auto-replied"},
    {"Precedence": "bulk"},
    {"Precedence": "auto_reply"},
    {"X-Autoreply": "yes"},
    {"X-Autorespond": "Out of office"},
])
def test_auto_replies_open_nothing_and_are_not_acknowledged(client, hub, headers):
    raw = mail("부재중입니다.", message_id="<ooo@example.net>", **headers)
    for _ in range(2):
        response = post_raw(client, raw)
        assert response.status_code == 200 and response.json["status"] == "automatic"
    assert count(hub, Message) == 0 and count(hub, Delivery) == 0


def _sent_delivery(hub: Hub, provider_id: str) -> int:
    receipt = received(hub, inquiry(Channel.EMAIL, phone=None, email="patient@example.net"))
    with hub.db.begin() as session:
        delivery = session.get_one(Delivery, schedule_delivery(
            session, person_id=receipt.person_id, consultation_id=receipt.consultation_id,
            channel="email", purpose="reply", recipient="patient@example.net", body="답변"))
        delivery.status = "sent"
        delivery.provider_id = provider_id
        session.flush()
        return delivery.id


def _bounce(original_id: str, *, headers_only: bool) -> bytes:
    folded = original_id[:40] + "\r\n " + original_id[40:]  # our long ids arrive folded
    original = (f"From: consult@clinic.example.com\r\nTo: patient@example.net\r\n"
                f"Subject: reply\r\nMessage-ID: {folded}\r\n\r\n").encode()
    part = (b"Content-Type: text/rfc822-headers\r\n\r\n" + original if headers_only
            else b"Content-Type: message/rfc822\r\n\r\n" + original + b"body\r\n")
    return (b"From: MAILER-DAEMON@mx.example.net\r\nTo: consult@clinic.example.com\r\n"
            b"Subject: Undelivered Mail Returned to Sender\r\n"
            b"Message-ID: <bounce-" + str(headers_only).encode() + b"@mx.example.net>\r\n"
            b"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
            b"--B\r\nContent-Type: text/plain\r\n\r\nUser unknown.\r\n"
            b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
            b"Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; "
            b"patient@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
            b"--B\r\n" + part + b"\r\n--B--\r\n")


@pytest.mark.parametrize("headers_only", [False, True])
def test_bounce_marks_its_delivery_failed(client, hub, headers_only):
    original_id = "<177000000000.12345.9876543210123456789@clinic.example.com>"
    delivery_id = _sent_delivery(hub, original_id)
    before = count(hub, Message)
    for _ in range(2):
        response = post_raw(client, _bounce(original_id, headers_only=headers_only))
        assert response.status_code == 200 and response.json["status"] == "bounce"
    with hub.db.begin() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None and delivery.status == "failed"
        assert [e.status for e in delivery.history].count("failed") == 1
    assert count(hub, Message) == before


# --- fax ---------------------------------------------------------------------------------

def test_fax_fixture_from_gateway_is_a_fax_with_unlinked_number(client, hub):
    raw = (FIXTURES / "fax_to_email.eml").read_bytes()
    assert post_raw(client, raw).json["channel"] == "fax"
    assert post_raw(client, raw).json["status"] == "duplicate"
    pending = message_by(hub, "<fax-20261124101512-0234567890@fax.example.com>")
    assert pending["attachments"][0][3] is None  # the page count follows from the worker
    drain(hub)
    stored = message_by(hub, "<fax-20261124101512-0234567890@fax.example.com>")
    assert stored["channel"] == "fax"
    assert stored["contact"] == ("fax", "+82234567890", None)  # unverified, never linked
    [(name, kind, size, pages, key)] = stored["attachments"]
    assert (name, kind, size, pages) == ("fax_20261124_101512_0234567890.pdf",
                                         "application/pdf", 617, 1)
    assert hub.store.get(key).startswith(b"%PDF")
    assert stored["deliveries"] == 0  # a fax is never answered by fax
    assert stored["person_id"] is not None


def test_efax_multipage_pdf_counts_pages(client, hub):
    raw = fax_mail(pdf_bytes(3), "fax.pdf", "application/octet-stream",
                   message_id="<efax-pdf@efax.example.net>")
    for _ in range(2):
        assert post_raw(client, raw).status_code == 200
    drain(hub)
    stored = message_by(hub, "<efax-pdf@efax.example.net>")
    assert stored["channel"] == "fax"
    assert stored["contact"][:2] == ("fax", "+8225550142")
    [(_name, kind, _size, pages, key)] = stored["attachments"]
    assert (kind, pages) == ("application/pdf", 3) and key  # type sniffed from content
    assert count(hub, Message) == 1


def test_fax_tiff_counts_pages(client, hub):
    raw = fax_mail(tiff_bytes(2), "fax.tif", "image/tiff", message_id="<efax-tif@x.example.net>",
                   subject="팩스 수신 - 2 페이지, Caller-ID: 031-555-0199")
    for _ in range(2):
        assert post_raw(client, raw).status_code == 200
    drain(hub)
    stored = message_by(hub, "<efax-tif@x.example.net>")
    assert stored["channel"] == "fax"
    assert stored["attachments"][0][1:4:2] == ("image/tiff", 2)
    assert stored["contact"] == ("fax", "+82315550199", None)


def test_gateway_fax_without_a_number_is_refused_clearly(client, hub):
    raw = fax_mail(pdf_bytes(1), "fax.pdf", "application/pdf", message_id="<nonum@fax.example.com>",
                   subject="Fax received", sender="gw@fax.example.com")
    raw = raw.replace(b"Caller-ID: 02-555-0142", b"Caller-ID: unknown")
    response = post_raw(client, raw)
    assert response.status_code == 422 and response.json["field"] == "from"
    assert count(hub, Message) == 0


def test_mailgun_body_mime_fax(client, hub, mailgun_now):
    form = {k: v for k, v in _mailgun_form().items()
            if k in ("timestamp", "token", "signature", "recipient", "sender")}
    form["body-mime"] = (FIXTURES / "fax_to_email.eml").read_bytes().decode()
    for _ in range(2):
        response = client.post("/webhooks/email/mailgun", data=form)
        assert response.status_code == 200 and response.json["channel"] == "fax"
    assert count(hub, Message) == 1


def test_pdf_without_fax_wording_is_an_email(client, hub):
    raw = fax_mail(pdf_bytes(1), "quote.pdf", "application/pdf", message_id="<pdf@example.net>",
                   subject="견적서", sender="patient@example.net")
    raw = raw.replace(b"You have received a fax. Caller-ID: 02-555-0142", b"see attached")
    assert post_raw(client, raw).json["channel"] == "email"
    drain(hub)
    stored = message_by(hub, "<pdf@example.net>")
    assert stored["attachments"][0][3] is None


# --- attachments and limits ----------------------------------------------------------------

def test_over_limit_attachment_refused_message_kept(client, hub):
    hub.settings = dataclasses.replace(hub.settings, attachment_max_bytes=1000)
    msg = EmailMessage()
    msg["From"] = "photos@example.net"
    msg["Subject"] = "사진"
    msg["Message-ID"] = "<big@example.net>"
    msg.set_content("사진 보냅니다")
    msg.add_attachment(b"\x89PNG\r\n\x1a\n" + b"0" * 5000, maintype="image", subtype="png",
                       filename="big.png")
    msg.add_attachment(b"\xff\xd8\xff" + b"1" * 100, maintype="application",
                       subtype="octet-stream", filename="../../small.jpg")
    assert post_raw(client, msg.as_bytes()).status_code == 200
    stored = message_by(hub, "<big@example.net>")
    assert stored["body"] == "사진 보냅니다"
    big, small = stored["attachments"]
    assert big[:3] == ("big.png", "image/png", 5008) and big[4] is None
    assert small[:2] == ("small.jpg", "image/jpeg") and small[4]
    assert any(r.startswith("attachment_refused:size_limit:big.png") for r in stored["redactions"])


def test_inline_image_kept_as_attachment(client, hub):
    msg = EmailMessage()
    msg["From"] = "inline@example.net"
    msg["Message-ID"] = "<inline@example.net>"
    msg.set_content("사진")
    msg.add_alternative('<p>사진 <img src="cid:pic1"></p>', subtype="html")
    msg.get_payload()[1].add_related(b"GIF89a....", maintype="image", subtype="gif",
                                     cid="<pic1>")
    assert post_raw(client, msg.as_bytes()).status_code == 200
    [att] = message_by(hub, "<inline@example.net>")["attachments"]
    assert att[1] == "image/gif" and att[4]


# --- threading ---------------------------------------------------------------------------

def test_reply_from_another_address_joins_thread_address_not_linked(client, hub):
    original_id = "<reply-3c9e1a.long.id.0123456789@clinic.example.com>"
    _sent_delivery(hub, original_id)
    with hub.db.begin() as session:
        delivery = session.scalars(select(Delivery).where(
            Delivery.provider_id == original_id)).one()
        consultation_id, person_id = delivery.consultation_id, delivery.person_id
    raw = mail("다른 주소로 답장합니다", sender="other@example.org",
               message_id="<threaded@example.org>", In_Reply_To=original_id)
    response = post_raw(client, raw)
    assert response.json["consultation_id"] == consultation_id
    stored = message_by(hub, "<threaded@example.org>")
    assert stored["person_id"] == person_id
    assert stored["contact"] == ("email", "other@example.org", None)
    with hub.db.begin() as session:
        linked = session.scalars(select(ContactPoint.value).where(
            ContactPoint.person_id == person_id)).all()
    assert "other@example.org" not in linked


def test_reply_address_token_threads(client, hub):
    receipt = received(hub, inquiry(Channel.EMAIL, phone=None, email="first@example.net"))
    address = reply_address(receipt.consultation_id, secret_key=hub.settings.secret_key,
                            mail_from=hub.settings.mail_from)
    raw = mail("토큰 주소로 답장", sender="first@example.net", message_id="<tok@example.net>",
               subject="완전히 새 제목")
    raw = raw.replace(b"To: consult@clinic.example.com", b"To: " + address.encode())
    assert post_raw(client, raw).json["consultation_id"] == receipt.consultation_id
    forged = raw.replace(address.encode(), address[:-14].encode() + b"0" * 16 + b"@x")
    forged = forged.replace(b"<tok@example.net>", b"<tok2@example.net>")
    response = post_raw(client, forged)
    assert response.status_code == 200  # joins by known address within the window instead


def test_new_subject_from_known_address_joins_open_consultation(client, hub):
    receipt = received(hub, inquiry(Channel.WEB, phone=None, email="known@example.net"))
    raw = mail("새 질문", sender="known@example.net", message_id="<new-subj@example.net>",
               subject="새 제목")
    assert post_raw(client, raw).json["consultation_id"] == receipt.consultation_id


def test_receive_threaded_unknown_contact_is_not_linked(hub):
    """The receive.py change: a contact first seen in a threaded inquiry stays unlinked."""
    first = received(hub, inquiry(Channel.EMAIL, phone=None, email="owner@example.net"))
    follow = inquiry(Channel.EMAIL, phone=None, email="stranger@example.net",
                     thread_consultation_id=first.consultation_id)
    second = received(hub, follow)
    assert second.consultation_id == first.consultation_id
    with hub.db.begin() as session:
        cp = session.scalars(select(ContactPoint).where(
            ContactPoint.value == "stranger@example.net")).one()
        assert cp.person_id is None
    again = received(hub, inquiry(Channel.EMAIL, phone=None, email="stranger@example.net",
                                  thread_consultation_id=first.consultation_id))
    assert again.consultation_id == first.consultation_id
    with hub.db.begin() as session:
        assert session.scalars(select(ContactPoint.person_id).where(
            ContactPoint.value == "stranger@example.net")).one() is None


# --- SendGrid ----------------------------------------------------------------------------

def _sendgrid_form() -> dict[str, Any]:
    fields = json.loads((FIXTURES / "sendgrid_inbound_fields.json").read_text())
    form = {k: v for k, v in fields.items() if not k.startswith("_")}
    form["attachment1"] = (io.BytesIO(b"\xff\xd8\xff\xe0" + b"j" * 200), "profile.jpg",
                           "image/jpeg")
    return form


def test_sendgrid_parsed_fields_with_basic_auth_and_replay(client, hub):
    auth = {"Authorization": "Basic " + base64.b64encode(f"sg:{SECRET}".encode()).decode()}
    first = client.post("/webhooks/email/sendgrid", data=_sendgrid_form(), headers=auth)
    assert first.status_code == 200, first.json
    again = client.post(f"/webhooks/email/sendgrid?secret={SECRET}", data=_sendgrid_form())
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    stored = message_by(hub, "<CAF7x2b9Qe1m@mail.example.net>")
    assert stored["subject"] == "상담 문의"
    assert stored["body"].startswith("안녕하세요. 코 재수술 상담")
    assert stored["contact"][:2] == ("email", "minkyung.lee@example.net")
    assert stored["attachments"][0][:2] == ("profile.jpg", "image/jpeg")


def test_sendgrid_raw_email_field(client, hub):
    raw = (FIXTURES / "email_plain.eml").read_bytes().decode()
    response = client.post(f"/webhooks/email/sendgrid?secret={SECRET}", data={"email": raw})
    assert response.status_code == 200 and response.json["status"] == "stored"


def test_sendgrid_raw_email_field_keeps_8bit_euc_kr_bytes(client, hub):
    raw = charset_mail("안녕하세요 똠 상담", "euc-kr", "cp949", "<sg-8bit@example.net>")
    response = client.post(f"/webhooks/email/sendgrid?secret={SECRET}",
                           data={"email": (io.BytesIO(raw), "")},
                           content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    assert message_by(hub, "<sg-8bit@example.net>")["body"] == "안녕하세요 똠 상담"


def test_sendgrid_parsed_text_in_its_declared_charset(client, hub):
    boundary = "xYzZY"
    parts = {
        "headers": b"From: a@example.net\nSubject: hi\nMessage-ID: <sg-cs@example.net>\n",
        "text": "똠 상담 원해요".encode("cp949"),
        "charsets": b'{"text": "ks_c_5601-1987", "subject": "UTF-8"}',
        "from": b"a@example.net",
    }
    body = b"".join(
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n".encode()
        + v + b"\r\n" for k, v in parts.items()) + f"--{boundary}--\r\n".encode()
    response = client.post(f"/webhooks/email/sendgrid?secret={SECRET}", data=body,
                           content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 200, response.json
    assert message_by(hub, "<sg-cs@example.net>")["body"] == "똠 상담 원해요"


def test_sendgrid_missing_or_wrong_secret_stores_nothing(client, hub):
    assert client.post("/webhooks/email/sendgrid", data=_sendgrid_form()).status_code == 401
    response = client.post("/webhooks/email/sendgrid?secret=nope", data=_sendgrid_form())
    assert response.status_code == 403
    assert count(hub, Message) == 0


# --- Mailgun -----------------------------------------------------------------------------

def _mailgun_form() -> dict[str, str]:
    fields = json.loads((FIXTURES / "mailgun_inbound_fields.json").read_text())
    return {k: v for k, v in fields.items() if not k.startswith("_")}


@pytest.fixture
def mailgun_now(monkeypatch: pytest.MonkeyPatch) -> None:
    now = int(SIGNING["timestamp"]) + 60
    monkeypatch.setattr("channels.email.routes.time.time", lambda: float(now))


def test_mailgun_vector_accepted_once_and_retry_is_200(client, hub, mailgun_now):
    first = client.post("/webhooks/email/mailgun", data=_mailgun_form())
    assert first.status_code == 200, first.json
    retry = client.post("/webhooks/email/mailgun", data=_mailgun_form())
    assert retry.status_code == 200 and retry.json["status"] == "duplicate"
    stored = message_by(hub, "<20261124113102.7f3a@mail.example.net>")
    assert stored["body"] == "토요일 11시로 변경 가능할까요?"  # the quote is trimmed


def test_mailgun_reused_token_on_other_message_is_406(client, hub, mailgun_now):
    assert client.post("/webhooks/email/mailgun", data=_mailgun_form()).status_code == 200
    other = _mailgun_form()
    other["message-headers"] = other["message-headers"].replace("7f3a@", "9999@")
    response = client.post("/webhooks/email/mailgun", data=other)
    assert response.status_code == 406
    assert count(hub, Message) == 1


def test_mailgun_bad_signature_and_stale_timestamp_are_406(client, hub, monkeypatch):
    bad = {**_mailgun_form(), "signature": "0" * 64}
    monkeypatch.setattr("channels.email.routes.time.time",
                        lambda: float(int(SIGNING["timestamp"]) + 60))
    assert client.post("/webhooks/email/mailgun", data=bad).status_code == 406
    monkeypatch.setattr("channels.email.routes.time.time",
                        lambda: float(int(SIGNING["timestamp"]) + 16 * 60))
    assert client.post("/webhooks/email/mailgun", data=_mailgun_form()).status_code == 406
    assert count(hub, Message) == 0
    assert time.time() > 0


# --- through a real local SMTP server ------------------------------------------------------

class _Pipe:
    """An MTA's delivery pipe: every message the SMTP server takes goes to the raw route."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.answers: list[int] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        response = post_raw(self.client, envelope.original_content)
        self.answers.append(response.status_code)
        return "250 OK" if response.status_code == 200 else "451 try again"


def test_smtp_delivery_through_local_server_is_stored_once(client, hub):
    pipe = _Pipe(client)
    with socket.socket() as probe:  # a free port: aiosmtpd's start() dials the port it gets
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(pipe, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        raw = charset_mail("안녕하세요 똠 상담", "ks_c_5601-1987", "cp949", "<smtp@example.net>")
        for _ in range(2):
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                smtp.sendmail("sender@example.net", ["consult@clinic.example.com"], raw)
    finally:
        controller.stop()
    assert pipe.answers == [200, 200]
    assert message_by(hub, "<smtp@example.net>")["body"] == "안녕하세요 똠 상담"
    assert count(hub, Message, Message.provider_id == "<smtp@example.net>") == 1
    assert count(hub, Attachment) == 0


def test_nul_characters_in_a_mail_are_dropped_not_a_500(client, hub):
    """PostgreSQL cannot store NUL in text; a broken mail client's NUL in the body or subject
    must not turn the message into a 500 that the provider retries forever (it is lost)."""
    raw = mail("코 상담\x00 문의드립니다.", subject="코\x00 상담", message_id="<nul@example.net>")
    response = post_raw(client, raw)
    assert response.status_code == 200, response.data
    stored = message_by(hub, "<nul@example.net>")
    assert stored["body"] == "코 상담 문의드립니다." and stored["subject"] == "코 상담"


def test_a_mail_with_broken_headers_is_stored_not_a_500(client, hub):
    """Bad base64 in the subject, raw 8-bit bytes and NUL in headers and the charset label: the
    raw route stores the message (before, each of these answered 500 and the provider retried
    a message that could never be stored)."""
    response = post_raw(client, BROKEN_HEADERS)
    assert response.status_code == 200, response.data
    assert response.get_json()["status"] == "stored"
    assert count(hub, Message) == 1


def test_mutated_mails_get_an_answer_never_a_500(client, hub):
    """Seeded fuzzing of the raw route: 150 copies of the fixture mail with random bytes
    changed. Each is stored, recognised as a duplicate or refused with a 4xx; a 500 would
    make the provider retry a message that can never be stored."""
    rng = random.Random(20261125)
    original = (FIXTURES / "email_plain.eml").read_bytes()
    answers = set()
    for _ in range(150):
        mutated = bytearray(original)
        for _ in range(rng.randint(1, 20)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        response = post_raw(client, bytes(mutated))
        assert response.status_code < 500, (response.status_code, bytes(mutated)[:400])
        answers.add(response.status_code)
    assert 200 in answers


@pytest.mark.parametrize("headers", ["-1", "{}", "[1, 2]", '"text"'])
def test_mailgun_message_headers_of_another_shape_are_not_a_500(client, hub, mailgun_now,
                                                                 headers):
    """`message-headers` is JSON we did not write: valid JSON of another shape counts as no
    headers (found by fuzzing: a number answered 500). The message is still answered."""
    form = {**_mailgun_form(), "message-headers": headers}
    response = client.post("/webhooks/email/mailgun", data=form)
    assert response.status_code < 500, response.data
