"""Twilio voice end to end: a call opens a consultation at once (signed webhook, real app and
PostgreSQL), the TwiML greets, forwards or records with absolute callback URLs, and the
recording and transcript attach in either order, each idempotent on its SID; the worker fetches
the recording from the REST stand-in."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy import select

from intake.hub import Hub
from intake.models import Attachment, Consultation, Delivery, Message
from tests.integration import test_twilio_sms as sms_tests
from tests.integration.test_twilio_sms import BASE, count, drain, fixture, post, sms_params

# The SMS module's fixtures: the REST stand-in and the hub with Twilio credentials.
standin = sms_tests.standin
twilio_hub = sms_tests.twilio_hub

CLOSED = datetime(2026, 11, 25, 13, 30, tzinfo=UTC)  # Wednesday 22:30 in Seoul
OPEN = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wednesday 11:00 in Seoul
CALL = fixture("twilio_voice_inbound.json")
RECORDING = fixture("twilio_recording_callback.json")
TRANSCRIPT = fixture("twilio_transcription_callback.json")


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> Any:
    def set_time(moment: datetime) -> None:
        monkeypatch.setattr("channels.twilio.webhooks._now", lambda: moment)
    set_time(CLOSED)
    return set_time


def twiml(response: Any) -> ElementTree.Element:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    return ElementTree.fromstring(response.get_data())


def call_message(hub: Hub, call_sid: str = CALL["CallSid"]) -> Message:
    with hub.db.begin() as session:
        return session.scalars(select(Message).where(Message.provider_id == call_sid)).one()


def test_missed_call_after_hours_opens_a_consultation_at_once(twilio_hub, client, at):
    """The call itself opens the consultation (channel voice, provider_id CallSid, the caller's
    number, "callback requested"), before any recording or transcript; the greeting says the
    clinic is closed and when it opens next, then records with absolute callback URLs."""
    root = twiml(post(client, "/webhooks/twilio/voice", CALL))
    message = call_message(twilio_hub)
    assert (message.channel, message.direction, message.body, message.subject) == \
        ("voice", "in", None, "callback requested")
    with twilio_hub.db.begin() as session:
        assert session.get_one(Message, message.id).contact_point.value == "+821055501234"
    say = root.find("Say")
    assert say is not None and say.get("language") == "ko-KR"
    assert "상담 시간이 아닙니다" in say.text and "11월 26일 목요일 10시" in say.text
    record = root.find("Record")
    assert record is not None
    assert record.get("recordingStatusCallback") == BASE + "/webhooks/twilio/voice/recording"
    assert record.get("transcribeCallback") == BASE + "/webhooks/twilio/voice/transcription"
    assert record.get("transcribe") == "true"
    assert record.get("action") == BASE + "/webhooks/twilio/voice?step=recorded"
    assert record.get("maxLength") == "120"
    with twilio_hub.db.begin() as session:
        consultation = session.get_one(Consultation, message.consultation_id)
        assert consultation.channels == ["voice"]
        acks = list(session.scalars(select(Delivery).where(
            Delivery.consultation_id == consultation.id)))
        assert [(d.channel, d.purpose) for d in acks] == [("sms", "acknowledgement")]


def test_a_replayed_call_webhook_stores_one_message(twilio_hub, client, at):
    post(client, "/webhooks/twilio/voice", CALL)
    post(client, "/webhooks/twilio/voice", CALL)
    assert count(twilio_hub, Message) == 1


def test_english_greeting_by_configuration(twilio_hub, client, at):
    twilio_hub.settings = twilio_hub.settings.with_overrides(voice_language="en")
    root = twiml(post(client, "/webhooks/twilio/voice", CALL))
    say = root.find("Say")
    assert say is not None and say.get("language") == "en-US"
    assert "closed now" in say.text and "Thursday, 26 November at 10:00" in say.text


def test_open_hours_dial_the_counsellors_with_voicemail_fallback(twilio_hub, client, at):
    at(OPEN)
    twilio_hub.settings = twilio_hub.settings.with_overrides(counsellor_line="+8225550199")
    root = twiml(post(client, "/webhooks/twilio/voice", CALL))
    say, dial = root.find("Say"), root.find("Dial")
    assert say is not None and "지금은 상담 시간입니다" in say.text
    assert dial is not None and dial.text == "+8225550199"
    assert dial.get("action") == BASE + "/webhooks/twilio/voice?step=dialled"
    assert root.find("Record") is None
    assert call_message(twilio_hub).consultation_id  # opened at once, answered or not

    no_answer = {**CALL, "DialCallStatus": "no-answer", "CallStatus": "in-progress"}
    fallback = twiml(post(client, "/webhooks/twilio/voice", no_answer, query="step=dialled"))
    assert fallback.find("Record") is not None
    answered = {**CALL, "DialCallStatus": "completed"}
    done = twiml(post(client, "/webhooks/twilio/voice", answered, query="step=dialled"))
    assert done.find("Hangup") is not None and done.find("Record") is None
    assert count(twilio_hub, Message) == 1


def test_after_recording_the_caller_hears_goodbye(twilio_hub, client, at):
    root = twiml(post(client, "/webhooks/twilio/voice", CALL, query="step=recorded"))
    assert root.find("Hangup") is not None


@pytest.mark.parametrize("order", [("recording", "transcription"),
                                   ("transcription", "recording")])
def test_recording_and_transcript_attach_in_either_order(twilio_hub, client, standin, at,
                                                         order):
    """The recording becomes an attachment (provider_id RecordingSid) fetched by the worker;
    the transcript becomes the call message's body; either may come first, and a replay of
    either changes nothing."""
    recording_name = RECORDING["RecordingSid"] + ".mp3"
    standin.media[recording_name] = (b"ID3" + b"\x00" * 500, "audio/mpeg")
    post(client, "/webhooks/twilio/voice", CALL)
    paths = {"recording": ("/webhooks/twilio/voice/recording", RECORDING),
             "transcription": ("/webhooks/twilio/voice/transcription", TRANSCRIPT)}
    for name in order + order:  # each callback twice: idempotent
        path, params = paths[name]
        assert post(client, path, params).status_code == 204
    message = call_message(twilio_hub)
    assert message.body == TRANSCRIPT["TranscriptionText"]
    with twilio_hub.db.begin() as session:
        attachments = list(session.scalars(select(Attachment).where(
            Attachment.message_id == message.id)))
        assert [(a.provider_id, a.content_type) for a in attachments] == \
            [(RECORDING["RecordingSid"], "audio/mpeg")]
        assert session.get_one(Consultation, message.consultation_id).needs_health_consent
    drain(twilio_hub)
    with twilio_hub.db.begin() as session:
        attachment = session.get_one(Attachment, attachments[0].id)
        assert attachment.storage_key and attachment.size == 503


def test_callbacks_for_an_unknown_call_store_nothing(twilio_hub, client, at):
    assert post(client, "/webhooks/twilio/voice/recording", RECORDING).status_code == 204
    assert post(client, "/webhooks/twilio/voice/transcription", TRANSCRIPT).status_code == 204
    assert count(twilio_hub, Attachment) == 0


@pytest.mark.parametrize("path", ["/webhooks/twilio/voice", "/webhooks/twilio/voice/recording",
                                  "/webhooks/twilio/voice/transcription"])
def test_voice_webhooks_refuse_unsigned_requests(twilio_hub, client, at, path):
    response = client.post(path, data=CALL, headers={"X-Twilio-Signature": "nope"})
    assert response.status_code == 403
    assert count(twilio_hub, Message) == 0


def test_a_call_from_someone_who_texted_threads_into_their_consultation(twilio_hub, client,
                                                                         at):
    post(client, "/webhooks/twilio/sms", sms_params("SMcall", "전화 드릴게요",
                                                    sender="+821055501234"))
    post(client, "/webhooks/twilio/voice", CALL)
    with twilio_hub.db.begin() as session:
        consultation_ids = {m.consultation_id for m in session.scalars(select(Message))}
    assert len(consultation_ids) == 1


def test_a_withheld_number_still_gets_the_greeting(twilio_hub, client, at):
    root = twiml(post(client, "/webhooks/twilio/voice", {**CALL, "From": "anonymous"}))
    assert root.find("Record") is not None
    assert count(twilio_hub, Message) == 0



# -- recordings: Twilio's copy deleted, ours destroyed after retention (R18, R19, R20) --------


def _stored_recording(hub: Hub, client: Any, standin: Any) -> Attachment:
    standin.media[RECORDING["RecordingSid"] + ".mp3"] = (b"ID3" + b"\x01" * 300, "audio/mpeg")
    standin.recordings.add(RECORDING["RecordingSid"])
    post(client, "/webhooks/twilio/voice", CALL)
    assert post(client, "/webhooks/twilio/voice/recording", RECORDING).status_code == 204
    drain(hub)
    with hub.db.begin() as session:
        return session.scalars(select(Attachment).where(
            Attachment.provider_id == RECORDING["RecordingSid"])).one()


def test_r20_stored_recording_is_deleted_at_twilio(twilio_hub, client, standin, at):
    """Once the worker stored the voicemail, it sends Twilio's documented
    DELETE /2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}.json through the SDK,
    so the recording does not linger at the provider."""
    attachment = _stored_recording(twilio_hub, client, standin)
    assert attachment.storage_key
    assert standin.deleted == [RECORDING["RecordingSid"]]
    assert RECORDING["RecordingSid"] not in standin.recordings


def test_r20_delete_at_twilio_is_retried_when_twilio_fails(twilio_hub, client, standin, at,
                                                           monkeypatch):
    """A failed DELETE leaves an outbox job that asks again (a 404 then counts as done)."""
    from channels.twilio import media
    from intake.models import OutboxRow
    from workers import twilio_jobs

    def unavailable(settings: Any, sid: str) -> bool:
        raise media.MediaUnavailable("twilio answered 503")

    monkeypatch.setattr(twilio_jobs, "delete_recording", unavailable)
    standin.media[RECORDING["RecordingSid"] + ".mp3"] = (b"ID3" + b"\x02" * 300, "audio/mpeg")
    post(client, "/webhooks/twilio/voice", CALL)
    post(client, "/webhooks/twilio/voice/recording", RECORDING)
    assert twilio_jobs.fetch_media(_attachment_id(twilio_hub)) == "stored"
    with twilio_hub.db.begin() as session:
        jobs = [r.args for r in session.scalars(select(OutboxRow).where(
            OutboxRow.job == "twilio.delete_recording"))]
    assert jobs == [{"recording_sid": RECORDING["RecordingSid"]}]
    monkeypatch.undo()
    standin.recordings.add(RECORDING["RecordingSid"])
    assert twilio_jobs.delete_twilio_recording(RECORDING["RecordingSid"]) == "deleted"
    assert twilio_jobs.delete_twilio_recording(RECORDING["RecordingSid"]) == "gone"


def _attachment_id(hub: Hub) -> int:
    with hub.db.begin() as session:
        return session.scalars(select(Attachment.id).where(
            Attachment.provider_id == RECORDING["RecordingSid"])).one()


def test_r19_expired_recording_is_destroyed_with_a_destruction_log(twilio_hub, client,
                                                                   standin, at, caplog):
    """R18/R19/R20: 90 days after it arrived, the daily job deletes the audio from the store,
    keeps the attachment row without storage key or source URL, notes
    `recording_destroyed:<date>` on the message, and logs class, count and run id (no
    content). A day before the end nothing happens."""
    from intake.storage import StorageError
    from workers import twilio_jobs

    attachment = _stored_recording(twilio_hub, client, standin)
    key = attachment.storage_key
    assert twilio_hub.settings.recording_retention_days == 90
    assert twilio_jobs.destroy_expired_recordings(now=CLOSED + timedelta(days=89)) == 0
    assert twilio_hub.store.get(key)

    caplog.set_level(logging.INFO, logger="workers.twilio_jobs")
    assert twilio_jobs.destroy_expired_recordings(now=CLOSED + timedelta(days=91)) == 1
    with pytest.raises(StorageError):
        twilio_hub.store.get(key)
    with twilio_hub.db.begin() as session:
        kept = session.get_one(Attachment, attachment.id)
        assert (kept.storage_key, kept.source_url) == (None, None)
        assert "recording_destroyed:2027-02-24" in kept.message.redactions
    lines = [r.getMessage() for r in caplog.records
             if r.getMessage().startswith("workers.twilio.retention_destroyed")]
    assert len(lines) == 1
    assert "class=voicemail_recording count=1 date=2027-02-24 run=" in lines[0]
    assert key not in lines[0] and RECORDING["RecordingSid"] not in lines[0]
    # A second run finds nothing; a replayed fetch job cannot bring the audio back.
    assert twilio_jobs.destroy_expired_recordings(now=CLOSED + timedelta(days=92)) == 0
    assert twilio_jobs.fetch_media(attachment.id) == "skipped"


def test_r20_destroying_keeps_content_another_attachment_still_holds(twilio_hub, client,
                                                                     standin, at):
    """The store is content-addressed: identical bytes kept by another (unexpired) attachment
    are not deleted with the expired recording."""
    from workers import twilio_jobs

    attachment = _stored_recording(twilio_hub, client, standin)
    with twilio_hub.db.begin() as session:
        session.add(Attachment(message_id=attachment.message_id, filename="copy.mp3",
                               content_type="audio/mpeg", storage_key=attachment.storage_key,
                               provider_id="MEcopy"))
    assert twilio_jobs.destroy_expired_recordings(now=CLOSED + timedelta(days=91)) == 1
    assert twilio_hub.store.get(attachment.storage_key)


def test_retention_job_is_registered_daily():
    from workers import twilio_jobs

    periodic = {p.id: p for p in twilio_jobs.PERIODIC}
    assert periodic["twilio-recording-retention"].interval == 24 * 60 * 60
    assert "twilio-reconcile-unknown" in periodic


def test_r19_retention_works_in_batches_with_one_log_line(twilio_hub, client, standin, at,
                                                          caplog):
    from workers import twilio_jobs

    attachment = _stored_recording(twilio_hub, client, standin)
    with twilio_hub.db.begin() as session:
        for n in range(2):
            session.add(Attachment(message_id=attachment.message_id, filename=f"{n}.mp3",
                                   content_type="audio/mpeg", provider_id=f"RE{n:032x}",
                                   source_url=f"https://api.twilio.com/x/RE{n}",
                                   created_at=CLOSED))
    caplog.set_level(logging.INFO, logger="workers.twilio_jobs")
    assert twilio_jobs.destroy_expired_recordings(now=CLOSED + timedelta(days=91),
                                                  batch=2) == 3
    lines = [r.getMessage() for r in caplog.records
             if r.getMessage().startswith("workers.twilio.retention_destroyed")]
    assert len(lines) == 1 and "count=3" in lines[0]


def test_a_transcript_with_nul_is_stored_without_it(twilio_hub, client, at):
    """Transcripts reach the database through the same storable text as every inbound
    message: NUL dropped (PostgreSQL refuses it), identifiers masked."""
    post(client, "/webhooks/twilio/voice", CALL)
    text = {**TRANSCRIPT, "TranscriptionText": "코 상담\x00 원해요"}
    assert post(client, "/webhooks/twilio/voice/transcription", text).status_code == 204
    assert call_message(twilio_hub).body == "코 상담 원해요"


@pytest.mark.parametrize(("path", "field"), [
    ("/webhooks/twilio/voice/recording", "RecordingSid"),
    ("/webhooks/twilio/voice/recording", "RecordingUrl"),
    ("/webhooks/twilio/voice/transcription", "TranscriptionSid"),
    ("/webhooks/twilio/status", "MessageSid")])
def test_signed_callbacks_with_ids_no_column_holds_are_400(twilio_hub, client, at, path,
                                                          field):
    params = {"/webhooks/twilio/voice/recording": RECORDING,
              "/webhooks/twilio/voice/transcription": TRANSCRIPT,
              "/webhooks/twilio/status": {"MessageSid": "SM" + "1" * 32,
                                          "MessageStatus": "delivered"}}[path]
    assert post(client, path, {**params, field: "A" * 300}).status_code == 400
