"""The call's TwiML (greeting, forwarding, voicemail) and the transcription interface.

Pure builders: the webhook passes the clinic, the settings and the moment of the call. Every
callback URL is absolute, built from `PUBLIC_BASE_URL` (Twilio signs what it calls, and a
relative URL would resolve against whatever host the proxy showed Twilio).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from twilio.twiml.voice_response import VoiceResponse

from config import Settings
from intake.clinic import Clinic

PREFIX = "/webhooks/twilio"
MAX_RECORDING_SECONDS = 120  # Twilio transcribes 2-120 s recordings only
DIAL_TIMEOUT_SECONDS = 20
WEEKDAYS_KO = "월화수목금토일"
SAY_LANGUAGE = {"ko": "ko-KR", "en": "en-US"}


def callback_url(settings: Settings, path: str) -> str:
    return settings.public_base_url.rstrip("/") + PREFIX + path


class Transcriber(Protocol):
    """Turns a voicemail into text, some time after the call; a consultation never waits for
    it. Twilio's own `<Record transcribe>` is one implementation (English only, 2-120 s); a
    speech-to-text service for Korean would be another, run by a worker on the stored audio."""

    def record_attributes(self, settings: Settings) -> dict[str, Any]:
        """Extra `<Record>` attributes this transcriber needs (none for an offline one)."""
        ...


class TwilioTranscriber:
    """Twilio transcribes and calls `/webhooks/twilio/voice/transcription` with the text."""

    def record_attributes(self, settings: Settings) -> dict[str, Any]:
        return {"transcribe": True,
                "transcribe_callback": callback_url(settings, "/voice/transcription")}


def _next_opening_words(clinic: Clinic, at: datetime, lang: str) -> str:
    nxt = clinic.hours.next_opening(at).astimezone(clinic.tz)
    if lang == "en":
        return f"{nxt:%A, %-d %B} at {nxt:%H:%M}"
    minutes = f" {nxt.minute}분" if nxt.minute else ""
    return (f"{nxt.month}월 {nxt.day}일 {WEEKDAYS_KO[nxt.weekday()]}요일 "
            f"{nxt.hour}시{minutes}")


def greeting(clinic: Clinic, at: datetime, lang: str, forwarding: bool) -> str:
    """Whether the clinic is open now and, if not, when it next opens (texts are the clinic's
    notices, `voice.*`)."""
    name = clinic.display_name(lang)
    if clinic.hours.is_open(at):
        key = "voice.open_forwarding" if forwarding else "voice.open_busy"
        return clinic.notices.text(key, lang, clinic=name)
    return clinic.notices.text("voice.closed", lang, clinic=name,
                               next_opening=_next_opening_words(clinic, at, lang))


def _leave_message(clinic: Clinic, lang: str) -> str:
    return clinic.notices.text("voice.leave_message", lang)


def voicemail(response: VoiceResponse, settings: Settings, clinic: Clinic, lang: str,
              transcriber: Transcriber) -> VoiceResponse:
    response.say(_leave_message(clinic, lang), language=SAY_LANGUAGE[lang])
    response.record(
        action=callback_url(settings, "/voice?step=recorded"),
        max_length=MAX_RECORDING_SECONDS, play_beep=True,
        recording_status_callback=callback_url(settings, "/voice/recording"),
        recording_status_callback_event="completed",
        **transcriber.record_attributes(settings))
    return response


def call_response(settings: Settings, clinic: Clinic, at: datetime,
                  transcriber: Transcriber) -> VoiceResponse:
    """The first TwiML of a call: greet; during opening hours ring the counsellors' line (its
    `action` falls back to voicemail on no answer), else record a voicemail."""
    lang = "en" if settings.voice_language == "en" else "ko"
    forwarding = bool(settings.counsellor_line) and clinic.hours.is_open(at)
    response = VoiceResponse()
    response.say(greeting(clinic, at, lang, forwarding), language=SAY_LANGUAGE[lang])
    if forwarding:
        response.dial(settings.counsellor_line, timeout=DIAL_TIMEOUT_SECONDS,
                      action=callback_url(settings, "/voice?step=dialled"))
        return response
    return voicemail(response, settings, clinic, lang, transcriber)


def after_dial(settings: Settings, clinic: Clinic, dial_status: str,
               transcriber: Transcriber) -> VoiceResponse:
    """The dial's `action`: a completed call hangs up; no answer, busy or failed → voicemail."""
    response = VoiceResponse()
    if dial_status == "completed":
        response.hangup()
        return response
    lang = "en" if settings.voice_language == "en" else "ko"
    return voicemail(response, settings, clinic, lang, transcriber)


def goodbye(settings: Settings, clinic: Clinic) -> VoiceResponse:
    lang = "en" if settings.voice_language == "en" else "ko"
    response = VoiceResponse()
    response.say(clinic.notices.text("voice.goodbye", lang), language=SAY_LANGUAGE[lang])
    response.hangup()
    return response
