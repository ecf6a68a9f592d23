"""`GET /consult` and `POST /consult`: the homepage consultation form, server-rendered.

Owns the page (Korean by default, English with `?lang=en` or `Accept-Language: en`), the
consent notices and separate, unticked consent checkboxes (R1-R4, R6), the conversion of form
fields to the inquiry schema's shape, and the one-time form token: a signed random value that
becomes the message's provider id, so a double submit or a refresh of the answer stores one
consultation. No JavaScript is needed.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from marshmallow import ValidationError
from werkzeug.datastructures import MultiDict

from channels.web.adapter import WebSource, build_inquiry
from channels.web.limits import client_allowed
from channels.web.schemas import MARKETING_CHANNELS, SEXES, InquirySchema, field_errors
from channels.web.texts import FIELD_HINTS, INTEREST_LABELS, LOCALES, TEXTS
from intake import metrics
from intake.app import client_address
from intake.hub import Hub, current_hub
from intake.inquiry import Receipt
from intake.redaction import mask_identifiers
from intake.services.receive import InquiryRejected, receive_once
from intake.vocab import ConsultationStatus

log = logging.getLogger("channels.web.form")

bp = Blueprint("web_form", __name__, template_folder="templates")

TOKEN_SALT = "channels.web.consult-form"
TOKEN_MAX_AGE = 24 * 3600
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")

TEXT_FIELDS = ("name", "phone", "email", "sex", "birth_date", "age", "region",
               "preferred_hours", "message", "reply_channel")
GUARDIAN_FIELDS = ("guardian_name", "guardian_phone")
FORM_REPLY_CHANNELS = ("sms", "email", "phone")  # Kakao cannot answer a web inquiry
# Email advertising is not restricted at night (R43), so night consent is not asked for it.
NIGHT_CHANNELS = tuple(ch for ch in MARKETING_CHANNELS if ch != "email")
CONSENT_NOTICES = ("consent.collection", "consent.sensitive_health", "consent.marketing",
                   "consent.marketing_night")
# R3: the parts of each notice shown conspicuously (retention everywhere, sensitive information,
# and that the clinic will contact the person to advertise).
IMPORTANT_PARTS = {
    "consent.collection": ("retention",),
    "consent.sensitive_health": ("purpose", "items", "retention"),
    "consent.marketing": ("purpose", "items", "retention"),
    "consent.marketing_night": ("purpose", "retention"),
    "consent.request_response": ("retention",),
}
# Where a schema error is shown on the page.
SLOTS = {"consents": "consent_sensitive_health",
         "consents.sensitive_health": "consent_sensitive_health",
         "consents.marketing": "marketing", "consents.marketing_night": "marketing_night",
         "guardian.name": "guardian_name", "guardian.phone": "guardian_phone",
         "guardian": "guardian", "consent_collection": "consent_collection",
         **{name: name for name in (*TEXT_FIELDS, "interests")}}


# -- the one-time token -----------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def issue_token() -> str:
    return _serializer().dumps(secrets.token_urlsafe(16))


def read_token(token: str) -> str | None:
    """The token's random value if the signature holds and it is under 24 hours old."""
    if not token or len(token) > 500:
        return None
    try:
        nonce = _serializer().loads(token, max_age=TOKEN_MAX_AGE)
    except BadSignature:  # SignatureExpired included
        return None
    return nonce if isinstance(nonce, str) and _NONCE.fullmatch(nonce) else None


# -- locale and fields ------------------------------------------------------------------------

def page_locale() -> str:
    """`?lang=` first, then the browser's Accept-Language, else Korean."""
    lang = request.args.get("lang")
    if lang in LOCALES:
        return lang
    best = request.accept_languages.best_match(LOCALES)
    return best if best in LOCALES else "ko"


def posted_locale(form: MultiDict[str, str]) -> str:
    lang = form.get("locale")
    return lang if lang in LOCALES else "ko"


def form_payload(form: MultiDict[str, str]) -> dict[str, Any]:
    """The form's fields in the JSON inquiry's shape: empty inputs left out, checkboxes as
    lists and booleans."""
    payload: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = form.get(name, "").strip()
        if value:
            payload[name] = value
    if "age" in payload and re.fullmatch(r"[0-9]{1,3}", payload["age"]):
        payload["age"] = int(payload["age"])  # anything else stays a string: the schema says so
    if interests := form.getlist("interests"):
        payload["interests"] = interests
    payload["consents"] = {"sensitive_health": "consent_sensitive_health" in form,
                           "marketing": form.getlist("marketing"),
                           "marketing_night": form.getlist("marketing_night")}
    guardian = {key: form.get(f"guardian_{key}", "").strip() for key in ("name", "phone")}
    if any(guardian.values()):
        payload["guardian"] = {key: value for key, value in guardian.items() if value}
    payload["locale"] = posted_locale(form)
    return payload


def kept_values(form: MultiDict[str, str]) -> dict[str, Any]:
    """What the person entered, to fill the form again; free text with any RRN masked (R9), and
    only the boxes the person ticked (a consent is never ticked for them, R4)."""
    values: dict[str, Any] = {name: mask_identifiers(form.get(name, ""))[0][:5000]
                              for name in (*TEXT_FIELDS, *GUARDIAN_FIELDS)}
    values["interests"] = set(form.getlist("interests"))
    values["marketing"] = set(form.getlist("marketing")) & set(MARKETING_CHANNELS)
    values["marketing_night"] = set(form.getlist("marketing_night")) & set(NIGHT_CHANNELS)
    values["consent_collection"] = "consent_collection" in form
    values["consent_sensitive_health"] = "consent_sensitive_health" in form
    return values


def page_errors(fields: dict[str, list[str]], locale: str) -> dict[str, list[str]]:
    """Schema errors by page slot, in the person's language."""
    hints = FIELD_HINTS[locale]
    out: dict[str, list[str]] = {}
    for key, messages in fields.items():
        slot = SLOTS.get(key, "general")
        out[slot] = [hints[slot]] if slot in hints else list(messages)
    return out


# -- rendering --------------------------------------------------------------------------------

def _page(template: str, locale: str, status: int = 200, **context: Any) -> Response:
    hub = current_hub()
    body = render_template(f"web_form/{template}", locale=locale, t=TEXTS[locale],
                           clinic_name=hub.clinic.display_name(locale),
                           clinic_phone=hub.clinic.phone, **context)
    return Response(body, status=status, mimetype="text/html")


def _form_page(hub: Hub, locale: str, *, values: dict[str, Any] | None = None,
               errors: dict[str, list[str]] | None = None, token: str | None = None,
               status: int = 200) -> Response:
    notices = hub.clinic.notices
    labels = INTEREST_LABELS.get(locale, {})
    t = TEXTS[locale]
    return _page(
        "form.html", locale, status,
        values=values or {}, errors=errors or {}, form_token=token or issue_token(),
        other_locale="en" if locale == "ko" else "ko",
        notices={key: notices.consent(key, locale)
                 for key in (*CONSENT_NOTICES, "consent.request_response")},
        important=IMPORTANT_PARTS,
        interests=[(code, labels.get(code, code)) for code in hub.clinic.interests],
        sexes=[(code, t[f"sex.{code}"]) for code in SEXES],
        reply_channels=[(code, t[f"reply.{code}"]) for code in FORM_REPLY_CHANNELS],
        marketing_channels=[(ch, notices.text(f"channel.{ch}", locale))
                            for ch in MARKETING_CHANNELS],
        night_channels=[(ch, notices.text(f"channel.{ch}", locale)) for ch in NIGHT_CHANNELS],
    )


@bp.after_request
def _no_store(response: Response) -> Response:
    # Each page carries a one-time token or a reference number: never cached, never framed.
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'")
    return response


# -- routes -----------------------------------------------------------------------------------

@bp.get("/consult")
def consult_form() -> Response:
    return _form_page(current_hub(), page_locale())


@bp.post("/consult")
def consult_submit() -> Response:
    hub = current_hub()
    form = request.form
    locale = posted_locale(form)
    allowed, retry_after = client_allowed(hub)
    if not allowed:
        log.info("channels.web.form.refused reason=rate_limited")
        metrics.refused(hub.redis, "consult", "rate_limited")
        response = _page("message.html", locale, 429, title_key="rate_limited_title",
                         body_key="rate_limited_body")
        response.headers["Retry-After"] = str(retry_after)
        return response
    token = form.get("form_token", "")
    nonce = read_token(token)
    if nonce is None:
        log.info("channels.web.form.refused reason=bad_token")
        metrics.refused(hub.redis, "consult", "bad_token")
        return _page("message.html", locale, 400, title_key="bad_token_title",
                     body_key="bad_token_body", reload=True)

    fields: dict[str, list[str]] = {}
    receipt: Receipt | None = None
    try:
        data = InquirySchema(interests=hub.clinic.interests, tz=hub.clinic.tz).load(
            form_payload(form))
    except ValidationError as exc:
        fields = field_errors(exc.messages)
    if "consent_collection" not in form:
        fields["consent_collection"] = ["the collection and use consent is required"]
    if not fields:
        inquiry = build_inquiry(data, hub.clinic, provider_id=f"form:{nonce}",
                                source=WebSource.FORM, source_ip=client_address())
        try:
            receipt = receive_once(hub.db, inquiry, hub.clinic)
        except InquiryRejected as exc:
            fields = {exc.field: [str(exc)]}
    if receipt is None:
        # Nothing was stored: the same page again, with what the person entered.
        metrics.refused(hub.redis, "consult", "validation")
        log.info("channels.web.form.refused reason=validation fields=%s",
                 ",".join(sorted(fields)))
        return _form_page(hub, locale, values=kept_values(form),
                          errors=page_errors(fields, locale), token=token, status=422)

    log.info("channels.web.form.received consultation_id=%s created=%s",
             receipt.consultation_id, receipt.created)
    return _page("thanks.html", data.locale, reference=receipt.consultation_id,
                 guardian=receipt.status == ConsultationStatus.PENDING_GUARDIAN)
