"""Twilio's webhooks: inbound SMS/MMS, calls, voicemail recordings and transcripts, and
outbound message status. Every route verifies `X-Twilio-Signature` first (`signature`), then
commits what it carries in one transaction and answers at once; media, recordings and
transcription follow through the outbox and Twilio's own callbacks.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.twiml import TwiML
from twilio.twiml.messaging_response import MessagingResponse
from werkzeug.datastructures import MultiDict

from channels.twilio.media import FETCH_MEDIA_JOB
from channels.twilio.signature import verified
from channels.twilio.voice import TwilioTranscriber, after_dial, call_response, goodbye
from intake.contacts import InvalidContact, mask_phone, normalise
from intake.errors import error_response
from intake.hub import current_hub
from intake.inquiry import ContactValue, InboundAttachment, Inquiry, Receipt
from intake.models import Attachment, Consultation, Message
from intake.redaction import mentions_health, storable_text
from intake.services.consent import has_sensitive_consent
from intake.services.deliveries import enqueue_job
from intake.services.optout import apply_keyword, keyword_of
from intake.services.provider_status import apply_status
from intake.services.receive import InquiryRejected, receive_once
from intake.vocab import Channel, ConsentMethod, Direction

log = logging.getLogger("channels.twilio")
bp = Blueprint("twilio", __name__, url_prefix="/webhooks/twilio")
MAX_MEDIA = 10  # Twilio sends at most 10 media items per message
CALLBACK_REQUESTED = "callback requested"


def twiml(response: TwiML) -> Response:
    return Response(str(response), status=200, mimetype="text/xml")


def _now() -> datetime:
    return datetime.now(UTC)


def _masked(raw: str) -> str:
    try:
        return mask_phone(normalise("phone", raw))
    except InvalidContact:
        return "***"


# Twilio's ids are two letters and 32 hex digits; anything id-like of sane length is taken (a
# stand-in's ids are shorter), anything else is a 400 before it reaches the database.
_SID = re.compile(r"[A-Z]{2}[0-9A-Za-z]{1,64}")
_CONTENT_TYPE = re.compile(r"[\w.+-]{1,50}/[\w.+-]{1,49}")
_MAX_URL = 1000  # attachments.source_url


class BadTwilioRequest(ValueError):
    """A verified request with a field missing or one no column can hold: answered 400 by the
    blueprint's handler, before anything is stored."""


@bp.errorhandler(BadTwilioRequest)
def _bad_request(exc: BadTwilioRequest) -> Response:
    return error_response(400, "bad_request", str(exc))


def _sid(value: str | None, name: str) -> str:
    if not value or not _SID.fullmatch(value):
        raise BadTwilioRequest(f"{name} must be a Twilio id")
    return value


def _url(value: str | None, name: str) -> str:
    if not value or not value.startswith(("https://", "http://")) or len(value) > _MAX_URL \
            or not value.isprintable():
        raise BadTwilioRequest(f"{name} must be an http(s) URL")
    return value


def _media(form: MultiDict[str, str]) -> tuple[InboundAttachment, ...]:
    get = form.get
    raw = get("NumMedia") or "0"
    if not raw.isdigit() or int(raw) > MAX_MEDIA:
        raise BadTwilioRequest("NumMedia must be a number from 0 to 10")
    items = []
    for index in range(int(raw)):
        url = _url(get(f"MediaUrl{index}"), f"MediaUrl{index}")
        content_type = get(f"MediaContentType{index}") or None
        if content_type is not None and not _CONTENT_TYPE.fullmatch(content_type):
            raise BadTwilioRequest(f"MediaContentType{index} must be a media type")
        items.append(InboundAttachment(filename=url.rsplit("/", 1)[-1][:255],
                                       content_type=content_type,
                                       provider_id=url.rsplit("/", 1)[-1][:255],
                                       source_url=url))
    return tuple(items)


def _fetch_attachments(session: Session, message_id: int) -> int:
    ids = list(session.scalars(select(Attachment.id).where(
        Attachment.message_id == message_id, Attachment.storage_key.is_(None),
        Attachment.source_url.is_not(None))))
    for attachment_id in ids:
        enqueue_job(session, FETCH_MEDIA_JOB, {"attachment_id": attachment_id})
    return len(ids)


@bp.post("/sms")
@verified
def sms() -> Response:
    """An inbound SMS or MMS: idempotent on MessageSid; answered with empty TwiML."""
    hub = current_hub()
    form = request.form
    sender = form.get("From")
    if not sender:
        return error_response(400, "bad_request", "MessageSid and From are required")
    sid = _sid(form.get("MessageSid") or form.get("SmsMessageSid"), "MessageSid")
    media = _media(form)
    body = form.get("Body") or None
    keyword = keyword_of(body, form.get("OptOutType"))
    at = _now()
    inquiry = Inquiry(channel=Channel.SMS, provider_id=sid, received_at=at,
                      contacts=(ContactValue("phone", sender),), body=body, attachments=media,
                      raw={"num_media": len(media), "num_segments": form.get("NumSegments"),
                           "keyword": str(keyword) if keyword else None})

    def after(session: Session, receipt: Receipt) -> None:
        if media:
            _fetch_attachments(session, receipt.message_id)
            # R8: a photo of the body is health data; without the consent the counsellor asks
            # for it (or redacts) before using it beyond the answer.
            if not has_sensitive_consent(session, receipt.person_id):
                consultation = session.get_one(Consultation, receipt.consultation_id)
                consultation.needs_health_consent = True
        if keyword is not None:
            apply_keyword(session, hub.clinic, keyword=keyword, person_id=receipt.person_id,
                          consultation_id=receipt.consultation_id,
                          recipient=normalise("phone", sender), message_sid=sid,
                          word=body or form.get("OptOutType"),
                          method=ConsentMethod.SMS_KEYWORD, at=at)

    try:
        receipt = receive_once(hub.db, inquiry, hub.clinic, after)
    except InquiryRejected as exc:
        log.info("channels.twilio.sms_refused reason=%s", exc.field)
        return error_response(422, "validation_failed", str(exc), fields={exc.field: [str(exc)]})
    log.info("channels.twilio.sms_received from=%s consultation=%s created=%s media=%d "
             "keyword=%s", _masked(sender), receipt.consultation_id, receipt.created,
             len(media), keyword or "-")
    return twiml(MessagingResponse())


@bp.post("/voice")
@verified
def voice() -> Response:
    """A call: open (or thread) the consultation at once, then greet, forward or record."""
    hub = current_hub()
    settings, transcriber = hub.settings, TwilioTranscriber()
    step = request.args.get("step")
    if step == "recorded":
        return twiml(goodbye(settings, hub.clinic))
    if step == "dialled":
        return twiml(after_dial(settings, hub.clinic, request.form.get("DialCallStatus", ""),
                                transcriber))
    caller = request.form.get("From", "")
    call_sid = _sid(request.form.get("CallSid"), "CallSid")
    at = _now()
    inquiry = Inquiry(channel=Channel.VOICE, provider_id=call_sid, received_at=at,
                      contacts=(ContactValue("phone", caller),), subject=CALLBACK_REQUESTED,
                      reply_channel="phone", raw={"call_status": request.form.get("CallStatus")})
    try:
        receipt = receive_once(hub.db, inquiry, hub.clinic)
        log.info("channels.twilio.call_received from=%s consultation=%s created=%s",
                 _masked(caller), receipt.consultation_id, receipt.created)
    except InquiryRejected:
        # A withheld or invalid number: greet and record anyway; nobody can be called back.
        log.info("channels.twilio.call_without_number")
    return twiml(call_response(settings, hub.clinic, at, transcriber))


def _call_message(session: Session, call_sid: str) -> Message | None:
    return session.scalar(select(Message).where(
        Message.channel == Channel.VOICE, Message.direction == Direction.IN,
        Message.provider_id == call_sid))


@bp.post("/voice/recording")
@verified
def recording() -> Response:
    """`recordingStatusCallback`: the voicemail joins the call's message as an attachment
    (provider_id = RecordingSid, idempotent); a worker fetches and stores the audio."""
    hub = current_hub()
    form = request.form
    call_sid, recording_sid, url = (form.get("CallSid"), form.get("RecordingSid"),
                                    form.get("RecordingUrl"))
    if not call_sid or not recording_sid or not url:
        return error_response(400, "bad_request", "CallSid, RecordingSid and RecordingUrl "
                              "are required")
    call_sid, recording_sid = _sid(call_sid, "CallSid"), _sid(recording_sid, "RecordingSid")
    url = _url(url, "RecordingUrl")
    if form.get("RecordingStatus", "completed") != "completed":
        return Response(status=204)
    outcome = "unknown_call"
    with hub.db.begin() as session:
        message = _call_message(session, call_sid)
        if message is not None:
            outcome = "duplicate"
            exists = session.scalar(select(Attachment.id).where(
                Attachment.message_id == message.id, Attachment.provider_id == recording_sid))
            if exists is None:
                outcome = "stored"
                duration = form.get("RecordingDuration", "")
                attachment = Attachment(
                    message=message, filename=f"{recording_sid}.mp3", content_type="audio/mpeg",
                    provider_id=recording_sid, source_url=url + ".mp3",
                    pages=None, size=None, created_at=_now())
                session.add(attachment)
                session.flush()
                enqueue_job(session, FETCH_MEDIA_JOB, {"attachment_id": attachment.id})
                log.info("channels.twilio.recording_received message=%s seconds=%s",
                         message.id, duration or "-")
    if outcome == "unknown_call":
        log.info("channels.twilio.recording_unknown_call")
    return Response(status=204)


@bp.post("/voice/transcription")
@verified
def transcription() -> Response:
    """`transcribeCallback`: the transcript becomes the call message's body (idempotent on
    TranscriptionSid: the same text again changes nothing)."""
    hub = current_hub()
    form = request.form
    call_sid, transcription_sid = form.get("CallSid"), form.get("TranscriptionSid")
    if not call_sid or not transcription_sid:
        return error_response(400, "bad_request", "CallSid and TranscriptionSid are required")
    call_sid = _sid(call_sid, "CallSid")
    transcription_sid = _sid(transcription_sid, "TranscriptionSid")
    text = (form.get("TranscriptionText") or "").strip()
    if form.get("TranscriptionStatus", "completed") != "completed" or not text:
        log.info("channels.twilio.transcription_empty status=%s",
                 form.get("TranscriptionStatus", "-"))
        return Response(status=204)
    with hub.db.begin() as session:
        message = _call_message(session, call_sid)
        if message is None:
            log.info("channels.twilio.transcription_unknown_call")
            return Response(status=204)
        body, redacted = storable_text(text)
        if message.body != body:
            message.body = body
            if redacted:
                message.redactions = sorted({*(message.redactions or []), *redacted})
            consultation = session.get_one(Consultation, message.consultation_id)
            if mentions_health(body) and not has_sensitive_consent(session,
                                                                   consultation.person_id):
                consultation.needs_health_consent = True  # R8
    return Response(status=204)


@bp.post("/status")
@verified
def status() -> Response:
    """An outbound message's status: idempotent on (MessageSid, MessageStatus), forward only;
    a callback ahead of its sid is kept and applied when the sid is recorded."""
    hub = current_hub()
    form = request.form
    message_status = form.get("MessageStatus")
    if not message_status:
        return error_response(400, "bad_request", "MessageSid and MessageStatus are required")
    sid = _sid(form.get("MessageSid"), "MessageSid")
    with hub.db.begin() as session:
        outcome = apply_status(session, sid, message_status, form.get("ErrorCode") or None)
    log.info("channels.twilio.status status=%s outcome=%s", message_status, outcome)
    return Response(status=204)
