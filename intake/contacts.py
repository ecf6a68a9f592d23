"""Contact points: normalisation (E.164 phones and faxes, lower-cased emails, Kakao user keys)
and masking for display and logs. Pure: no I/O, no database.

Masking formats:
- Korean mobile: national format, middle group masked: `+821012345678` -> `010-****-5678`.
- Any other phone/fax: international format, country code and last 4 digits kept, every other
  digit masked, separators kept: `+12127365000` -> `+1 ***-***-5000`,
  `+82234567890` -> `+82 *-****-7890`.
- Email: first character of the local part, a star for each other local character, domain
  kept: `hong.gildong@example.com` -> `h***********@example.com`.
- Names: Korean `김민수` -> `김*수`, `김수` -> `김*`; Latin `John Smith` -> `J*** S****`.
- Kakao user keys: first 4 characters then `****`.
"""

from __future__ import annotations

import re
from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

__all__ = [
    "ContactKind",
    "InvalidContact",
    "mask_contact",
    "mask_email",
    "mask_kakao",
    "mask_name",
    "mask_phone",
    "normalise",
    "normalise_email",
    "normalise_fax",
    "normalise_kakao",
    "normalise_phone",
]

EMAIL_MAX_LENGTH = 254
KAKAO_MAX_LENGTH = 128

# Number types that can receive text messages (FIXED_LINE_OR_MOBILE: e.g. NANP numbers).
_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_HANGUL_RE = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")


class ContactKind(StrEnum):
    """The kind of a contact point."""

    PHONE = "phone"
    EMAIL = "email"
    KAKAO = "kakao"
    FAX = "fax"


class InvalidContact(ValueError):
    """A contact point that cannot be normalised."""


# -- normalisation ----------------------------------------------------------------------------


def _parse_valid_number(raw: str, default_region: str) -> phonenumbers.PhoneNumber:
    try:
        number = phonenumbers.parse(raw.strip(), default_region)
    except NumberParseException as exc:
        raise InvalidContact("not a valid phone number") from exc
    if not (phonenumbers.is_possible_number(number) and phonenumbers.is_valid_number(number)):
        raise InvalidContact("not a valid phone number")
    return number


def normalise_phone(raw: str, default_region: str = "KR") -> str:
    """Any valid phone number in E.164: `010-1234-5678` -> `+821012345678`.

    Landlines are accepted (a caller may ring from one); whether a number can take SMS is the
    provider's answer at send time. Raises InvalidContact.
    """
    number = _parse_valid_number(raw, default_region)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def is_mobile(e164: str) -> bool:
    """Whether the number is a mobile (or a US-style fixed-or-mobile) number."""
    return phonenumbers.number_type(phonenumbers.parse(e164)) in _MOBILE_TYPES


def normalise_fax(raw: str, default_region: str = "KR") -> str:
    """Any valid number including landlines, in E.164: `02-3456-7890` -> `+82234567890`."""
    number = _parse_valid_number(raw, default_region)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    """Stripped and lower-cased address after a syntax-only check. Raises InvalidContact."""
    addr = raw.strip()
    if not addr:
        raise InvalidContact("empty email address")
    if len(addr) > EMAIL_MAX_LENGTH:
        raise InvalidContact(f"email address longer than {EMAIL_MAX_LENGTH} characters")
    if any(ch.isspace() for ch in addr):
        raise InvalidContact("email address contains spaces")
    if not addr.isprintable():  # NUL and other controls: no address, and unstorable
        raise InvalidContact("email address contains control characters")
    if addr.count("@") != 1:
        raise InvalidContact("email address must contain exactly one @")
    local, domain = addr.split("@")
    if not local:
        raise InvalidContact("email address has an empty local part")
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        raise InvalidContact("email domain must contain a dot between non-empty labels")
    return addr.lower()


def normalise_kakao(raw: str) -> str:
    """A Kakao user key: stripped, non-empty, at most 128 characters, otherwise kept as is."""
    key = raw.strip()
    if not key:
        raise InvalidContact("empty Kakao user key")
    if not key.isprintable():
        raise InvalidContact("Kakao user key contains control characters")
    if len(key) > KAKAO_MAX_LENGTH:
        raise InvalidContact(f"Kakao user key longer than {KAKAO_MAX_LENGTH} characters")
    return key


def normalise(kind: ContactKind | str, raw: str) -> str:
    """Normalise `raw` as a contact point of `kind`. Raises InvalidContact."""
    kind = ContactKind(kind)
    if kind is ContactKind.PHONE:
        return normalise_phone(raw)
    if kind is ContactKind.FAX:
        return normalise_fax(raw)
    if kind is ContactKind.EMAIL:
        return normalise_email(raw)
    return normalise_kakao(raw)


# -- masking ----------------------------------------------------------------------------------


def _mask_digits_keep_last(text: str, keep: int = 4) -> str:
    """Replace every digit with `*` except the last `keep` (all if there are no more than
    `keep`); other characters kept."""
    total = sum(ch.isdigit() for ch in text)
    if total <= keep:  # keeping them all would reveal the whole number
        keep = 0
    out: list[str] = []
    seen = 0
    for ch in text:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - keep else "*")
        else:
            out.append(ch)
    return "".join(out)


def mask_phone(e164: str) -> str:
    """Masked phone/fax for display: `+821012345678` -> `010-****-5678`; see module docstring.

    Input that is not a valid number is masked generically (all but the last 4 digits).
    """
    raw = e164.strip()
    try:
        number = phonenumbers.parse(raw, "KR")
    except NumberParseException:
        return _mask_digits_keep_last(raw)
    if not phonenumbers.is_valid_number(number):
        return _mask_digits_keep_last(raw)
    if number.country_code == 82 and phonenumbers.number_type(number) == PhoneNumberType.MOBILE:
        groups = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL).split("-")
        if len(groups) == 3:
            return f"{groups[0]}-{'*' * len(groups[1])}-{groups[2]}"
    formatted = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    prefix = f"+{number.country_code}"
    if formatted.startswith(prefix):
        return prefix + _mask_digits_keep_last(formatted[len(prefix):])
    return _mask_digits_keep_last(formatted)  # pragma: no cover - defensive


def mask_email(addr: str) -> str:
    """`hong.gildong@example.com` -> `h***********@example.com` (domain kept)."""
    addr = addr.strip()
    local, at, domain = addr.rpartition("@")
    if not at:
        return (addr[:1] + "*" * (len(addr) - 1)) if addr else ""
    if not local:
        return addr
    return f"{local[0]}{'*' * (len(local) - 1)}@{domain}"


def _mask_word(word: str) -> str:
    if len(word) <= 1:
        return word
    if _HANGUL_RE.search(word):
        if len(word) == 2:
            return word[0] + "*"
        return word[0] + "*" * (len(word) - 2) + word[-1]
    return word[0] + "*" * (len(word) - 1)


def mask_name(name: str) -> str:
    """Korean `김민수` -> `김*수`, `김수` -> `김*`, `남궁민수` -> `남**수`; Latin `John Smith`
    -> `J*** S****` (first letter of each word kept). Empty stays empty."""
    return " ".join(_mask_word(word) for word in name.split())


def mask_kakao(key: str) -> str:
    """First 4 characters of a Kakao user key then `****` (just `****` for short keys)."""
    key = key.strip()
    return (key[:4] if len(key) > 4 else "") + "****"


def mask_contact(kind: ContactKind | str, value: str) -> str:
    """Mask a normalised contact point of `kind` for display."""
    kind = ContactKind(kind)
    if kind in (ContactKind.PHONE, ContactKind.FAX):
        return mask_phone(value)
    if kind is ContactKind.EMAIL:
        return mask_email(value)
    return mask_kakao(value)
