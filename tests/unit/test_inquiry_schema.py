"""The web inquiry schema on its own (no services): the contract's fields, the cross-field rules
(contact, reply channel, night consent, R12 guardian) and error messages that never echo what
was sent (R9)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from marshmallow import ValidationError

from channels.web.schemas import InquiryData, InquirySchema, field_errors

TODAY = date(2026, 11, 25)
RRN = "950101-1234567"


def load(payload: dict[str, Any], interests: tuple[str, ...] | None = None) -> InquiryData:
    kwargs: dict[str, Any] = {"tz": ZoneInfo("Asia/Seoul"), "today": TODAY}
    if interests is not None:
        kwargs["interests"] = interests
    result = InquirySchema(**kwargs).load(payload)
    assert isinstance(result, InquiryData)
    return result


def errors(payload: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as info:
        InquirySchema(tz=ZoneInfo("Asia/Seoul"), today=TODAY).load(payload)
    return field_errors(info.value.messages)


def test_minimal_inquiry_normalises_contacts_and_defaults() -> None:
    data = load({"name": "  김민수 ", "phone": "010-1234-5678"})
    assert data.name == "김민수"
    assert data.phone == "+821012345678"
    assert data.email is None
    assert data.locale == "ko"
    assert data.consents.sensitive_health is False
    assert data.consents.marketing == () and data.consents.marketing_night == ()
    assert data.minor is False


def test_optional_fields_may_be_null_or_blank() -> None:
    data = load({"name": "Kim", "email": "Kim@Example.COM", "phone": "", "sex": None,
                 "birth_date": None, "age": None, "region": " ", "interests": None,
                 "preferred_hours": None, "message": "", "reply_channel": None,
                 "consents": None, "guardian": None, "locale": None})
    assert data.email == "kim@example.com"
    assert data.phone is None and data.region is None and data.message is None
    assert data.interests == () and data.locale == "ko"


def test_full_inquiry_loads_every_field() -> None:
    data = load({"name": "Jane Doe", "phone": "+1 212 736 5000", "email": "jane@example.com",
                 "sex": "female", "birth_date": "1990-05-01", "age": 36, "region": "Seoul",
                 "interests": ["eyes", "nose"], "preferred_hours": "after 6 pm",
                 "message": "Hello\nthere", "reply_channel": "email",
                 "consents": {"sensitive_health": True, "marketing": ["sms", "email"],
                              "marketing_night": ["sms"]},
                 "locale": "en"})
    assert data.phone == "+12127365000"
    assert data.birth_date == date(1990, 5, 1) and data.age == 36
    assert data.interests == ("eyes", "nose")
    assert data.consents.marketing == ("sms", "email")
    assert data.consents.marketing_night == ("sms",)
    assert data.locale == "en"


@pytest.mark.parametrize(("payload", "key"), [
    ({"phone": "010-1234-5678"}, "name"),
    ({"name": "   ", "phone": "010-1234-5678"}, "name"),
    ({"name": "x" * 101, "phone": "010-1234-5678"}, "name"),
    ({"name": "Kim\x00", "phone": "010-1234-5678"}, "name"),
    ({"name": "Kim", "email": "not-an-email"}, "email"),
    ({"name": "Kim", "email": "a@b"}, "email"),
    ({"name": "Kim", "phone": "12345"}, "phone"),
    ({"name": "Kim", "phone": 1012345678}, "phone"),
    ({"name": "Kim", "phone": "010-1234-5678", "sex": "f"}, "sex"),
    ({"name": "Kim", "phone": "010-1234-5678", "age": 500}, "age"),
    ({"name": "Kim", "phone": "010-1234-5678", "age": -1}, "age"),
    ({"name": "Kim", "phone": "010-1234-5678", "age": "30"}, "age"),
    ({"name": "Kim", "phone": "010-1234-5678", "age": True}, "age"),
    ({"name": "Kim", "phone": "010-1234-5678", "age": 30.5}, "age"),
    ({"name": "Kim", "phone": "010-1234-5678", "birth_date": "1800-01-01"}, "birth_date"),
    ({"name": "Kim", "phone": "010-1234-5678", "birth_date": "2026-11-26"}, "birth_date"),
    ({"name": "Kim", "phone": "010-1234-5678", "birth_date": "01/02/1990"}, "birth_date"),
    ({"name": "Kim", "phone": "010-1234-5678", "birth_date": "1990-05-01", "age": 20}, "age"),
    ({"name": "Kim", "phone": "010-1234-5678", "region": "r" * 101}, "region"),
    ({"name": "Kim", "phone": "010-1234-5678", "interests": ["teeth"]}, "interests"),
    ({"name": "Kim", "phone": "010-1234-5678", "interests": ["eyes", "eyes"]}, "interests"),
    ({"name": "Kim", "phone": "010-1234-5678", "interests": "eyes"}, "interests"),
    ({"name": "Kim", "phone": "010-1234-5678", "preferred_hours": "h" * 201}, "preferred_hours"),
    ({"name": "Kim", "phone": "010-1234-5678", "message": "m" * 5001}, "message"),
    ({"name": "Kim", "phone": "010-1234-5678", "reply_channel": "kakao"}, "reply_channel"),
    ({"name": "Kim", "phone": "010-1234-5678", "reply_channel": "email"}, "reply_channel"),
    ({"name": "Kim", "email": "kim@example.com", "reply_channel": "sms"}, "reply_channel"),
    ({"name": "Kim", "email": "kim@example.com", "reply_channel": "phone"}, "reply_channel"),
    ({"name": "Kim", "phone": "010-1234-5678", "reply_channel": "fax"}, "reply_channel"),
    ({"name": "Kim", "phone": "010-1234-5678", "consents": {"sensitive_health": "yes"}},
     "consents.sensitive_health"),
    ({"name": "Kim", "phone": "010-1234-5678", "consents": {"marketing": ["fax"]}},
     "consents.marketing"),
    ({"name": "Kim", "phone": "010-1234-5678", "consents": {"marketing": ["email"]}},
     "consents.marketing"),
    ({"name": "Kim", "phone": "010-1234-5678", "consents": {"marketing_night": ["sms"]}},
     "consents.marketing_night"),
    ({"name": "Kim", "phone": "010-1234-5678",
      "consents": {"marketing": ["sms"], "marketing_night": ["kakao"]}},
     "consents.marketing_night"),
    ({"name": "Kim", "phone": "010-1234-5678", "consents": {"push": True}}, "consents.push"),
    ({"name": "Kim", "phone": "010-1234-5678", "consents": "all"}, "consents"),
    ({"name": "Kim", "phone": "010-1234-5678", "locale": "ja"}, "locale"),
    ({"name": "Kim", "phone": "010-1234-5678", "rrn": "x"}, "rrn"),
])
def test_invalid_field_is_reported_on_its_key(payload: dict[str, Any], key: str) -> None:
    assert key in errors(payload)


def test_no_contact_is_reported_on_phone_and_email() -> None:
    fields = errors({"name": "Kim"})
    assert set(fields) == {"phone", "email"}


def test_an_invalid_phone_does_not_also_count_as_missing() -> None:
    fields = errors({"name": "Kim", "phone": "123", "reply_channel": "sms"})
    assert set(fields) == {"phone"}


def test_every_problem_is_reported_at_once() -> None:
    fields = errors({"age": 500, "sex": "x", "reply_channel": "kakao"})
    assert {"name", "phone", "email", "age", "sex", "reply_channel"} <= set(fields)


def test_interests_come_from_the_clinic_list() -> None:
    assert load({"name": "K", "phone": "010-1234-5678", "interests": ["hair"]},
                interests=("hair", "other")).interests == ("hair",)
    with pytest.raises(ValidationError):
        load({"name": "K", "phone": "010-1234-5678", "interests": ["eyes"]},
             interests=("hair", "other"))


@pytest.mark.parametrize("payload", [
    {"name": "Kim", "phone": "010-1234-5678", "age": 12},
    {"name": "Kim", "phone": "010-1234-5678", "birth_date": "2012-11-26"},  # 13 today
])
def test_r12_under_14_needs_a_guardian(payload: dict[str, Any]) -> None:
    assert "guardian" in errors(payload)


def test_r12_with_a_guardian_the_child_is_marked_minor() -> None:
    data = load({"name": "Kim", "phone": "010-1234-5678", "age": 12,
                 "guardian": {"name": "Kim Senior", "phone": "010-9876-5432"}})
    assert data.minor is True
    assert data.guardian is not None and data.guardian.phone == "+821098765432"


def test_r12_fourteenth_birthday_today_is_not_a_minor() -> None:
    assert load({"name": "Kim", "phone": "010-1234-5678",
                 "birth_date": "2012-11-25"}).minor is False


@pytest.mark.parametrize("guardian", [{"name": "Kim"}, {"name": "Kim", "phone": "1"},
                                      {"name": "", "phone": "010-9876-5432"}, "Kim"])
def test_r12_a_malformed_guardian_is_an_error(guardian: Any) -> None:
    fields = errors({"name": "Kim", "phone": "010-1234-5678", "age": 12, "guardian": guardian})
    assert any(key.startswith("guardian") for key in fields)


@pytest.mark.parametrize("payload", [
    {"name": RRN * 10, "phone": RRN},
    {"name": "Kim", "email": RRN},
    {"name": "Kim", "phone": "010-1234-5678", "sex": RRN, "birth_date": RRN, "age": RRN,
     "region": RRN * 10, "interests": [RRN], "reply_channel": RRN, "locale": RRN,
     "consents": {"sensitive_health": RRN, "marketing": [RRN], "marketing_night": [RRN]},
     "guardian": {"name": RRN * 10, "phone": RRN}},
    {"name": "Kim", "phone": "010-1234-5678", RRN: RRN, "consents": {RRN: 1},
     "9501011234567": 1},
])
def test_r9_error_messages_never_echo_the_value(payload: dict[str, Any]) -> None:
    fields = errors(payload)
    text = json.dumps(fields, ensure_ascii=False)
    assert "950101" not in text and "1234567" not in text


def test_field_errors_drop_list_positions_and_flatten_nesting() -> None:
    fields = field_errors({"interests": {0: ["Must be one of: eyes."], 2: ["Must be one of: "
                                                                          "eyes."]},
                           "consents": {"marketing": {1: ["bad"]}, "_schema": ["x"]}})
    assert fields == {"interests": ["Must be one of: eyes."], "consents.marketing": ["bad"],
                      "consents": ["x"]}


def test_a_clinic_list_does_not_leak_into_other_schemas() -> None:
    """Fields are shallow copies per schema: one clinic's codes must not reach another's."""
    for _ in range(3):
        InquirySchema(interests=("hair",))
    assert load({"name": "K", "phone": "010-1234-5678", "interests": ["eyes"]}).interests == (
        "eyes",)
    assert len(InquirySchema().fields["interests"].validators) == 2  # type: ignore[attr-defined]
