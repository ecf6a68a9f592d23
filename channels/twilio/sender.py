"""Outbound SMS through Twilio's REST API with the official SDK `Client`.

Built by `channels.twilio.senders` when TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are set;
called by the delivery job (`workers.jobs.deliver`) once the send policy allowed the message.

- From TWILIO_MESSAGING_SERVICE_SID when set, else TWILIO_FROM_NUMBER; every message asks for
  status callbacks at PUBLIC_BASE_URL + /webhooks/twilio/status.
- With TWILIO_API_BASE_URL set, the SDK's `api` domain talks to that base URL (a local
  stand-in of the Messages API), changing nothing else.
- A per-sender rate limit (SMS_RATE_PER_SECOND) shared by every worker through Redis: over it,
  nothing is sent and `TransientSendError` lets RQ retry later.
- Errors: 21610 (the recipient opted out at Twilio) records an opt-out (method `carrier`) and
  fails the delivery; other 4xx fail it; 429, 5xx and connection failures are transient; a
  read timeout (Twilio may have taken the message) is `UnknownOutcomeError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import requests
from redis import Redis
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from channels.base import (
    Outgoing,
    PermanentSendError,
    SendResult,
    TransientSendError,
    UnknownOutcomeError,
)
from config import Settings
from intake.db import Database, utcnow
from intake.models import Delivery, Person
from intake.services.optout import record_opt_out
from intake.sms import sms_length
from intake.vocab import ConsentMethod

log = logging.getLogger("channels.twilio")
STATUS_PATH = "/webhooks/twilio/status"
OPTED_OUT = 21610
TIMEOUT_SECONDS = 10.0
RATE_KEY = "intake:twilio:rate:{sender}:{second}"


def rest_client(settings: Settings, timeout: float = TIMEOUT_SECONDS) -> Client:
    """The SDK client of the account (also used by the worker jobs: recording deletion and
    reconciliation); with TWILIO_API_BASE_URL set, its 2010 API talks to that address."""
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token,
                    http_client=TwilioHttpClient(timeout=timeout))
    if settings.twilio_api_base_url:
        # The SDK builds every URL of the 2010 API from its domain's base_url.
        client.api.base_url = settings.twilio_api_base_url.rstrip("/")
    return client


class RateLimiter:
    """A fixed one-second window per sender in Redis, shared by every worker process."""

    def __init__(self, redis: Callable[[], Redis], per_second: int) -> None:
        self.redis, self.per_second = redis, max(1, per_second)

    def acquire(self, sender: str, now: float | None = None) -> bool:
        second = int(now if now is not None else time.time())
        key = RATE_KEY.format(sender=sender, second=second)
        pipe = self.redis().pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, 2)
        count, _ = pipe.execute()
        return int(count) <= self.per_second


class TwilioSmsSender:
    channel = "sms"

    def __init__(self, settings: Settings, db: Database, redis: Callable[[], Redis]) -> None:
        self.settings, self.db = settings, db
        self.sender_id = settings.twilio_messaging_service_sid or settings.twilio_from_number
        self.limiter = RateLimiter(redis, settings.sms_rate_per_second)
        self.client = rest_client(settings)

    def send(self, message: Outgoing) -> SendResult:
        if not self.sender_id:
            raise PermanentSendError("no TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
        if not self.limiter.acquire(self.sender_id):
            raise TransientSendError(f"rate limit of {self.limiter.per_second} SMS a second "
                                     "for this sender")
        kwargs: dict[str, str] = {
            "to": message.recipient, "body": message.body,
            "status_callback": self.settings.public_base_url.rstrip("/") + STATUS_PATH}
        if self.settings.twilio_messaging_service_sid:
            kwargs["messaging_service_sid"] = self.settings.twilio_messaging_service_sid
        else:
            kwargs["from_"] = self.settings.twilio_from_number
        length = sms_length(message.body)
        try:
            created = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise self._rest_error(message, exc) from None
        except requests.ConnectionError as exc:
            # ConnectTimeout included: the request never reached Twilio.
            raise TransientSendError(f"Twilio not reachable: {type(exc).__name__}") from None
        except requests.Timeout as exc:
            # A read timeout: Twilio may have taken the message; never resend blindly.
            raise UnknownOutcomeError(f"no answer from Twilio: {type(exc).__name__}") from None
        log.info("channels.twilio.sms_sent delivery=%s encoding=%s segments=%d",
                 message.delivery_id, length.encoding, length.segments)
        return SendResult(provider_id=created.sid, status="sent")

    def _rest_error(self, message: Outgoing, exc: TwilioRestException) -> Exception:
        code, status = exc.code, exc.status
        if code == OPTED_OUT:
            self._record_carrier_opt_out(message)
            return PermanentSendError("twilio error 21610: the recipient opted out (STOP)")
        if status == 429 or status >= 500:
            return TransientSendError(f"twilio answered {status} (error {code})")
        return PermanentSendError(f"twilio error {code}: {exc.msg}"[:500])

    def _record_carrier_opt_out(self, message: Outgoing) -> None:
        """Twilio refuses the number because it opted out there: the ledger learns it, so no
        later message is even tried (R42)."""
        with self.db.begin() as session:
            delivery = session.get(Delivery, message.delivery_id)
            person = session.get(Person, delivery.person_id) if delivery else None
            if person is None:
                return
            record_opt_out(session, person, "sms", ConsentMethod.CARRIER,
                           {"source": f"twilio:{OPTED_OUT}", "error_code": OPTED_OUT,
                            "delivery_id": message.delivery_id}, at=utcnow())
        log.info("channels.twilio.carrier_opt_out delivery=%s", message.delivery_id)
