"""Jobs of the kakao channel, and the AlimTalk → SMS fallback.

`finish_pending_writes()` (periodic job `kakao-finish-pending`, every 30 s) commits the skill
writes a web process promised but did not finish (`channels.kakao.pending.finish_due`).

`kakao_callback(url, response)` (outbox job `kakao_callback`) posts a skill response that was
late for the 5-second answer to the request's one-time `callbackUrl` (valid once, one minute:
never retried, a failure stays in RQ's failed registry).

`sms_fallback(hub, delivery_id, error)` is called by `workers.jobs.deliver` when a `kakao`
delivery failed for good (the person has no KakaoTalk, the provider refused it). It asks the
send-time policy (`intake.policy.decide`) whether SMS is an allowed channel for that person and
purpose at that moment; if so it schedules an SMS delivery with the same informational text
(R56: the fallback text is the same text), else it leaves the Kakao delivery failed and adds why
no fallback went. An advertising text refused by the AlimTalk lint never falls back.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import requests
from redis.exceptions import RedisError
from sqlalchemy import select

from channels.kakao.alimtalk import AdvertisingContent
from channels.kakao.pending import CALLBACK_JOB, finish_due
from intake.db import utcnow
from intake.hub import Hub
from intake.models import ContactPoint, Delivery, Person
from intake.policy import Verdict, decide
from intake.services.consent import load_states
from intake.services.deliveries import advance, schedule_delivery
from intake.vocab import ConsentAction, ConsentPurpose, DeliveryStatus
from workers.context import get_hub
from workers.queues import DEFAULT
from workers.specs import FailureHook, JobSpec, PeriodicJob

log = logging.getLogger(__name__)

CALLBACK_TIMEOUT = (3.05, 10)  # connect, read (seconds)


def kakao_callback(url: str, response: Mapping[str, Any]) -> int:
    """Post the late skill response to Kakao's callback URL; answers the HTTP status."""
    answer = requests.post(url, json=dict(response), timeout=CALLBACK_TIMEOUT)
    if answer.status_code >= 400:
        raise RuntimeError(f"Kakao callback refused: HTTP {answer.status_code}")
    log.info("workers.kakao.callback_sent status=%s", answer.status_code)
    return answer.status_code


def finish_pending_writes() -> int:
    """Commit the skill writes a web process promised ("접수 중입니다…") but did not finish
    (it died, or its database call failed after the answer); answers how many were committed.
    Safe to run twice: each inquiry's provider id makes a second commit a replay. The markers
    live in Redis: while it does not answer there is nothing to read, and the next run goes on."""
    try:
        return finish_due(get_hub())
    except RedisError:
        log.warning("workers.kakao.pending_redis_unavailable")
        return 0


JOBS: Mapping[str, JobSpec] = {CALLBACK_JOB: JobSpec(func=kakao_callback, queue=DEFAULT)}
# Every 30 s: markers older than `channels.kakao.pending.RECOVER_AFTER_SECONDS` (10 s) are
# committed within about 40 s of the answer, well inside the markers' 24-hour TTL.
PERIODIC: tuple[PeriodicJob, ...] = (
    PeriodicJob("kakao-finish-pending", 30, finish_pending_writes),
)


def sms_fallback(hub: Hub, delivery_id: int, error: BaseException) -> int | None:
    """Schedule the SMS fallback of failed Kakao delivery `delivery_id` when the policy allows
    it; answers the new delivery's id, or None (the reason is added to the Kakao delivery)."""
    now = utcnow()
    with hub.db.begin() as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or delivery.channel != "kakao" or \
                delivery.status != DeliveryStatus.FAILED:
            return None
        if (delivery.headers or {}).get("sms_fallback_id"):
            return None  # already done by an earlier run of the job
        if isinstance(error, AdvertisingContent):
            advance(delivery, DeliveryStatus.FAILED, f"{error}; no SMS fallback for "
                    "advertising content")
            return None
        person = session.get(Person, delivery.person_id)
        assert person is not None
        phone = session.scalar(select(ContactPoint.value).where(
            ContactPoint.person_id == person.id, ContactPoint.kind == "phone")
            .order_by(ContactPoint.id).limit(1))
        states = load_states(session, person.id)
        guardian = states.get((ConsentPurpose.GUARDIAN, ""))
        minor_pending = bool(person.is_minor) and not (
            guardian is not None and guardian.action == ConsentAction.GRANT)
        decision = decide(delivery.purpose, "sms", states, phone is not None, now,
                          hub.clinic.tz, minor_pending=minor_pending)
        if decision.verdict is Verdict.SUPPRESS or phone is None:
            advance(delivery, DeliveryStatus.FAILED,
                    f"{error}; no SMS fallback: {decision.reason}"[:500])
            log.info("workers.kakao.fallback_refused delivery=%s reason=%s", delivery_id,
                     decision.reason)
            return None
        # Same text, same purpose: the SMS delivery is decided again at its own send time.
        fallback_id = schedule_delivery(
            session, channel="sms", purpose=delivery.purpose, recipient=phone,
            body=delivery.body, person_id=person.id, consultation_id=delivery.consultation_id,
            headers={"fallback_of": delivery.id})
        delivery.headers = {**(delivery.headers or {}), "sms_fallback_id": fallback_id}
        advance(delivery, DeliveryStatus.FAILED,
                f"{error}; SMS fallback scheduled (delivery {fallback_id})"[:500])
        log.info("workers.kakao.fallback_scheduled delivery=%s fallback=%s", delivery_id,
                 fallback_id)
        return fallback_id


# The delivery job calls this after an AlimTalk delivery failed for good (R56: the informational
# text goes by SMS only where SMS is allowed for that person at that moment).
FAILURE_HOOKS: Mapping[str, FailureHook] = {"kakao": sms_fallback}
