"""Fetching MMS media and voicemail recordings from Twilio with the account's credentials.

Called by the worker job `twilio.fetch_media` (workers/twilio_jobs.py), never in a request.
With `TWILIO_API_BASE_URL` set, Twilio's API address in a media URL is replaced by it, so a
local stand-in serves the bytes in tests and development.

Also here: `delete_recording`, which asks Twilio to delete its copy of a voicemail once ours is
stored (or destroyed), so the recording does not linger at the provider.
"""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioRestException

from channels.twilio.sender import rest_client
from config import Settings

FETCH_MEDIA_JOB = "twilio.fetch_media"
DELETE_RECORDING_JOB = "twilio.delete_recording"
TWILIO_API = "https://api.twilio.com"
# What a patient may send us or leave on the voicemail: pictures, sound, short video, PDF.
ALLOWED_TYPES = ("image/", "audio/", "video/", "application/pdf")
TIMEOUT = (5, 30)


class MediaRefused(ValueError):
    """The media is of a type or size we do not keep (the reason is the message)."""


class MediaUnavailable(RuntimeError):
    """Twilio could not serve it now; a retry may work."""


def resolve(settings: Settings, url: str) -> str:
    if settings.twilio_api_base_url and url.startswith(TWILIO_API):
        return settings.twilio_api_base_url.rstrip("/") + url[len(TWILIO_API):]
    return url


def allowed_type(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower().startswith(ALLOWED_TYPES)


def fetch(settings: Settings, url: str) -> tuple[bytes, str]:
    """The content and its type; raises `MediaRefused` or `MediaUnavailable`. Redirects (to the
    storage Twilio serves media from) are followed; requests drops the credentials there."""
    try:
        response = requests.get(resolve(settings, url), timeout=TIMEOUT, stream=True,
                                auth=(settings.twilio_account_sid, settings.twilio_auth_token))
    except requests.RequestException as exc:
        raise MediaUnavailable(f"fetch failed: {type(exc).__name__}") from None
    with response:
        if response.status_code >= 500 or response.status_code == 429:
            raise MediaUnavailable(f"twilio answered {response.status_code}")
        if response.status_code >= 400:
            raise MediaRefused(f"twilio answered {response.status_code}")
        content_type = response.headers.get("Content-Type", "application/octet-stream")
        if not allowed_type(content_type):
            raise MediaRefused(f"content type {content_type} is not kept")
        limit = settings.media_max_bytes
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise MediaRefused(f"{declared} bytes is over the {limit} byte limit")
        content = bytearray()
        for chunk in response.iter_content(64 * 1024):
            content.extend(chunk)
            if len(content) > limit:
                raise MediaRefused(f"over the {limit} byte limit")
    return bytes(content), content_type.split(";")[0].strip().lower()


def is_recording(provider_id: str | None) -> bool:
    """A voicemail attachment carries its RecordingSid (`RE` + 32 hex) as provider_id."""
    return bool(provider_id) and str(provider_id).startswith("RE")


def delete_recording(settings: Settings, recording_sid: str) -> bool:
    """`DELETE /2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}.json` through the
    SDK. True when deleted now, False when Twilio no longer had it (404: deleted before);
    raises `MediaUnavailable` when a retry may work."""
    try:
        return bool(rest_client(settings).recordings(recording_sid).delete())
    except TwilioRestException as exc:
        if exc.status == 404:
            return False
        raise MediaUnavailable(f"twilio answered {exc.status} (error {exc.code})") from None
    except requests.RequestException as exc:
        raise MediaUnavailable(f"delete failed: {type(exc).__name__}") from None
