"""Parsing inbound mail into a `ParsedEmail`: pure, no I/O, no database.

Owns everything that makes real mail readable: the MIME walk (`email` with
`policy=email.policy.default`), charsets Korean mail still uses (UTF-8, EUC-KR, CP949,
ISO-2022-KR; the labels `ks_c_5601-1987` and `euc-kr` decode as CP949, as their senders mean
it), RFC 2047 headers, HTML-only mail sanitised to text (`nh3`), quoted replies and signatures
trimmed from the new text, attachments typed by their content, and the classification of mail
that must never open a consultation (auto-replies, bounces, delivery reports) with the original
Message-IDs a bounce answers. Called by `channels.email.inbound` for every delivery route.
"""

from __future__ import annotations

import email
import hashlib
import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import decode_header
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

import nh3

# What a label means in practice (R-none: a decoding contract from design.md "Email and fax").
CHARSET_ALIASES = {
    "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949", "ksc5601": "cp949", "ks_c_5601-1989": "cp949",
    "euc-kr": "cp949", "euc_kr": "cp949", "euckr": "cp949", "x-windows-949": "cp949",
    "windows-949": "cp949", "uhc": "cp949", "iso-2022-kr": "iso2022_kr",
    "csiso2022kr": "iso2022_kr", "unknown-8bit": "utf-8", "x-unknown": "utf-8",
}
AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_MSGID = re.compile(r"<[^<>\s]+>")
# Control characters a header may carry but no database column should (tab and newlines stay).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_QUOTE_MARKERS = (
    re.compile(r"^\s*On .{0,200}wrote:\s*$", re.I),
    re.compile(r"^\s*-{2,}\s*(Original Message|원본 메시지|원래 메시지|Forwarded message)\s*-{2,}",
               re.I),
    re.compile(r"^\s*\d{4}[년.\-/]\s*\d{1,2}[월.\-/].{0,120}(작성|wrote)\S*:?\s*$"),
    re.compile(r"^\s*(From|보낸 사람|보낸사람)\s*:\s*.+$", re.I),
    re.compile(r"^\s*>"),
)
_SIGNATURE = re.compile(r"^(-- ?|—+|Sent from my .+|.+에서 보냄)\s*$", re.I)


class UnreadableEmail(ValueError):
    """The body is not a mail message at all."""


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str | None
    declared_type: str
    content_type: str  # sniffed from the content where recognisable, else the declared one
    content: bytes
    inline: bool = False
    content_id: str | None = None

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str | None
    content_hash: str
    from_name: str | None
    from_address: str | None
    to: tuple[str, ...]
    subject: str | None
    text: str  # the new text: quoted reply and signature trimmed
    full_text: str
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    headers: dict[str, str]
    attachments: tuple[ParsedAttachment, ...] = ()
    auto_reason: str | None = None  # why this is automatic mail (never a consultation)
    bounced_ids: tuple[str, ...] = ()  # original Message-IDs a bounce or report answers
    is_report: bool = False

    @property
    def provider_id(self) -> str:
        """Idempotency key: the Message-ID, else a SHA-256 of the whole message."""
        return self.message_id or f"sha256:{self.content_hash}"

    @property
    def thread_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.in_reply_to, *self.references)))


def codec_for(charset: str | None) -> str:
    label = (charset or "utf-8").strip().strip('"').lower()
    return CHARSET_ALIASES.get(label, label)


def decode_bytes(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(codec_for(charset), "replace")
    except (LookupError, ValueError):  # an unknown or broken label: UTF-8 is the best guess
        return data.decode("utf-8", "replace")


def clean_header(value: str) -> str:
    """A header as storable text: raw 8-bit bytes (which the parser keeps as surrogates) read as
    UTF-8 with undecodable ones replaced, and control characters dropped. Broken mail must
    still be stored, not become an error the provider retries forever."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
            value = value.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("", value)


def decode_header_value(raw: str | None) -> str:
    """An RFC 2047 header decoded with our charset table (CP949 for `ks_c_5601-1987`); an
    encoded word that cannot be decoded (bad base64) leaves the header as written."""
    if not raw:
        return ""
    raw = clean_header(re.sub(r"\r?\n[ \t]", " ", str(raw)))
    try:
        chunks = decode_header(raw)
    except (HeaderParseError, ValueError):
        return raw.strip()
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            out.append(decode_bytes(chunk, charset or "utf-8"))
        else:
            out.append(chunk)
    return clean_header("".join(out)).strip()


def message_ids(raw: str | None) -> tuple[str, ...]:
    """The `<id>`s in a header, whitespace removed first: our long ids get folded."""
    if not raw:
        return ()
    found = _MSGID.findall(re.sub(r"\s+", "", str(raw)))
    if not found and str(raw).strip():
        found = ["<" + re.sub(r"\s+", "", str(raw)).strip("<>") + ">"]
    return tuple(dict.fromkeys(found))


def normalise_message_id(raw: str | None) -> str | None:
    ids = message_ids(raw)
    return ids[0] if ids else None


def sniff(content: bytes, declared: str | None) -> str:
    for magic, kind in MAGIC:
        if content.startswith(magic):
            return kind
    return (declared or "application/octet-stream").lower()


def html_to_text(markup: str) -> str:
    """Sanitised plain text from HTML: nh3 strips every tag (scripts and styles with their
    content), block ends become line breaks, entities are unescaped."""
    markup = re.sub(r"(?is)<blockquote.*?</blockquote>", "\n> (quoted)\n", markup)
    markup = re.sub(r"(?i)<br\s*/?>", "\n", markup)
    markup = re.sub(r"(?i)</?(p|div|li|tr|h[1-6]|blockquote)(\s[^>]*)?>", "\n", markup)
    text = html.unescape(nh3.clean(markup, tags=set(), strip_comments=True))
    lines = [" ".join(line.split()) for line in text.replace("\xa0", " ").splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def trim_reply(text: str) -> str:
    """The new text only: stop at the first quoted-reply marker or signature separator."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if any(p.match(line) for p in _QUOTE_MARKERS) or _SIGNATURE.match(line):
            break
        kept.append(line)
    trimmed = "\n".join(kept).strip()
    return trimmed or text.strip()


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload() or "")
    return decode_bytes(payload, part.get_content_charset())


def _auto_reason(msg: EmailMessage) -> str | None:
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return f"auto-submitted:{auto.split(';')[0]}"
    precedence = (msg.get("Precedence") or "").strip().lower()
    if precedence in AUTO_PRECEDENCE:
        return f"precedence:{precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress-Reply"):
        if msg.get(name) is not None:
            return name.lower()
    if msg.get_content_type() == "multipart/report":
        return "report"
    return None


def _report_ids(msg: EmailMessage) -> tuple[str, ...]:
    """Original Message-IDs in a report's message/rfc822 or text/rfc822-headers part."""
    ids: list[str] = []
    for part in msg.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                raw = dict(inner.raw_items()).get("Message-ID") or \
                    next((v for k, v in inner.raw_items() if k.lower() == "message-id"), None)
                ids.extend(message_ids(raw))
        elif kind in ("text/rfc822-headers", "message/rfc822-headers",
                      "message/global-headers"):
            headers = email.message_from_string(_part_text(part) + "\n\n",
                                                policy=default_policy)
            raw = next((v for k, v in headers.raw_items() if k.lower() == "message-id"), None)
            ids.extend(message_ids(raw))
    return tuple(dict.fromkeys(ids))


def _raw_header(msg: Message, name: str) -> str | None:
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return clean_header(str(value))
    return None


def parse_bytes(raw: bytes) -> ParsedEmail:
    """Parse a whole RFC 5322 message."""
    if not raw or not raw.strip():
        raise UnreadableEmail("empty message")
    msg = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    if not any(k.lower() in ("from", "message-id", "subject") for k, _ in msg.raw_items()):
        raise UnreadableEmail("no mail headers (From, Message-ID or Subject)")
    plain: list[str] = []
    htmls: list[str] = []
    attachments: list[ParsedAttachment] = []
    report = msg.get_content_type() == "multipart/report"
    for part in msg.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        filename = part.get_filename()
        if filename:
            filename = decode_header_value(filename)
        if kind in ("message/rfc822", "text/rfc822-headers", "message/delivery-status") or \
                _inside_rfc822(msg, part):
            continue
        if kind in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            (plain if kind == "text/plain" else htmls).append(_part_text(part))
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        cid = part.get("Content-ID")
        attachments.append(ParsedAttachment(
            filename=safe_filename(filename), declared_type=kind,
            content_type=sniff(content, kind), content=content,
            inline=disposition == "inline" or (bool(cid) and disposition != "attachment"),
            content_id=str(cid).strip("<> ") if cid else None))
    full = "\n\n".join(t.strip() for t in plain if t.strip()) or \
        "\n\n".join(html_to_text(h) for h in htmls if h.strip())
    name, address = parseaddr(decode_header_value(_raw_header(msg, "From")))
    date = None
    try:
        raw_date = _raw_header(msg, "Date")
        date = parsedate_to_datetime(raw_date) if raw_date else None
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError):
        date = None
    to = tuple(a for _n, a in getaddresses(
        [decode_header_value(_raw_header(msg, h)) for h in ("To", "Cc", "Delivered-To")
         if _raw_header(msg, h)]) if a)
    headers = {k: decode_header_value(str(v)) for k, v in msg.raw_items()
               if k.lower() in ("auto-submitted", "precedence", "x-autoreply", "x-autorespond",
                                "return-path", "x-fax-number", "x-caller-id", "x-fax-from",
                                "sender", "reply-to")}
    auto = _auto_reason(msg)
    return ParsedEmail(
        message_id=normalise_message_id(_raw_header(msg, "Message-ID")),
        content_hash=hashlib.sha256(raw).hexdigest(),
        from_name=name or None, from_address=address.lower() or None, to=to,
        subject=decode_header_value(_raw_header(msg, "Subject")) or None,
        text=trim_reply(full), full_text=full.strip(), date=date,
        in_reply_to=message_ids(_raw_header(msg, "In-Reply-To")),
        references=message_ids(_raw_header(msg, "References")),
        headers=headers, attachments=tuple(attachments), auto_reason=auto,
        bounced_ids=_report_ids(msg) if auto else (), is_report=report)


def _inside_rfc822(root: Message, target: Message) -> bool:
    """Whether `target` is part of an enclosed message (a bounce's copy of our mail)."""
    for part in root.walk():
        if part.get_content_type() in ("message/rfc822", "message/global"):
            for inner in part.walk():
                if inner is target and inner is not part:
                    return True
    return False


def safe_filename(name: str | None) -> str | None:
    """A display name only (content is stored by hash): no paths, no control characters."""
    if not name:
        return None
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = name.lstrip(".") or "attachment"
    return name[:200]
