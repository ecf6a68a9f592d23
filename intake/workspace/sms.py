"""SMS length and segment count for the reply composer (what the counsellor's text will cost).

GSM-7 text goes 160 characters in one message, 153 per part when split; anything outside
GSM-7 (Hangul included) is UCS-2: 70 in one, 67 per part. Extension characters count twice.
"""

from __future__ import annotations

from dataclasses import dataclass

_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = "^{}\\[~]|€\f"


@dataclass(frozen=True)
class SmsLength:
    length: int
    segments: int
    encoding: str  # "GSM-7" or "UCS-2"


def sms_length(text: str) -> SmsLength:
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text):
        units = sum(2 if ch in _GSM_EXTENDED else 1 for ch in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        # UTF-16 code units: a character outside the BMP (most emoji) takes two.
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    if units == 0:
        return SmsLength(0, 0, encoding)
    segments = 1 if units <= single else -(-units // part)
    return SmsLength(len(text), segments, encoding)
