"""SMS length and segment count, as the carrier bills them (pure; no I/O).

Used by the Twilio sender (logged with each send) and available to the workspace, which can
show a counsellor the count before sending. A text that fits the GSM 03.38 alphabet is encoded
in GSM-7 (160 septets in one segment, 153 per part of a concatenated message; characters of the
extension table take two septets); anything else, Korean included, is UCS-2 (70 UTF-16 code
units in one segment, 67 per part; a character outside the BMP takes two).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # the capacity of one segment for this message (single or part)


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def sms_length(text: str) -> SmsLength:
    """The encoding, length in units and number of segments of `text` sent as one SMS."""
    if is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, part, encoding = GSM7_SINGLE, GSM7_PART, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = UCS2_SINGLE, UCS2_PART, "UCS-2"
    if units <= single:
        return SmsLength(encoding, units, 1 if units else 0, single)
    return SmsLength(encoding, units, ceil(units / part), part)
