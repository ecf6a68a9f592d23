"""Unit tests for intake.contacts (normalisation and masking of contact points)."""

from __future__ import annotations

import pytest

from intake.contacts import (
    ContactKind,
    InvalidContact,
    is_mobile,
    mask_contact,
    mask_email,
    mask_name,
    mask_phone,
    normalise,
    normalise_email,
    normalise_fax,
    normalise_kakao,
    normalise_phone,
)

# -- phones -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["010-1234-5678", "01012345678", "010 1234 5678", " +82 10-1234-5678 ", "+821012345678",
     "(010) 1234-5678"],
)
def test_normalise_korean_mobile(raw: str) -> None:
    assert normalise_phone(raw) == "+821012345678"


def test_normalise_us_number() -> None:
    assert normalise_phone("+1 212 736 5000") == "+12127365000"
    assert normalise_phone("(212) 736-5000", default_region="US") == "+12127365000"


@pytest.mark.parametrize("raw", ["", "abc", "123", "010-1234", "+82 10 1234 5678 9999",
                                 "010-1234-56789", "+999 1234 5678"])
def test_normalise_phone_rejects_invalid(raw: str) -> None:
    with pytest.raises(InvalidContact, match="not a valid phone number"):
        normalise_phone(raw)


def test_normalise_phone_accepts_landline_callers() -> None:
    assert normalise_phone("02-3456-7890") == "+82234567890"
    assert not is_mobile("+82234567890")
    assert is_mobile("+821012345678")


def test_invalid_contact_is_value_error() -> None:
    assert issubclass(InvalidContact, ValueError)


def test_normalise_fax_accepts_landline_and_mobile() -> None:
    assert normalise_fax("02-3456-7890") == "+82234567890"
    assert normalise_fax("031-123-4567") == "+82311234567"
    assert normalise_fax("010-1234-5678") == "+821012345678"
    with pytest.raises(InvalidContact):
        normalise_fax("02-123")


# -- email ------------------------------------------------------------------------------------


def test_normalise_email() -> None:
    assert normalise_email("  Hong.GilDong@Example.COM ") == "hong.gildong@example.com"
    assert normalise_email("a+tag@sub.example.co.kr") == "a+tag@sub.example.co.kr"


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "plainaddress", "@example.com", "a@b", "a@@example.com", "a@b@example.com",
     "hong gildong@example.com", "a@example.", "a@.com", "a@example..com",
     "x" * 250 + "@example.com"],
)
def test_normalise_email_rejects_bad_syntax(raw: str) -> None:
    with pytest.raises(InvalidContact):
        normalise_email(raw)


# -- dispatch ---------------------------------------------------------------------------------


def test_contact_kind_values() -> None:
    assert [k.value for k in ContactKind] == ["phone", "email", "kakao", "fax"]
    assert ContactKind("kakao") is ContactKind.KAKAO


def test_normalise_dispatch() -> None:
    assert normalise(ContactKind.PHONE, "010-1234-5678") == "+821012345678"
    assert normalise(ContactKind.FAX, "02-3456-7890") == "+82234567890"
    assert normalise(ContactKind.EMAIL, "A@Example.com") == "a@example.com"
    assert normalise(ContactKind.KAKAO, "  AbC123xyz  ") == "AbC123xyz"
    assert normalise("email", "b@example.com") == "b@example.com"


def test_normalise_kakao_rejects_empty_and_long() -> None:
    with pytest.raises(InvalidContact):
        normalise(ContactKind.KAKAO, "   ")
    with pytest.raises(InvalidContact):
        normalise(ContactKind.KAKAO, "k" * 129)
    assert normalise(ContactKind.KAKAO, "k" * 128) == "k" * 128


def test_normalise_unknown_kind() -> None:
    with pytest.raises(ValueError):
        normalise("pager", "123")


# -- masking ----------------------------------------------------------------------------------


def test_mask_korean_mobile() -> None:
    assert mask_phone("+821012345678") == "010-****-5678"


def test_mask_other_numbers_keep_country_code_and_last_four() -> None:
    assert mask_phone("+12127365000") == "+1 ***-***-5000"
    assert mask_phone("+82234567890") == "+82 *-****-7890"
    assert mask_phone("+442070313000") == "+44 ** **** 3000"


def test_mask_phone_invalid_input_masks_all_but_last_four() -> None:
    assert mask_phone("12345678") == "****5678"
    assert mask_phone("+999 1234 5678") == "+*** **** 5678"
    assert mask_phone("1234") == "****"
    assert mask_phone("abc") == "abc"


def test_mask_email() -> None:
    assert mask_email("hong.gildong@example.com") == "h" + "*" * 11 + "@example.com"
    assert mask_email("ab@example.com") == "a*@example.com"
    assert mask_email("a@example.com") == "a@example.com"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("김민수", "김*수"),
        ("김수", "김*"),
        ("남궁민수", "남**수"),
        ("John Smith", "J*** S****"),
        ("Madonna", "M******"),
        ("", ""),
        ("  ", ""),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_mask_contact() -> None:
    assert mask_contact(ContactKind.PHONE, "+821012345678") == "010-****-5678"
    assert mask_contact(ContactKind.FAX, "+82234567890") == "+82 *-****-7890"
    assert mask_contact(ContactKind.EMAIL, "hong@example.com") == "h***@example.com"
    assert mask_contact(ContactKind.KAKAO, "AbCdEfGh1234") == "AbCd****"
    assert mask_contact("kakao", "abc") == "****"


def test_masks_never_contain_the_full_value() -> None:
    for kind, value in [(ContactKind.PHONE, "+821012345678"), (ContactKind.FAX, "+82234567890"),
                        (ContactKind.EMAIL, "someone@example.com"),
                        (ContactKind.KAKAO, "kakao-user-key-1")]:
        assert value not in mask_contact(kind, value)


@pytest.mark.parametrize("raw", ["kim\x00@example.com", "kim@exam\x07ple.com"])
def test_normalise_email_rejects_control_characters(raw: str) -> None:
    """A NUL in an address is no address, and PostgreSQL cannot store it: refused before any
    look-up (it made the public sign-in page answer 500)."""
    with pytest.raises(InvalidContact):
        normalise_email(raw)


def test_normalise_kakao_rejects_control_characters() -> None:
    with pytest.raises(InvalidContact):
        normalise_kakao("Xq7R\x00k2")
