"""Inbound email webhooks: `POST /webhooks/email/raw`, `/sendgrid`, `/mailgun`.

Each route verifies its sender before reading anything else, turns the request into the raw
RFC 5322 bytes (SendGrid's and Mailgun's parsed fields are rebuilt into one MIME message, so a
single parser serves every route), and hands the parsed mail to `channels.email.inbound.accept`.
A 2xx means committed; a refused request writes nothing. Registered by `channels.email`.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from email.message import EmailMessage
from email.parser import BytesParser, HeaderParser
from email.policy import default as default_policy
from hashlib import sha256

from flask import Blueprint, Request, Response, request
from sqlalchemy.exc import IntegrityError

from channels.email.inbound import accept
from channels.email.parsing import UnreadableEmail, decode_bytes, parse_bytes
from intake.api.docs import documented
from intake.errors import error_response
from intake.hub import current_hub
from intake.models import MailgunToken
from intake.services.receive import InquiryRejected

log = logging.getLogger(__name__)
bp = Blueprint("email_webhooks", __name__, url_prefix="/webhooks/email")

RAW_TYPES = ("message/rfc822", "application/octet-stream", "text/plain")
MAILGUN_MAX_AGE = 15 * 60
# Headers carried over when a provider's parsed fields are rebuilt into one message.
KEPT_HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To",
                "References", "Auto-Submitted", "Precedence", "X-Autoreply", "X-Autorespond",
                "Delivered-To", "Reply-To", "X-Fax-From", "X-Caller-ID")


def _secret_matches(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _accept_raw(raw: bytes, route: str) -> Response:
    hub = current_hub()
    try:
        parsed = parse_bytes(raw)
    except UnreadableEmail as exc:
        return error_response(400, "unreadable_email", str(exc))
    try:
        outcome = accept(hub, parsed)
    except InquiryRejected as exc:
        log.info("channels.email.rejected", extra={"route": route, "field": exc.field})
        return error_response(422, "rejected", str(exc), field=exc.field)
    return Response(json.dumps(outcome.as_json()), status=200, mimetype="application/json")


@bp.post("/raw")
@documented("/webhooks/email/raw", "post", "Inbound email or fax-to-email as a whole RFC 5322 "
            "message (local MTA pipe; X-Intake-Secret)", "webhooks",
            errors=(400, 401, 403, 413, 415, 422))
def raw_route() -> Response:
    """A local MTA pipes the whole message here (X-Intake-Secret)."""
    expected = current_hub().settings.inbound_email_secret
    given = request.headers.get("X-Intake-Secret")
    if not given:
        log.warning("channels.email.secret_missing", extra={"route": "raw"})
        return error_response(401, "unauthorised", "X-Intake-Secret is required")
    if not _secret_matches(given, expected):
        log.warning("channels.email.secret_invalid", extra={"route": "raw"})
        return error_response(403, "forbidden", "X-Intake-Secret does not match")
    if request.mimetype not in RAW_TYPES:
        return error_response(415, "unsupported_media_type",
                              "send the message as message/rfc822")
    return _accept_raw(request.get_data(cache=False), "raw")


def _rebuild(headers_text: str | list[tuple[str, str]], text: str | None, html: str | None,
             req: Request, file_prefix: str) -> bytes:
    """One MIME message from a provider's parsed fields and uploaded files."""
    msg = EmailMessage(policy=default_policy)
    if isinstance(headers_text, str):
        pairs = list(HeaderParser(policy=default_policy).parsestr(headers_text).raw_items())
    else:
        pairs = [(str(k), str(v)) for k, v in headers_text]
    wanted = {h.lower(): h for h in KEPT_HEADERS}
    for name, value in pairs:
        if name.lower() in wanted and msg.get(name) is None:
            msg[wanted[name.lower()]] = " ".join(str(value).split())
    for field, header in (("from", "From"), ("subject", "Subject"), ("to", "To")):
        if msg.get(header) is None and req.form.get(field):
            msg[header] = req.form[field]
    if text or not html:
        msg.set_content(text or "", subtype="plain", charset="utf-8")
        if html:
            msg.add_alternative(html, subtype="html", charset="utf-8")
    else:
        msg.set_content(html, subtype="html", charset="utf-8")
    for name in sorted(req.files, key=lambda n: (len(n), n)):
        if not name.startswith(file_prefix):
            continue
        upload = req.files[name]
        data = upload.read()
        maintype, _, subtype = (upload.mimetype or "application/octet-stream").partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream",
                           filename=upload.filename or name)
    return msg.as_bytes()


@bp.post("/sendgrid")
@documented("/webhooks/email/sendgrid", "post", "SendGrid Inbound Parse (secret as basic-auth "
            "password or `secret` query parameter)", "webhooks", errors=(400, 401, 403, 422))
def sendgrid_route() -> Response:
    """SendGrid Inbound Parse: secret as basic-auth password or `secret` query parameter."""
    expected = current_hub().settings.inbound_email_secret
    given = request.authorization.password if request.authorization else None
    given = given or request.args.get("secret")
    if not given:
        log.warning("channels.email.secret_missing", extra={"route": "sendgrid"})
        response = error_response(401, "unauthorised", "the inbound secret is required")
        response.headers["WWW-Authenticate"] = 'Basic realm="inbound-email"'
        return response
    if not _secret_matches(given, expected):
        log.warning("channels.email.secret_invalid", extra={"route": "sendgrid"})
        return error_response(403, "forbidden", "the inbound secret does not match")
    # The form's text parts as the bytes SendGrid sent: Werkzeug decodes every field as
    # UTF-8, which garbles an EUC-KR body or a raw message with 8-bit parts.
    fields = _form_bytes(request.get_data(cache=True), request.content_type or "")
    raw = fields.get("email") or (request.form.get("email") or "").encode()
    if raw:
        return _accept_raw(raw, "sendgrid")
    if not request.form.get("headers") and not request.form.get("from"):
        return error_response(400, "unreadable_email", "no email, headers or from field")
    try:
        charsets = json.loads(request.form.get("charsets") or "{}")
    except ValueError:
        charsets = {}
    charsets = charsets if isinstance(charsets, dict) else {}

    def text_field(name: str) -> str | None:
        if name not in fields:
            return request.form.get(name)
        return decode_bytes(fields[name], str(charsets.get(name) or "utf-8"))

    rebuilt = _rebuild(request.form.get("headers", ""), text_field("text"), text_field("html"),
                       request, "attachment")
    return _accept_raw(rebuilt, "sendgrid")


def _form_bytes(body: bytes, content_type: str) -> dict[str, bytes]:
    """The undecoded value of each non-file field of a multipart/form-data body."""
    if not content_type.lower().startswith("multipart/form-data"):
        return {}
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    form = BytesParser(policy=default_policy).parsebytes(head + body)
    out: dict[str, bytes] = {}
    for part in form.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            out[name] = payload
    return out


def mailgun_signature_valid(key: str, timestamp: str, token: str, signature: str) -> bool:
    if not (key and timestamp and token and signature):
        return False
    expected = hmac.new(key.encode(), (timestamp + token).encode(), sha256).hexdigest()
    return hmac.compare_digest(expected, signature.lower())


def _mailgun_refused(reason: str) -> Response:
    log.warning("channels.email.mailgun_refused", extra={"reason": reason})
    return error_response(406, "not_acceptable", reason)


@bp.post("/mailgun")
@documented("/webhooks/email/mailgun", "post", "Mailgun route forward() (signed; 406 refuses "
            "permanently)", "webhooks", errors=(406,))
def mailgun_route() -> Response:
    """Mailgun route forward(): signature, freshness, one token per message; 406 stops
    Mailgun retrying, so every permanent refusal answers it."""
    hub = current_hub()
    form = request.form
    timestamp, token = form.get("timestamp", ""), form.get("token", "")
    if not mailgun_signature_valid(hub.settings.mailgun_signing_key, timestamp, token,
                                   form.get("signature", "")):
        return _mailgun_refused("signature invalid")
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        return _mailgun_refused("timestamp invalid")
    if age > MAILGUN_MAX_AGE:
        return _mailgun_refused("timestamp outside the 15-minute window")
    mime = form.get("body-mime")
    if mime:
        raw = mime.encode("utf-8", "surrogateescape")
    else:
        try:
            pairs = json.loads(form.get("message-headers") or "[]")
        except ValueError:
            pairs = []
        if not isinstance(pairs, list):  # valid JSON of another shape counts as no headers
            pairs = []
        if not pairs and form.get("Message-Id"):
            pairs = [["Message-ID", form["Message-Id"]]]
        raw = _rebuild([(str(p[0]), str(p[1])) for p in pairs
                        if isinstance(p, list) and len(p) == 2],
                       form.get("body-plain"), form.get("body-html"), request, "attachment-")
    try:
        parsed = parse_bytes(raw)
    except UnreadableEmail as exc:
        return error_response(406, "unreadable_email", str(exc))
    if not _claim_token(token, parsed.provider_id):
        return _mailgun_refused("token already used for another message")
    try:
        outcome = accept(hub, parsed)
    except InquiryRejected as exc:
        return error_response(406, "rejected", str(exc), field=exc.field)
    return Response(json.dumps(outcome.as_json()), status=200, mimetype="application/json")


def _claim_token(token: str, message_key: str) -> bool:
    """Record the token for this message; False if it was seen on a different message."""
    hub = current_hub()
    key = message_key[:255]
    with hub.db.begin() as session:
        seen = session.get(MailgunToken, token[:128])
        if seen is not None:
            return seen.message_key == key
    try:
        with hub.db.begin() as session:
            session.add(MailgunToken(token=token[:128], message_key=key))
    except IntegrityError:
        with hub.db.begin() as session:
            seen = session.get(MailgunToken, token[:128])
            return seen is not None and seen.message_key == key
    return True
