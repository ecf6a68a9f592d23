"""The web inquiry's fields, as the public contract names them, validated once for both the JSON
route and the HTML form (the form converts its fields to this shape first).

Owns: `InquirySchema` (strict: unknown fields are errors), the validated `InquiryData` value it
loads into, the response schema of `POST /api/v1/inquiries`, and `field_errors`, which turns
marshmallow's messages into the contract's `fields` object without echoing anything the client
sent. No message here ever contains a submitted value: a value may hold a resident registration
number (R9).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from config import DEFAULT_INTERESTS
from intake.api.schemas import no_control_characters
from intake.contacts import InvalidContact, normalise_email, normalise_phone
from intake.errors import flatten_messages
from intake.services.receive import MINOR_AGE, age_on

SEXES = ("female", "male", "other")
REPLY_CHANNELS = ("sms", "kakao", "email", "phone")
MARKETING_CHANNELS = ("sms", "kakao", "email", "voice")
LOCALES = ("ko", "en")
MAX_AGE = 120
# The contact point kind each channel needs (a reply by phone call or SMS needs a phone; Kakao
# business messages are addressed by phone number too).
CHANNEL_CONTACT = {"sms": "phone", "phone": "phone", "voice": "phone", "kakao": "phone",
                   "email": "email"}
OPTIONAL_TEXT = ("phone", "email", "sex", "birth_date", "region", "preferred_hours", "message",
                 "reply_channel", "locale")


# -- validators -------------------------------------------------------------------------------

def _unique(value: Sequence[str]) -> None:
    if len(set(value)) != len(value):
        raise ValidationError("must not list the same code twice")


# -- fields -----------------------------------------------------------------------------------

class Text(fields.String):
    """A string with surrounding white space stripped."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        return str(super()._deserialize(value, attr, data, **kwargs)).strip()


class PhoneNumber(fields.String):
    """A phone number, answered in E.164 (the domain normalises again; the same rules)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        raw = str(super()._deserialize(value, attr, data, **kwargs))
        if len(raw) > 40:
            raise ValidationError("not a valid phone number")
        try:
            return normalise_phone(raw)
        except InvalidContact as exc:
            raise ValidationError(str(exc)) from None


class EmailAddress(fields.String):
    """An email address, syntax-checked only (never for deliverability), lower-cased."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> str:
        raw = str(super()._deserialize(value, attr, data, **kwargs))
        try:
            return normalise_email(raw)
        except InvalidContact as exc:
            raise ValidationError(str(exc)) from None


class StrictBoolean(fields.Boolean):
    """JSON `true` or `false` only: a consent is never read out of `"yes"` or `1` (R4)."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def _channels(description: str) -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(MARKETING_CHANNELS)),
                       load_default=list, allow_none=True,
                       validate=[validate.Length(max=len(MARKETING_CHANNELS)), _unique],
                       metadata={"description": description})


# -- the loaded value -------------------------------------------------------------------------

@dataclass(frozen=True)
class GuardianData:
    name: str
    phone: str  # E.164


@dataclass(frozen=True)
class ConsentsData:
    sensitive_health: bool = False
    marketing: tuple[str, ...] = ()
    marketing_night: tuple[str, ...] = ()


@dataclass(frozen=True)
class InquiryData:
    """A valid web inquiry: contacts normalised, blanks read as absent."""

    name: str
    phone: str | None = None
    email: str | None = None
    sex: str | None = None
    birth_date: date | None = None
    age: int | None = None
    region: str | None = None
    interests: tuple[str, ...] = ()
    preferred_hours: str | None = None
    message: str | None = None
    reply_channel: str | None = None
    consents: ConsentsData = ConsentsData()
    guardian: GuardianData | None = None
    locale: str = "ko"
    minor: bool = False  # under 14 on the submission date (R12)


# -- schemas ----------------------------------------------------------------------------------

class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class InquiryGuardianSchema(StrictSchema):
    name = Text(required=True, validate=[validate.Length(min=1, max=100,
                                                         error="must be 1 to 100 characters"),
                                         no_control_characters(False)])
    phone = PhoneNumber(required=True)

    @post_load
    def _make(self, data: dict[str, Any], **_kw: Any) -> GuardianData:
        return GuardianData(name=data["name"], phone=data["phone"])


class InquiryConsentsSchema(StrictSchema):
    sensitive_health = StrictBoolean(
        load_default=False, allow_none=True,
        metadata={"description": "consent to keep health details: interests and message (R8)"})
    marketing = _channels("advertising consent per channel (R40)")
    marketing_night = _channels("night-time (21:00-08:00) advertising consent per channel; "
                                "each needs marketing consent for the same channel (R43)")

    @post_load
    def _make(self, data: dict[str, Any], **_kw: Any) -> ConsentsData:
        return ConsentsData(sensitive_health=bool(data.get("sensitive_health")),
                            marketing=tuple(data.get("marketing") or ()),
                            marketing_night=tuple(data.get("marketing_night") or ()))


class InquirySchema(StrictSchema):
    """One consultation inquiry (`POST /api/v1/inquiries` and the homepage form).

    Built per clinic: `interests` are the clinic's codes; `tz` gives "today" for birth dates and
    for the under-14 rule (R12).
    """

    name = Text(required=True, validate=[validate.Length(min=1, max=100,
                                                         error="must be 1 to 100 characters"),
                                         no_control_characters(False)])
    phone = PhoneNumber(allow_none=True, metadata={"description": "mobile number; `phone` or "
                                                   "`email` is required"})
    email = EmailAddress(allow_none=True, metadata={"description": "syntax-checked only"})
    sex = fields.String(allow_none=True, validate=validate.OneOf(SEXES))
    birth_date = fields.Date(allow_none=True, metadata={"description": "YYYY-MM-DD"})
    age = fields.Integer(strict=True, allow_none=True,
                         validate=validate.Range(min=0, max=MAX_AGE))
    region = Text(allow_none=True,
                  validate=[validate.Length(max=100), no_control_characters(False)])
    interests = fields.List(fields.String(), allow_none=True,
                            metadata={"description": "codes from the clinic's list"})
    preferred_hours = Text(allow_none=True,
                           validate=[validate.Length(max=200), no_control_characters(True)])
    message = Text(allow_none=True,
                   validate=[validate.Length(max=5000), no_control_characters(True)])
    reply_channel = fields.String(allow_none=True, validate=validate.OneOf(REPLY_CHANNELS),
                                  metadata={"description": "needs the matching contact; "
                                            "`kakao` is not available on the web"})
    consents = fields.Nested(InquiryConsentsSchema, allow_none=True)
    guardian = fields.Nested(InquiryGuardianSchema, allow_none=True,
                             metadata={"description": "required for a child under 14 (R12)"})
    locale = fields.String(allow_none=True, load_default="ko", validate=validate.OneOf(LOCALES))

    def __init__(self, *, interests: Sequence[str] = DEFAULT_INTERESTS,
                 tz: ZoneInfo | None = None, today: date | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._interests = tuple(interests)
        self._tz = tz or ZoneInfo("Asia/Seoul")
        self._today = today
        # The clinic's own codes (so the OpenAPI document lists the default ones as an enum).
        # Fields are shallow copies per schema instance: assign new validator lists, never
        # append to the ones the class shares.
        field = self.fields["interests"]
        assert isinstance(field, fields.List)
        field.inner.validators = [*field.inner.validators, validate.OneOf(self._interests)]
        field.validators = [*field.validators, validate.Length(max=len(self._interests)),
                            _unique]

    def today(self) -> date:
        return self._today or datetime.now(self._tz).date()

    @pre_load
    def _blanks(self, data: Any, **_kw: Any) -> Any:
        """An optional text left empty is absent: API clients often send `""` for nothing."""
        if not isinstance(data, dict):
            return data
        return {key: (None if key in OPTIONAL_TEXT and isinstance(value, str)
                      and not value.strip() else value)
                for key, value in data.items()}

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _across_fields(self, data: dict[str, Any], original: Any, **_kw: Any) -> None:
        """Rules that read several fields; run even when a field failed, so that a person sees
        every problem at once. `original` tells a missing value from an invalid one."""
        original = original if isinstance(original, dict) else {}
        given = {key for key in ("phone", "email") if original.get(key) not in (None, "")}
        have = {key for key in ("phone", "email") if data.get(key)} | given
        errors: dict[str, list[str]] = {}
        if not given:
            for key in ("phone", "email"):
                errors[key] = ["give a mobile number or an email address"]

        channel = data.get("reply_channel")
        if channel == "kakao":
            errors["reply_channel"] = ["KakaoTalk replies are not available for web inquiries; "
                                       "choose sms, phone or email"]
        elif channel and CHANNEL_CONTACT[channel] not in have:
            needs = "an email address" if channel == "email" else "a phone number"
            errors["reply_channel"] = [f"replying by {channel} needs {needs}"]

        consents = data.get("consents")
        if isinstance(consents, ConsentsData):
            missing = [ch for ch in consents.marketing if CHANNEL_CONTACT[ch] not in have]
            if missing:
                errors["consents.marketing"] = [
                    f"advertising by {', '.join(missing)} needs the matching contact "
                    "(sms, kakao and voice a phone number, email an email address)"]
            lonely = [ch for ch in consents.marketing_night if ch not in consents.marketing]
            if lonely:
                errors["consents.marketing_night"] = [
                    f"night-time consent for {', '.join(lonely)} needs advertising consent for "
                    "the same channel"]

        birth, age = data.get("birth_date"), data.get("age")
        today = self.today()
        if birth is not None:
            if birth > today:
                errors["birth_date"] = ["must not be in the future"]
            elif age_on(birth, today) > MAX_AGE:
                errors["birth_date"] = [f"must be within the last {MAX_AGE} years"]
            elif age is not None and age != age_on(birth, today):
                errors["age"] = ["does not match birth_date"]
        # A guardian given but malformed already carries its own errors.
        if self._is_minor(birth, age, today) and original.get("guardian") is None:
            errors["guardian"] = [f"a child under {MINOR_AGE} needs a legal guardian's name and "
                                  "phone (R12)"]
        if errors:
            raise ValidationError(_nest(errors))

    @staticmethod
    def _is_minor(birth: date | None, age: int | None, today: date) -> bool:
        """R12, on the same terms as the domain: the birth date decides when given."""
        if birth is not None:
            return birth <= today and age_on(birth, today) < MINOR_AGE
        return age is not None and 0 <= age < MINOR_AGE

    @post_load
    def _make(self, data: dict[str, Any], **_kw: Any) -> InquiryData:
        birth, age = data.get("birth_date"), data.get("age")
        return InquiryData(
            name=data["name"], phone=data.get("phone"), email=data.get("email"),
            sex=data.get("sex"), birth_date=birth, age=age,
            region=data.get("region") or None,
            interests=tuple(data.get("interests") or ()),
            preferred_hours=data.get("preferred_hours") or None,
            message=data.get("message") or None,
            reply_channel=data.get("reply_channel"),
            consents=data.get("consents") or ConsentsData(),
            guardian=data.get("guardian"),
            locale=data.get("locale") or "ko",
            minor=self._is_minor(birth, age, self.today()))


def _nest(errors: dict[str, list[str]]) -> dict[str, Any]:
    """`{"consents.marketing": [...]}` → `{"consents": {"marketing": [...]}}` (marshmallow's
    shape, so that field and cross-field messages merge)."""
    out: dict[str, Any] = {}
    for key, messages in errors.items():
        head, _, tail = key.partition(".")
        if tail:
            out.setdefault(head, {})[tail] = messages
        else:
            out[head] = messages
    return out


# -- errors -----------------------------------------------------------------------------------

_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def field_errors(messages: Any) -> dict[str, list[str]]:
    """marshmallow's messages as the contract's `fields`: dotted names, list positions dropped
    (`interests.2` → `interests`), and a key the client made up that is not a plain name (it may
    be anything, an RRN included) reported under `_schema` instead of echoed."""
    out: dict[str, list[str]] = {}
    for key, texts in flatten_messages(messages).items():
        parts = key.split(".")
        kept = [parts[0]] + [p for p in parts[1:] if not p.isdigit()]
        if len(kept) > 1 and kept[-1] == "_schema":
            kept.pop()
        if not all(_SEGMENT.fullmatch(part) for part in kept):
            kept = kept[:1] if _SEGMENT.fullmatch(kept[0]) and len(kept) > 1 else ["_schema"]
        bucket = out.setdefault(".".join(kept), [])
        bucket.extend(text for text in texts if text not in bucket)
    return out


class InquiryCreatedSchema(Schema):
    """The answer to `POST /api/v1/inquiries` (the same for a replay of an Idempotency-Key)."""

    consultation_id = fields.Integer(required=True)
    person_id = fields.Integer(required=True)
    message_id = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"description": "the consultation's status: "
                                                    "`new`, or `pending_guardian` for a child "
                                                    "under 14 (R12)"})
