"""Redaction of free text and logs.

Owns: masking resident registration numbers (R9: `YYMMDD-*******`) and payment card numbers
(R24: only the last 4 digits kept) in free text, the health-keyword screen (R8), and a logging
filter that masks emails, phone numbers, RRNs and card numbers before any handler sees a record.
Pure: no I/O, no database.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from intake.contacts import mask_email, mask_name, mask_phone

__all__ = [
    "HEALTH_KEYWORDS",
    "MaskingFilter",
    "install_log_masking",
    "luhn_valid",
    "mask_identifiers",
    "mask_log_text",
    "mentions_health",
]

# R9: YYMMDD, optional hyphen/space, a digit 1-8, 6 digits; not inside a longer digit run.
_RRN_RE = re.compile(r"(?<!\d)(\d{6})[-\s]?([1-8]\d{6})(?!\d)")
# R24: 13-19 digits, optionally split into groups by single spaces or hyphens.
_CARD_RE = re.compile(r"(?<!\d)(?<!\d[ -])\d(?:[ -]?\d){12,18}(?!\d)")
_CARD_MASK = "****-****-****-"

_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-']+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# Korean mobiles (010-1234-5678, 01012345678, 010 1234 5678).
_KR_MOBILE_RE = re.compile(r"(?<![\d+])01[016789][-\s.]?\d{3,4}[-\s.]?\d{4}(?!\d)")
# Korean landlines written with hyphens (02-3456-7890, 031-123-4567).
_KR_LANDLINE_RE = re.compile(r"(?<![\d+-])0\d{1,2}-\d{3,4}-\d{4}(?![\d-])")
# International / E.164 numbers: a plus then 8-15 digits, single spaces or hyphens between.
_INTL_PHONE_RE = re.compile(r"(?<![\w+])\+\d(?:[ -]?\d){7,14}(?!\d)")


def luhn_valid(digits: str) -> bool:
    """True if the digit string passes the Luhn checksum."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def storable_text(text: str) -> tuple[str, list[str]]:
    """Free text from a channel as it is stored: NUL characters dropped (PostgreSQL refuses
    them in text, and a broken mail client's NUL must not make the message unstorable), then
    identifiers masked (`mask_identifiers`)."""
    return mask_identifiers(text.replace("\x00", ""))


def mask_identifiers(text: str) -> tuple[str, list[str]]:
    """Mask RRNs (R9, to `YYMMDD-*******`) and Luhn-valid card numbers (R24, to
    `****-****-****-1234`) in `text`. Returns the masked text and the kinds redacted
    (`"rrn"`, `"card"`; each listed once, in that order)."""
    kinds: list[str] = []

    def _rrn(match: re.Match[str]) -> str:
        if "rrn" not in kinds:
            kinds.append("rrn")
        return f"{match.group(1)}-*******"

    def _card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if not luhn_valid(digits):
            return match.group(0)
        if "card" not in kinds:
            kinds.append("card")
        return _CARD_MASK + digits[-4:]

    text = _RRN_RE.sub(_rrn, text)
    text = _CARD_RE.sub(_card, text)
    return text, kinds


# -- R8 health-keyword screen -----------------------------------------------------------------

HEALTH_KEYWORDS: tuple[str, ...] = (
    # Korean (matched as substrings)
    "수술", "시술", "성형", "코", "눈", "가슴", "지방", "리프팅", "보톡스", "필러", "통증",
    "부작용", "흉터", "약", "복용", "임신", "질환", "병력", "재수술", "사진", "쌍꺼풀", "안검",
    "턱", "윤곽", "주름", "여드름", "피부", "레이저", "마취", "출혈", "붓기", "부기", "염증",
    "알레르기", "알러지", "당뇨", "고혈압", "수유", "처방", "진단", "보형물",
    "실리프팅", "흡입", "이식", "모발", "탈모", "치료",
    # English (matched as whole words, plural -s/-es allowed)
    "surgery", "surgical", "rhinoplasty", "blepharoplasty", "liposuction", "lipo", "pain",
    "medication", "medicine", "pregnant", "pregnancy", "breastfeeding", "scar", "implant",
    "botox", "filler", "allergy", "allergic", "diabetes", "hypertension", "disease",
    "symptom", "prescription", "anesthesia", "anaesthesia", "bleeding", "swelling",
    "infection", "inflammation", "side effect", "treatment", "diagnosis", "acne", "wrinkle",
    "lifting", "facelift", "breast", "transplant", "photo",
)

# Everyday Korean words containing a one-syllable keyword (약, 코, 눈) that are not about health:
# they are removed before the substring search so that e.g. 예약 (booking) does not match 약.
_KO_BENIGN = (
    "예약", "약속", "계약", "요약", "약간", "절약", "공약", "약관", "취약", "규약", "협약",
    "코드", "코스", "코너", "코멘트", "코인", "에코", "초코", "코리아", "코엑스",
    "눈치",
)
_KO_KEYWORDS = tuple(k for k in HEALTH_KEYWORDS if not k.isascii())
_EN_RE = re.compile(
    r"\b(?:"
    + "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in HEALTH_KEYWORDS if k.isascii())
    + r")(?:s|es)?\b",
    re.IGNORECASE,
)


def mentions_health(text: str | None) -> bool:
    """R8 screen: True if `text` contains a health keyword (Korean as substrings, English as
    whole words; case-insensitive). A screen, not a classifier: it errs towards True."""
    if not text:
        return False
    if _EN_RE.search(text):
        return True
    korean = text
    for word in _KO_BENIGN:
        korean = korean.replace(word, " ")
    return any(k in korean for k in _KO_KEYWORDS)


# -- logging ----------------------------------------------------------------------------------


def _mask_email_match(match: re.Match[str]) -> str:
    return mask_email(match.group(0))


def _mask_phone_match(match: re.Match[str]) -> str:
    raw = match.group(0)
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+"):
        return mask_phone("+" + digits)
    if digits.startswith("01"):
        return mask_phone(digits)
    # Domestic landline: keep the area code and the last 4 digits.
    area, _, rest = raw.partition("-")
    middle, _, last = rest.partition("-")
    return f"{area}-{'*' * len(middle)}-{last}"


def mask_log_text(text: str) -> str:
    """Mask emails, RRNs, card numbers and phone numbers (Korean, E.164) in a log line."""
    text = _EMAIL_RE.sub(_mask_email_match, text)
    text, _kinds = mask_identifiers(text)
    text = _INTL_PHONE_RE.sub(_mask_phone_match, text)
    text = _KR_MOBILE_RE.sub(_mask_phone_match, text)
    return _KR_LANDLINE_RE.sub(_mask_phone_match, text)


def _mask_attr(attr: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if attr == "name":
        return mask_name(value)
    if attr == "email" and "@" in value and not any(c.isspace() for c in value.strip()):
        return mask_email(value)
    if attr in ("phone", "recipient") and re.fullmatch(r"\+?[\d\s().-]{7,}", value.strip()):
        masked = mask_phone(value)
        return masked if masked != value.strip() else mask_log_text(value)
    return mask_log_text(value)


_STANDARD_RECORD_ATTRS = frozenset(
    logging.LogRecord("", logging.NOTSET, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName"}


class MaskingFilter(logging.Filter):
    """Masks personal identifiers in log records (message, exception text, sensitive extras).

    The message is rendered once with `record.getMessage()`, masked, and stored back in
    `record.msg` with `record.args = None`. Always lets the record through.
    """

    # Masked when set through `extra=`. Standard LogRecord attributes are never touched: `name`
    # is the logger's name on every record (logging refuses `extra={"name": ...}`).
    SENSITIVE_ATTRS: tuple[str, ...] = ("phone", "email", "name", "body", "recipient")

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: mask the raw pieces instead
            message = f"{record.msg} {record.args!r}"
        record.msg = mask_log_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = mask_log_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_log_text(record.stack_info)
        for attr in self.SENSITIVE_ATTRS:
            if attr in record.__dict__ and attr not in _STANDARD_RECORD_ATTRS:
                setattr(record, attr, _mask_attr(attr, record.__dict__[attr]))
        return True


def install_log_masking(logger: logging.Logger | None = None) -> None:
    """Add a MaskingFilter to `logger` (default: the root logger) and to each of its handlers,
    once. Handlers added later are not covered: call again after adding them."""
    target = logger if logger is not None else logging.getLogger()
    for filterer in (target, *target.handlers):
        if not any(isinstance(f, MaskingFilter) for f in filterer.filters):
            filterer.addFilter(MaskingFilter())
