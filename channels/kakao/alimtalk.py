"""AlimTalk: informational KakaoTalk messages out, through a business-message provider.

- `Template` / `TemplateRegistry`: the clinic's AlimTalk templates (code, text with `#{var}`
  variables, class), loaded from `alimtalk_templates.json` next to this module and registered in
  the hub as `hub.services["alimtalk_templates"]`. Only `informational` templates that pass the
  R49 advertising lint are accepted (R56): anything else is refused with `TemplateRefused`.
- `BizMessageProvider`: the small provider interface (one call: send one templated message);
  `NhnCloudAlimTalk` implements NHN Cloud's KakaoTalk Bizmessage AlimTalk API v2.3
  (`POST {base}/alimtalk/v2.3/appkeys/{appKey}/messages`, `X-Secret-Key`, and the delivery's
  idempotency key in `X-NC-API-IDEMPOTENCY-KEY`). Solapi or NAVER Cloud SENS would be another
  implementation of the same interface.
- `AlimTalkSender`: the `channels.base.Sender` for channel `kakao`: picks the template for the
  delivery, resolves the person's mobile number (AlimTalk is addressed by phone number, the
  delivery by the Kakao user key), lints the rendered text, calls the provider.

Built by `channels.kakao.senders` only when `ALIMTALK_API_BASE_URL`, `ALIMTALK_APP_KEY`,
`ALIMTALK_SECRET_KEY` and `ALIMTALK_SENDER_KEY` are all set. The SMS fallback when a send fails
for good lives in `workers/kakao_jobs.py` (it needs the send-time policy and the outbox).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests
from sqlalchemy import select

from channels.base import (
    Outgoing,
    PermanentSendError,
    SendResult,
    TransientSendError,
    UnknownOutcomeError,
)
from intake.contacts import mask_phone
from intake.db import Database
from intake.hub import Hub
from intake.models import ContactPoint

log = logging.getLogger("channels.kakao.alimtalk")

TEMPLATES_FILE = Path(__file__).with_name("alimtalk_templates.json")
INFORMATIONAL = "informational"
# R49: words that make a message read as advertising (Kakao judges discount, promotion or event
# content as advertising even inside "information").
ADVERTISING_WORDS: tuple[str, ...] = (
    "할인", "이벤트", "특가", "프로모션", "쿠폰", "무료", "후기", "전후", "1+1", "%", "가격",
    "혜택", "적립", "사은품", "discount", "event", "price", "coupon", "promotion", "free",
    "sale", "before/after", "before and after", "review",
)
VARIABLE = re.compile(r"#\{([^}]+)\}")
# The template a delivery uses when its headers name none: acknowledgements carry `auto`.
ACK_TEMPLATE, REPLY_TEMPLATE = "INTAKE_ACK", "INTAKE_REPLY"
REQUEST_TIMEOUT = (3.05, 10)  # connect, read (seconds)


class TemplateRefused(ValueError):
    """A template cannot be used for AlimTalk (R56)."""


class AdvertisingContent(PermanentSendError):
    """The rendered message reads as advertising: AlimTalk may not carry it (R49, R56), and
    neither may an informational SMS fallback."""


class NoKakaoRecipient(PermanentSendError):
    """The person has no mobile number AlimTalk can be addressed to."""


def advertising_words(text: str) -> list[str]:
    """The R49 blocklist words found in `text` (case-insensitive)."""
    lowered = text.lower()
    return [word for word in ADVERTISING_WORDS if word in lowered]


@dataclass(frozen=True)
class Template:
    code: str
    text: str
    klass: str = INFORMATIONAL

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(VARIABLE.findall(self.text)))

    def render(self, params: Mapping[str, str]) -> str:
        return VARIABLE.sub(lambda m: str(params.get(m.group(1), m.group(0))), self.text)


def check_template(template: Template) -> Template:
    """Accept only informational templates without advertising words (R56 via R49)."""
    if not template.code or len(template.code) > 20:
        raise TemplateRefused(f"template code {template.code!r} must be 1-20 characters")
    if template.klass != INFORMATIONAL:
        raise TemplateRefused(f"template {template.code} is class {template.klass!r}: AlimTalk "
                              "carries informational messages only (R56)")
    found = advertising_words(template.text)
    if found:
        raise TemplateRefused(f"template {template.code} reads as advertising "
                              f"({', '.join(found)}): AlimTalk is for information only (R56, R49)")
    return template


class TemplateRegistry:
    """The clinic's AlimTalk templates by code; every one passed `check_template`."""

    def __init__(self) -> None:
        self._templates: dict[str, Template] = {}

    def register(self, template: Template) -> Template:
        self._templates[template.code] = check_template(template)
        return template

    def get(self, code: str) -> Template:
        try:
            return self._templates[code]
        except KeyError:
            raise PermanentSendError(f"no AlimTalk template {code!r} registered") from None

    def codes(self) -> tuple[str, ...]:
        return tuple(self._templates)

    @classmethod
    def load(cls, path: Path = TEMPLATES_FILE) -> TemplateRegistry:
        registry = cls()
        for item in json.loads(path.read_text(encoding="utf-8")):
            registry.register(Template(code=item["code"], text=item["text"],
                                       klass=item.get("class", INFORMATIONAL)))
        return registry


class BizMessageProvider(Protocol):
    """One business-message provider's AlimTalk call (NHN Cloud here; Solapi, SENS later)."""

    name: str

    def send(self, recipient_no: str, template: Template, params: Mapping[str, str],
             idempotency_key: str) -> SendResult: ...


def national_number(e164: str) -> str:
    """`+821012345678` -> `01012345678`: the Korean providers take domestic digits."""
    digits = re.sub(r"\D", "", e164)
    return "0" + digits[2:] if e164.startswith("+82") else digits


class NhnCloudAlimTalk:
    """NHN Cloud KakaoTalk Bizmessage, AlimTalk API v2.3, replacement send ("치환 발송").

    Success: `header.isSuccessful` true and the recipient's `sendResults[].resultCode` 0. The
    send is accepted by the provider then (`sent`); the handset result comes later and is not
    polled here. `X-NC-API-IDEMPOTENCY-KEY` makes the provider refuse a second request with the
    same key for 10 minutes, so a retried job never sends twice.
    """

    name = "nhncloud"

    def __init__(self, base_url: str, app_key: str, secret_key: str, sender_key: str,
                 session: requests.Session | None = None) -> None:
        self._url = f"{base_url.rstrip('/')}/alimtalk/v2.3/appkeys/{app_key}/messages"
        self._secret = secret_key
        self._sender_key = sender_key
        self._http = session or requests.Session()

    def send(self, recipient_no: str, template: Template, params: Mapping[str, str],
             idempotency_key: str) -> SendResult:
        body = {"senderKey": self._sender_key, "templateCode": template.code,
                "recipientList": [{"recipientNo": recipient_no,
                                   "templateParameter": dict(params),
                                   "recipientGroupingKey": idempotency_key}]}
        headers = {"X-Secret-Key": self._secret,
                   "Content-Type": "application/json;charset=UTF-8",
                   "X-NC-API-IDEMPOTENCY-KEY": idempotency_key}
        try:
            response = self._http.post(self._url, data=json.dumps(body, ensure_ascii=False)
                                       .encode(), headers=headers, timeout=REQUEST_TIMEOUT)
        except requests.ConnectionError as exc:
            # Includes ConnectTimeout. Should the request have reached NHN Cloud after all, the
            # retry carries the same idempotency key and is refused rather than sent twice.
            raise TransientSendError(f"AlimTalk: cannot connect ({type(exc).__name__})") from exc
        except requests.Timeout as exc:
            raise UnknownOutcomeError(f"AlimTalk: no answer ({type(exc).__name__})") from exc
        return self._result(response)

    def _result(self, response: requests.Response) -> SendResult:
        status = response.status_code
        if status == 429 or status >= 500:
            # Not processed; the idempotency key keeps a retry from sending twice.
            raise TransientSendError(f"AlimTalk: HTTP {status}")
        if status in (401, 403):
            raise PermanentSendError(f"AlimTalk: credentials refused (HTTP {status})")
        try:
            data = response.json()
        except ValueError:
            raise UnknownOutcomeError(f"AlimTalk: unreadable answer (HTTP {status})") from None
        header = data.get("header") or {}
        if not header.get("isSuccessful"):
            raise PermanentSendError(f"AlimTalk refused: {header.get('resultCode')} "
                                     f"{header.get('resultMessage', '')}".strip())
        message = data.get("message") or {}
        results = message.get("sendResults") or []
        first = results[0] if results else {}
        if str(first.get("resultCode", "")) not in ("0", ""):
            raise PermanentSendError(f"AlimTalk recipient refused: {first.get('resultCode')} "
                                     f"{first.get('resultMessage', '')}".strip())
        request_id = message.get("requestId") or ""
        seq = first.get("recipientSeq", 1)
        return SendResult(provider_id=f"{request_id}:{seq}" if request_id else None,
                          status="sent")


class AlimTalkSender:
    """`channels.base.Sender` for channel `kakao`, over any `BizMessageProvider`."""

    channel = "kakao"

    def __init__(self, provider: BizMessageProvider, templates: TemplateRegistry,
                 db: Database, clinic_name: str) -> None:
        self.provider = provider
        self.templates = templates
        self._db = db
        self._clinic_name = clinic_name

    def _recipient_no(self, message: Outgoing) -> str:
        explicit = message.headers.get("recipient_no")
        if isinstance(explicit, str) and explicit:
            return national_number(explicit)
        if message.recipient.startswith("+"):
            return national_number(message.recipient)
        # The delivery is addressed to the Kakao user key: AlimTalk needs the same person's
        # mobile number (given in the Kakao consultation flow).
        with self._db.begin() as session:
            person_id = session.scalar(select(ContactPoint.person_id).where(
                ContactPoint.kind == "kakao", ContactPoint.value == message.recipient))
            phone = None if person_id is None else session.scalar(
                select(ContactPoint.value).where(ContactPoint.person_id == person_id,
                                                 ContactPoint.kind == "phone")
                .order_by(ContactPoint.id).limit(1))
        if phone is None:
            raise NoKakaoRecipient("no mobile number for KakaoTalk (AlimTalk)")
        return national_number(phone)

    def send(self, message: Outgoing) -> SendResult:
        code = message.headers.get("template_code") or (
            ACK_TEMPLATE if message.headers.get("auto") else REPLY_TEMPLATE)
        template = self.templates.get(str(code))
        params = {"clinic": self._clinic_name, "message": message.body,
                  **{str(k): str(v) for k, v in
                     (message.headers.get("template_parameters") or {}).items()}}
        found = advertising_words(template.render(params))
        if found:
            raise AdvertisingContent(f"message reads as advertising ({', '.join(found)}): not "
                                     "sent by AlimTalk (R56, R49)")
        recipient_no = self._recipient_no(message)
        result = self.provider.send(recipient_no, template, params, message.idempotency_key)
        log.info("channels.kakao.alimtalk_sent delivery=%s to=%s template=%s",
                 message.delivery_id, mask_phone("+82" + recipient_no[1:]), template.code)
        return result


def build_sender(hub: Hub) -> AlimTalkSender | None:
    """The AlimTalk sender when all four settings are set, else None (development sink)."""
    settings = hub.settings
    templates = hub.services.get("alimtalk_templates")
    if templates is None:
        templates = TemplateRegistry.load()
        hub.register("alimtalk_templates", templates)
    if not (settings.alimtalk_api_base_url and settings.alimtalk_app_key
            and settings.alimtalk_secret_key and settings.alimtalk_sender_key):
        return None
    provider = NhnCloudAlimTalk(settings.alimtalk_api_base_url, settings.alimtalk_app_key,
                                settings.alimtalk_secret_key, settings.alimtalk_sender_key)
    return AlimTalkSender(provider, templates, hub.db, hub.clinic.name)
