"""The outbound email message, built without a server: headers, parts, threading, escaping."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime

from channels.base import Outgoing
from channels.email.smtp import (
    DEFAULT_SUBJECT,
    build_message,
    html_body,
    mail_domain,
    new_message_id,
)

MAIL_FROM = "서울미래성형외과 <consult@clinic.example.com>"
AT = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def outgoing(**kwargs: object) -> Outgoing:
    values: dict[str, object] = {"delivery_id": 42, "channel": "email",
                                 "recipient": "patient@example.com",
                                 "body": "안녕하세요.\n상담 신청이 접수되었습니다.\n\n감사합니다.",
                                 "subject": "[클리닉] 상담 신청 접수 안내"}
    values.update(kwargs)
    return Outgoing(**values)  # type: ignore[arg-type]


def roundtrip(msg):  # type: ignore[no-untyped-def]
    return message_from_bytes(msg.as_bytes(policy=policy.SMTP), policy=policy.default)


def test_message_id_names_the_delivery_and_the_sender_domain():
    message_id = new_message_id(42, MAIL_FROM)
    assert message_id.startswith("<") and message_id.endswith("@clinic.example.com>")
    assert "delivery-42" in message_id
    assert new_message_id(42, MAIL_FROM) != message_id  # unique per attempt
    assert mail_domain("consult@clinic.example.com") == "clinic.example.com"


def test_headers_and_both_parts():
    message_id = new_message_id(42, MAIL_FROM)
    parsed = roundtrip(build_message(outgoing(), mail_from=MAIL_FROM, message_id=message_id,
                                     date=AT))
    # A long Message-ID is folded onto its own line (RFC 5322 allows CFWS around msg-id).
    assert parsed["Message-ID"].strip() == message_id
    assert parsed["To"] == "patient@example.com"
    assert parsed["From"].addresses[0].addr_spec == "consult@clinic.example.com"
    assert parsed["From"].addresses[0].display_name == "서울미래성형외과"
    assert parsed["Subject"] == "[클리닉] 상담 신청 접수 안내"
    assert parsedate_to_datetime(parsed["Date"]) == AT
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert "상담 신청이 접수되었습니다." in plain.get_content()
    html_text = html.get_content().replace("\r\n", "\n")
    assert "<p>안녕하세요.<br>\n상담 신청이 접수되었습니다.</p>" in html_text
    assert "<p>감사합니다.</p>" in html_text
    for header in ("In-Reply-To", "References", "Reply-To", "Auto-Submitted"):
        assert parsed[header] is None


def test_default_subject_when_none_given():
    parsed = roundtrip(build_message(outgoing(subject=None), mail_from=MAIL_FROM,
                                     message_id="<x@clinic.example.com>"))
    assert parsed["Subject"] == DEFAULT_SUBJECT


def test_acknowledgement_is_marked_auto_submitted():
    """RFC 3834: auto-responders must not answer our automatic acknowledgement."""
    parsed = roundtrip(build_message(outgoing(headers={"auto": True}), mail_from=MAIL_FROM,
                                     message_id="<x@clinic.example.com>"))
    assert parsed["Auto-Submitted"] == "auto-generated"


def test_reply_threads_on_the_patient_message():
    headers = {"in_reply_to": "<abc@mail.example.com>", "reply_to": "desk@clinic.example.com"}
    parsed = roundtrip(build_message(outgoing(headers=headers), mail_from=MAIL_FROM,
                                     message_id="<x@clinic.example.com>"))
    assert parsed["In-Reply-To"] == "<abc@mail.example.com>"
    assert parsed["References"] == "<abc@mail.example.com>"
    assert parsed["Reply-To"] == "desk@clinic.example.com"


def test_references_chain_kept_as_given():
    headers = {"In-Reply-To": "<b@x.example>", "References": ["<a@x.example>", "<b@x.example>"]}
    parsed = roundtrip(build_message(outgoing(headers=headers), mail_from=MAIL_FROM,
                                     message_id="<x@clinic.example.com>"))
    assert parsed["References"] == "<a@x.example> <b@x.example>"


def test_html_alternative_escapes_the_text():
    html = html_body('<script>alert("x")</script> & 5 < 6')
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; 5 &lt; 6" in html
