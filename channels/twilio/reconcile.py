"""Asking Twilio whether an SMS whose send timed out was taken after all (issue 3, item 5).

Called by the periodic job `twilio.reconcile_unknown` (workers/twilio_jobs.py) for deliveries
left `sending` with the unknown-outcome reason; it only reads Twilio's Messages list and never
sends anything.

Why the list is not filtered by `DateSent>`: that filter has day granularity and a message
still queued at Twilio (a Messaging Service may hold one for hours) has no `date_sent` yet, so
it would be missed and then wrongly declared "not sent". We ask for the newest messages to the
recipient (from our number, when we send from one) and keep those *created* since the attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from twilio.base.exceptions import TwilioRestException

from channels.twilio.sender import rest_client
from config import Settings

# Clocks differ: a message created a little before our recorded attempt time is still ours.
CLOCK_SKEW = timedelta(minutes=2)
# The newest messages to one recipient looked at; a clinic texts one person a few times a day.
LIST_LIMIT = 50


class LookupUnavailable(RuntimeError):
    """Twilio could not answer now; the next run asks again."""


@dataclass(frozen=True)
class Found:
    sid: str
    status: str
    error_code: str | None


def find_sent(settings: Settings, recipient: str, body: str, since: datetime) -> list[Found]:
    """The outbound messages at Twilio to `recipient` from our sender with exactly `body`,
    created since `since` (less the clock skew). The caller drops sids it already knows."""
    client = rest_client(settings)
    service = settings.twilio_messaging_service_sid
    try:
        if service:
            # A Messaging Service sends from any number of its pool: filter on the service.
            messages = client.messages.list(to=recipient, limit=LIST_LIMIT)
        else:
            messages = client.messages.list(to=recipient, from_=settings.twilio_from_number,
                                            limit=LIST_LIMIT)
    except TwilioRestException as exc:
        raise LookupUnavailable(f"twilio answered {exc.status} (error {exc.code})") from None
    except requests.RequestException as exc:
        raise LookupUnavailable(f"list failed: {type(exc).__name__}") from None
    earliest = since - CLOCK_SKEW
    found = []
    for message in messages:
        if service and message.messaging_service_sid != service:
            continue
        if message.direction is not None and not str(message.direction).startswith("outbound"):
            continue
        if message.body != body:
            continue
        if message.date_created is None or message.date_created < earliest:
            continue
        found.append(Found(sid=str(message.sid), status=str(message.status or "queued"),
                           error_code=str(message.error_code) if message.error_code else None))
    return found
