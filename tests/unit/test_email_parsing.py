"""Pure parts of the email channel: charsets, headers, trimming, sniffing, fax rules, tokens."""

from __future__ import annotations

import json
import struct

import pytest

from channels.email import fax
from channels.email.parsing import (
    ParsedAttachment,
    codec_for,
    decode_bytes,
    decode_header_value,
    html_to_text,
    message_ids,
    parse_bytes,
    safe_filename,
    sniff,
    trim_reply,
)
from channels.email.routes import mailgun_signature_valid
from channels.email.threading import consultation_from_addresses, reply_address
from tests.conftest import FIXTURES


def test_korean_labels_decode_as_cp949():
    """The contract: ks_c_5601-1987 and euc-kr mean CP949 (똠 is only in CP949)."""
    data = "똠방각하".encode("cp949")
    assert codec_for("ks_c_5601-1987") == codec_for("EUC-KR") == "cp949"
    assert decode_bytes(data, "ks_c_5601-1987") == "똠방각하"
    assert decode_bytes(data, "euc-kr") == "똠방각하"
    assert decode_bytes("상담".encode("iso2022_kr"), "ISO-2022-KR") == "상담"
    assert decode_bytes(b"abc", "x-no-such-charset") == "abc"


def test_encoded_word_header_in_cp949():
    import base64
    word = base64.b64encode("똠 상담".encode("cp949")).decode()
    assert decode_header_value(f"=?ks_c_5601-1987?B?{word}?=") == "똠 상담"


def test_folded_message_ids_are_joined():
    folded = "<177000000000.12345.98765432101234\r\n 56789@clinic.example.com>"
    assert message_ids(folded) == ("<177000000000.12345.9876543210123456789@clinic.example.com>",)
    assert message_ids("<a@x> <b@y>\r\n <a@x>") == ("<a@x>", "<b@y>")


@pytest.mark.parametrize(("content", "declared", "expected"), [
    (b"%PDF-1.7 ...", "application/octet-stream", "application/pdf"),
    (b"II*\x00....", "application/pdf", "image/tiff"),
    (b"MM\x00*....", None, "image/tiff"),
    (b"\xff\xd8\xff\xe0", "image/png", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", None, "image/png"),
    (b"GIF89a", None, "image/gif"),
    (b"plain words", "text/csv", "text/csv"),
])
def test_types_sniffed_from_content(content, declared, expected):
    assert sniff(content, declared) == expected


def test_trim_reply_korean_and_english_markers():
    korean = "네 좋아요\n\n2026년 11월 23일 (월) 오후 3:00, 상담실 <c@x>님이 작성:\n> 안내"
    assert trim_reply(korean) == "네 좋아요"
    assert trim_reply("Yes\n-----Original Message-----\nFrom: x") == "Yes"
    assert trim_reply("Thanks\n\nSent from my iPhone") == "Thanks"
    assert trim_reply("> only a quote") == "> only a quote"  # never empty


def test_html_to_text_strips_markup_and_scripts():
    text = html_to_text("<style>p{}</style><p>a &lt;b&gt;</p><p>c<br/>d</p><script>x</script>")
    assert text == "a <b>\n\nc\nd"


def test_safe_filename():
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\x\\.hidden\x00.pdf") == "hidden.pdf"
    assert safe_filename(None) is None


def test_fixture_fax_detection_and_number():
    parsed = parse_bytes((FIXTURES / "fax_to_email.eml").read_bytes())
    assert fax.is_fax(parsed, ("fax-noreply@fax.example.com",))
    assert fax.is_fax(parsed, ())  # PDF plus the word fax
    assert fax.sender_number(parsed) == "+82234567890"  # the caller, not the clinic's line
    assert fax.page_count(parsed.attachments[0]) == 1


def test_plain_mail_is_not_a_fax():
    parsed = parse_bytes((FIXTURES / "email_plain.eml").read_bytes())
    assert not fax.is_fax(parsed, ("@fax.example.com",))
    assert parsed.thread_ids[0] == "<consult-20261123-0042@clinic.example.com>"


def test_gateway_rules():
    assert fax.gateway_match("A@Fax.Example.com", ("@fax.example.com",))
    assert fax.gateway_match("fax@x.net", ("fax@x.net",))
    assert not fax.gateway_match("evil@notfax.example.com.evil", ("@fax.example.com",))


def _tiff(pages: int, order: str = "<") -> bytes:
    head = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", 8)
    out = bytearray(head)
    for page in range(pages):
        nxt = len(out) + 2 + 12 + 4
        out += struct.pack(order + "H", 1) + struct.pack(order + "HHII", 256, 3, 1, 1)
        out += struct.pack(order + "I", nxt if page < pages - 1 else 0)
    return bytes(out)


@pytest.mark.parametrize("order", ["<", ">"])
def test_tiff_page_count_by_ifd_chain(order):
    assert fax.tiff_pages(_tiff(4, order)) == 4
    assert fax.tiff_pages(b"II*\x00") is None
    looped = bytearray(_tiff(1, order))
    looped[-4:] = struct.pack(order + "I", 8)  # an IFD pointing at itself stops, no hang
    assert fax.tiff_pages(bytes(looped)) == 1


def test_unreadable_pdf_has_no_page_count():
    att = ParsedAttachment("x.pdf", "application/pdf", "application/pdf", b"%PDF-broken")
    assert fax.page_count(att) is None


def test_reply_address_token_round_trip():
    address = reply_address(42, secret_key="k", mail_from="Clinic <consult@clinic.example.com>")
    assert address.startswith("consult+42.") and address.endswith("@clinic.example.com")
    assert consultation_from_addresses(["x@y", address.upper()], secret_key="k") == 42
    assert consultation_from_addresses([address], secret_key="other") is None
    assert consultation_from_addresses([address.replace("+42.", "+43.")], secret_key="k") is None


def test_mailgun_signature_vector():
    vector = json.loads((FIXTURES / "signature_vectors.json").read_text())["mailgun"]
    args = (vector["webhook_signing_key"], vector["timestamp"], vector["token"])
    assert mailgun_signature_valid(*args, vector["expected_signature"])
    assert not mailgun_signature_valid(*args, "0" * 64)
    assert not mailgun_signature_valid("", vector["timestamp"], vector["token"],
                                       vector["expected_signature"])


BROKEN_HEADERS = (
    b"From: \xc1\xf6\xbc\xf6 <jisu@example.net>\r\n"       # raw EUC-KR bytes, no encoded word
    b"To: consult@clinic.example.com\r\n"
    b"Subject: =?utf-8?B?7L2UI?=\r\n"                       # base64 that cannot be decoded
    b"Message-ID: <a\x00b\xff@example.net>\r\n"               # NUL and a stray 8-bit byte
    b"Date: Tue, 24 Nov 2026 10:05:41 +0900\r\n"
    b"Content-Type: text/plain; charset=\"utf\x00-8\"\r\n"    # NUL in the charset label
    b"\r\n"
    b"\xec\xbd\x94 \xec\x83\x81\xeb\x8b\xb4 \xeb\xac\xb8\xec\x9d\x98\r\n")


def test_broken_headers_parse_into_storable_text():
    """Real mail is often broken: bad base64 in an encoded word, raw 8-bit bytes, NUL. The
    parser answers storable text (UTF-8 encodable, no control characters) instead of raising,
    so the message is kept (found by fuzzing the raw route: it answered 500 and was lost)."""
    parsed = parse_bytes(BROKEN_HEADERS)
    assert parsed.subject == "=?utf-8?B?7L2UI?="  # left as written
    assert parsed.message_id is not None and "\x00" not in parsed.message_id
    assert parsed.from_address == "jisu@example.net"
    for text in (parsed.subject, parsed.message_id, parsed.from_name or "", parsed.text):
        text.encode("utf-8")
    assert parsed.text == "코 상담 문의"
