"""Fax-to-email: telling a fax from a mail, the sender's fax number, and the page count.

Pure functions, called by `channels.email.inbound`. Detection rules, in order:
1. mail from a configured gateway (`FAX_GATEWAY_SENDERS`: addresses or `@domains`) is a fax;
2. otherwise a PDF or TIFF attachment plus fax wording (fax, 팩스, eFax's
   "eFax from NAME - N page(s), Caller-ID: …") is.

Page counts: PDF through `pypdf`; TIFF by walking the IFD chain by hand (a few lines of
`struct`, so no imaging library is pulled in just to count frames, and a malformed file stops
at a bounded number of hops instead of decoding image data).
"""

from __future__ import annotations

import io
import logging
import re
import struct
from collections.abc import Iterable

from channels.email.parsing import ParsedAttachment, ParsedEmail
from intake.contacts import InvalidContact, normalise_fax
from intake.hub import Hub
from intake.models import Attachment

log = logging.getLogger(__name__)

FAX_DOCUMENT_TYPES = ("application/pdf", "image/tiff")
_WORDING = re.compile(r"(\bfax\b|\befax\b|팩스|facsimile|\bfaxed\b)", re.I)
# Where the sender's number is written; the clinic's own "Fax number:"/"To:" is never one.
_NUMBER_PATTERNS = (
    re.compile(r"caller[\s_-]*id\s*[:：]?\s*([+()\d][\d\s().-]{6,20}\d)", re.I),
    re.compile(r"(?:발신\s*번호|보낸\s*번호|발신자\s*번호)\s*[:：]?\s*([+()\d][\d\s().-]{6,20}\d)"),
    re.compile(r"remote\s*csid\s*[:：]?\s*([+()\d][\d\s().-]{6,20}\d)", re.I),
    re.compile(r"\bfax\s+from\s+([+()\d][\d\s().-]{6,20}\d)", re.I),
    re.compile(r"팩스\s*(?:발신|from)\s*[:：]?\s*([+()\d][\d\s().-]{6,20}\d)", re.I),
)
_EFAX_NAME = re.compile(r"eFax from (?P<name>.+?) - \d+ pages?", re.I)
_MAX_IFDS = 10_000


def gateway_match(address: str | None, gateways: Iterable[str]) -> bool:
    if not address:
        return False
    address = address.lower()
    for gateway in gateways:
        gateway = gateway.strip().lower()
        if not gateway:
            continue
        if gateway.startswith("@"):
            if address.endswith(gateway):
                return True
        elif address == gateway:
            return True
    return False


def fax_documents(parsed: ParsedEmail) -> list[ParsedAttachment]:
    return [a for a in parsed.attachments if a.content_type in FAX_DOCUMENT_TYPES]


def is_fax(parsed: ParsedEmail, gateways: Iterable[str]) -> bool:
    recipients = list(parsed.to)
    if gateway_match(parsed.from_address, gateways) or \
            any(gateway_match(r, gateways) for r in recipients):
        return True
    if not fax_documents(parsed):
        return False
    wording = " ".join(filter(None, (parsed.subject, parsed.full_text[:2000])))
    return bool(_WORDING.search(wording))


def sender_number(parsed: ParsedEmail) -> str | None:
    """The sender's fax number, E.164, from headers, subject or body; None if none parses."""
    sources = [parsed.headers.get(h, "") for h in ("x-fax-from", "x-caller-id", "x-fax-number")]
    sources += [parsed.subject or "", parsed.full_text]
    for source in sources:
        if not source:
            continue
        for pattern in _NUMBER_PATTERNS:
            for match in pattern.finditer(source):
                try:
                    return normalise_fax(match.group(1))
                except InvalidContact:
                    continue
        if source is not parsed.subject and source is not parsed.full_text:
            try:  # an X-Fax-* header holds the bare number
                return normalise_fax(source)
            except InvalidContact:
                continue
    return None


def sender_name(parsed: ParsedEmail) -> str | None:
    match = _EFAX_NAME.search(parsed.subject or "")
    return match.group("name").strip() if match else None


def pdf_pages(content: bytes) -> int | None:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError

        return len(PdfReader(io.BytesIO(content)).pages)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, AttributeError) as exc:
        log.info("channels.email.fax.pdf_unreadable", extra={"error": type(exc).__name__})
        return None


def tiff_pages(content: bytes) -> int | None:
    """Count the IFDs (one per page) of a classic TIFF; None if the chain is broken."""
    if len(content) < 8:
        return None
    order = {b"II": "<", b"MM": ">"}.get(content[:2])
    if order is None or struct.unpack(order + "H", content[2:4])[0] != 42:
        return None
    offset = struct.unpack(order + "I", content[4:8])[0]
    seen: set[int] = set()
    pages = 0
    while offset and pages < _MAX_IFDS:
        if offset in seen or offset + 2 > len(content):
            return pages or None
        seen.add(offset)
        (entries,) = struct.unpack(order + "H", content[offset:offset + 2])
        end = offset + 2 + entries * 12
        if end + 4 > len(content):
            return pages + 1
        pages += 1
        (offset,) = struct.unpack(order + "I", content[end:end + 4])
    return pages


def page_count(attachment: ParsedAttachment) -> int | None:
    if attachment.content_type == "application/pdf":
        return pdf_pages(attachment.content)
    if attachment.content_type == "image/tiff":
        return tiff_pages(attachment.content)
    return None


def count_pages(hub: Hub, attachment_id: int) -> int | None:
    """Fill in a stored fax document's page count (the `email.count_pages` job)."""
    with hub.db.begin() as session:
        row = session.get(Attachment, attachment_id)
        if row is None or not row.storage_key or row.pages is not None:
            return row.pages if row is not None else None
        key, content_type = row.storage_key, row.content_type or ""
    content = hub.store.get(key)
    pages = page_count(ParsedAttachment(None, content_type, content_type, content))
    if pages is not None:
        with hub.db.begin() as session:
            session.get_one(Attachment, attachment_id).pages = pages
    log.info("channels.email.fax.pages_counted", extra={"attachment_id": attachment_id,
                                                         "pages": pages})
    return pages
