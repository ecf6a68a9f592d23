"""Pending Kakao writes: the inquiry a skill answer promised, kept in Redis until it is committed.

The skill webhook (`channels.kakao.skill`) answers within Kakao's 5 seconds even when the
database is slower, so an answer ("접수 중입니다…") can precede the commit. Before the bounded
write starts, the complete inquiry is stored here (`intake:kakao:pending:<id>`, one JSON value,
`PENDING_TTL_SECONDS`) and indexed by start time in the sorted set `intake:kakao:pending`. The
web process clears the marker when its write completes; if the process dies first, the
periodic job `kakao-finish-pending` (`workers/kakao_jobs.py`) calls `finish_due`, which commits
every marker older than a few seconds through the same idempotent `receive_once` (the
inquiry's `provider_id` makes a second commit a replay) and then clears it.

Whoever removes a marker (`PendingWrites.finish` answers True to exactly one caller) owns the
late answer: it queues the `kakao_callback` outbox job when Kakao's one-time `callbackUrl` was
given and is still valid.

Called by `channels.kakao.skill` and `workers.kakao_jobs`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from channels.kakao.flow import ConsultationFlow, flow_id_of, kakao_text, pending_key
from channels.kakao.skill_payload import skill_response
from intake.clinic import Clinic
from intake.contacts import mask_kakao
from intake.db import Database
from intake.hub import Hub
from intake.inquiry import (
    ConsentChoice,
    ContactValue,
    Guardian,
    InboundAttachment,
    Inquiry,
    Profile,
    Receipt,
)
from intake.services.deliveries import enqueue_job
from intake.services.receive import InquiryRejected, receive_once
from intake.vocab import Channel, ConsentAction, ConsentMethod, ConsentPurpose

log = logging.getLogger("channels.kakao.pending")

INDEX_KEY = "intake:kakao:pending"
KEY_PREFIX = "intake:kakao:pending:"
# Far longer than the recovery interval (30 s): a worker that is down for hours still finds it.
PENDING_TTL_SECONDS = 24 * 3600
# A marker younger than this belongs to a web process that may still be writing.
RECOVER_AFTER_SECONDS = 10.0
# Kakao's callbackUrl is valid once, for one minute from the request; keep a safety margin.
CALLBACK_VALID_SECONDS = 55.0
CALLBACK_JOB = "kakao_callback"  # outbox job: post a late skill response to callbackUrl


def rejected_text(clinic: Clinic) -> str:
    """What the person is told when `receive` refuses the inquiry (the clinic's text)."""
    return kakao_text(clinic, "kakao.rejected")


# -- the inquiry as JSON ---------------------------------------------------------------------


def inquiry_to_json(inquiry: Inquiry) -> dict[str, Any]:
    """Everything `receive` reads, as JSON values (attachments with content cannot be kept)."""
    if any(a.content is not None for a in inquiry.attachments):
        raise ValueError("an inquiry with attachment content cannot be kept pending")
    profile = inquiry.profile
    return {
        "channel": str(inquiry.channel), "provider_id": inquiry.provider_id,
        "received_at": inquiry.received_at.isoformat(),
        "contacts": [[c.kind, c.value, c.verified] for c in inquiry.contacts],
        "name": inquiry.name, "subject": inquiry.subject, "body": inquiry.body,
        "profile": {"sex": profile.sex,
                    "birth_date": profile.birth_date.isoformat() if profile.birth_date else None,
                    "age": profile.age, "region": profile.region,
                    "interests": list(profile.interests),
                    "preferred_hours": profile.preferred_hours, "locale": profile.locale},
        "reply_channel": inquiry.reply_channel,
        "consents": [{"purpose": str(c.purpose), "action": str(c.action),
                      "method": str(c.method), "channel": c.channel,
                      "evidence": dict(c.evidence)} for c in inquiry.consents],
        "guardian": ([inquiry.guardian.name, inquiry.guardian.phone]
                     if inquiry.guardian else None),
        "attachments": [{"filename": a.filename, "content_type": a.content_type,
                         "size": a.size, "provider_id": a.provider_id,
                         "source_url": a.source_url, "pages": a.pages}
                        for a in inquiry.attachments],
        "health_fields_asked": inquiry.health_fields_asked,
        "consent_method": str(inquiry.consent_method), "source_ip": inquiry.source_ip,
        "thread_consultation_id": inquiry.thread_consultation_id, "raw": dict(inquiry.raw),
    }


def inquiry_from_json(data: Mapping[str, Any]) -> Inquiry:
    """The inverse of `inquiry_to_json`."""
    p = data["profile"]
    return Inquiry(
        channel=Channel(data["channel"]), provider_id=data["provider_id"],
        received_at=datetime.fromisoformat(data["received_at"]),
        contacts=tuple(ContactValue(kind, value, bool(verified))
                       for kind, value, verified in data["contacts"]),
        name=data["name"], subject=data["subject"], body=data["body"],
        profile=Profile(sex=p["sex"],
                        birth_date=date.fromisoformat(p["birth_date"]) if p["birth_date"]
                        else None,
                        age=p["age"], region=p["region"], interests=tuple(p["interests"]),
                        preferred_hours=p["preferred_hours"], locale=p["locale"]),
        reply_channel=data["reply_channel"],
        consents=tuple(ConsentChoice(ConsentPurpose(c["purpose"]), ConsentAction(c["action"]),
                                     ConsentMethod(c["method"]), channel=c["channel"],
                                     evidence=c["evidence"]) for c in data["consents"]),
        guardian=Guardian(*data["guardian"]) if data["guardian"] else None,
        attachments=tuple(InboundAttachment(**a) for a in data["attachments"]),
        health_fields_asked=bool(data["health_fields_asked"]),
        consent_method=ConsentMethod(data["consent_method"]), source_ip=data["source_ip"],
        thread_consultation_id=data["thread_consultation_id"], raw=data["raw"])


# -- the marker ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingWrite:
    """One promised write: the inquiry, whose conversation it ends, and the late answer."""

    inquiry: Inquiry
    user_key: str
    started_at: float  # epoch seconds
    texts: tuple[str, ...] = ()  # the final answer, for Kakao's callback
    quick_replies: tuple[str, ...] = ()
    callback_url: str | None = None
    callback_until: float | None = None  # epoch seconds

    @property
    def id(self) -> str:
        return pending_id(self.inquiry.provider_id)

    def dump(self) -> str:
        return json.dumps({"inquiry": inquiry_to_json(self.inquiry), "user_key": self.user_key,
                           "started_at": self.started_at, "texts": list(self.texts),
                           "quick_replies": list(self.quick_replies),
                           "callback_url": self.callback_url,
                           "callback_until": self.callback_until}, ensure_ascii=False)

    @classmethod
    def load(cls, raw: bytes | str) -> PendingWrite:
        data = json.loads(raw)
        return cls(inquiry=inquiry_from_json(data["inquiry"]), user_key=data["user_key"],
                   started_at=float(data["started_at"]), texts=tuple(data["texts"]),
                   quick_replies=tuple(data["quick_replies"]),
                   callback_url=data["callback_url"], callback_until=data["callback_until"])

    def callback_valid(self, now: float) -> bool:
        return bool(self.callback_url) and self.callback_until is not None \
            and now < self.callback_until


def pending_id(provider_id: str) -> str:
    """The marker's id: its key is `KEY_PREFIX + pending_id` (= `flow.pending_key`)."""
    return pending_key(provider_id)[len(KEY_PREFIX):]


class PendingWrites:
    """The Redis markers of writes that were promised but may not be committed yet."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    def put(self, pending: PendingWrite) -> None:
        """Keep `pending` before its write starts (raises RedisError: then nothing is
        promised, and the caller answers that it could not receive the request)."""
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(KEY_PREFIX + pending.id, pending.dump(), ex=PENDING_TTL_SECONDS)
            pipe.zadd(INDEX_KEY, {pending.id: pending.started_at})
            pipe.expire(INDEX_KEY, PENDING_TTL_SECONDS)
            pipe.execute()

    def exists(self, provider_id: str) -> bool:
        return bool(self._redis.exists(KEY_PREFIX + pending_id(provider_id)))

    def finish(self, provider_id: str) -> bool:
        """Remove the marker of `provider_id`; True for the one caller that removed it."""
        ident = pending_id(provider_id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(KEY_PREFIX + ident)
            pipe.zrem(INDEX_KEY, ident)
            removed, _ = pipe.execute()
        return bool(removed)

    def due(self, now: float, older_than: float) -> list[PendingWrite]:
        """Markers started more than `older_than` seconds before `now`, oldest first."""
        idents = self._redis.zrangebyscore(INDEX_KEY, "-inf", now - older_than)
        found: list[PendingWrite] = []
        for raw_ident in idents:
            ident = raw_ident.decode() if isinstance(raw_ident, bytes) else str(raw_ident)
            raw = self._redis.get(KEY_PREFIX + ident)
            if raw is None:
                self._redis.zrem(INDEX_KEY, ident)  # finished meanwhile, or expired
                continue
            try:
                found.append(PendingWrite.load(raw))
            except (ValueError, KeyError, TypeError):
                log.error("channels.kakao.pending_unreadable id=%s", ident)
                self._redis.zrem(INDEX_KEY, ident)
        return found


# -- finishing ---------------------------------------------------------------------------------


def commit(hub: Hub, flow: ConsultationFlow, user_key: str, inquiry: Inquiry,
           receive: Callable[[Database, Inquiry, Clinic], Receipt] = receive_once) -> Receipt:
    """The write itself (web thread and recovery alike): commit, then tell the conversation."""
    receipt = receive(hub.db, inquiry, hub.clinic)
    flow.stored(user_key, flow_id_of(inquiry), receipt)
    log.info("channels.kakao.stored user=%s consultation=%s created=%s",
             mask_kakao(user_key), receipt.consultation_id, receipt.created)
    return receipt


def queue_callback(hub: Hub, url: str, response: Mapping[str, Any]) -> None:
    """The late answer for Kakao's one-time callback URL, through the outbox."""
    try:
        with hub.db.begin() as session:
            enqueue_job(session, CALLBACK_JOB, {"url": url, "response": dict(response)})
    except Exception:
        log.exception("channels.kakao.callback_not_queued")


def finish_due(hub: Hub, now: float | None = None, older_than: float | None = None) -> int:
    """Commit every pending write older than `older_than` seconds whose web process did not
    finish it; answers how many were committed (a replay of a committed one counts too).

    A write that fails for a passing reason keeps its marker for the next run; one that
    `receive` refuses (`InquiryRejected`) is dropped and its conversation starts over.
    `older_than` defaults to `RECOVER_AFTER_SECONDS`."""
    now = time.time() if now is None else now
    older_than = RECOVER_AFTER_SECONDS if older_than is None else older_than
    writes = PendingWrites(hub.redis)
    flow = ConsultationFlow(hub.redis, hub.clinic, hub.settings.kakao_flow_ttl_seconds)
    done = 0
    for pending in writes.due(now, older_than):
        inquiry = pending.inquiry
        try:
            receipt = commit(hub, flow, pending.user_key, inquiry)
        except InquiryRejected as exc:
            log.warning("channels.kakao.pending_rejected user=%s field=%s",
                        mask_kakao(pending.user_key), exc.field)
            flow.failed(pending.user_key, flow_id_of(inquiry))
            if writes.finish(inquiry.provider_id) and pending.callback_valid(time.time()):
                assert pending.callback_url is not None
                queue_callback(hub, pending.callback_url,
                               skill_response((rejected_text(hub.clinic),)))
            continue
        except Exception as exc:  # noqa: BLE001 - the marker stays: the next run retries
            log.error("channels.kakao.pending_retry user=%s error=%s",
                      mask_kakao(pending.user_key), type(exc).__name__)
            continue
        done += 1
        try:
            owner = writes.finish(inquiry.provider_id)
        except RedisError:
            log.exception("channels.kakao.pending_not_cleared")
            continue  # the next run replays it: stored once all the same
        log.info("channels.kakao.pending_finished user=%s consultation=%s created=%s",
                 mask_kakao(pending.user_key), receipt.consultation_id, receipt.created)
        if owner and pending.callback_valid(time.time()):
            assert pending.callback_url is not None
            queue_callback(hub, pending.callback_url,
                           skill_response(pending.texts, pending.quick_replies))
    return done
