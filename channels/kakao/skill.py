"""`POST /webhooks/kakao/skill`: the Kakao i Open Builder skill webhook.

Order of work, cheapest and safest first:
1. verify the sender: Kakao documents no request signature, so Open Builder is configured to send
   the shared secret in `X-Kakao-Skill-Secret` (missing 401, wrong 403) and the payload's
   `bot.id` must be the configured bot (403); a refusal writes nothing anywhere;
2. repeats: Kakao puts no id on a request, so its fingerprint (bot, user, block, utterance,
   parameters) is claimed in Redis with `SET NX` for 10 seconds; a repeat gets the first
   request's answer (cached under the same key) and stores nothing;
3. the conversation turn (`channels.kakao.flow`, state in Redis: no database on this path);
4. when the turn produced an inquiry, the complete inquiry is first kept in Redis as a pending
   marker (`channels.kakao.pending`, 24-hour TTL), then `receive_once` runs on a bounded
   worker thread: Kakao gives a skill 5 seconds, so the request waits at most
   `WRITE_WAIT_SECONDS` and otherwise answers that the request is being received
   ("접수 중입니다…") while the write goes on. The write clears the marker when it commits.
   When the block uses Kakao's callback API (`userRequest.callbackUrl`, valid once, for one
   minute), the answer is `useCallback` instead, and the final answer is posted to that URL by
   the outbox job `kakao_callback` (`workers/kakao_jobs.py`) once the write is done.

What is guaranteed: every request is answered within Kakao's 5 seconds whatever the database
does, and an inquiry the answer said was received (or being received) is committed exactly once,
even if this web process dies before its write: the periodic job `kakao-finish-pending`
(every 30 s) commits any marker older than 10 seconds through the same idempotent path
(`provider_id = kakao:flow:<flow_id>`), as long as Redis keeps the marker (24 hours; a Redis
that loses its data loses the promise with it). While a consultation's write is pending, the
person's next messages are answered "상담 신청을 접수 중입니다. 잠시 후 다시 확인해 주세요." and
store nothing. If the process dies
before the marker is written, no answer was given, and the person's next message shows the
confirmation again.

Registered by `channels.kakao.register`.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import suppress
from datetime import UTC, datetime
from functools import partial
from typing import Any

from flask import Blueprint, Response, jsonify, request
from redis.exceptions import RedisError

from channels.kakao.flow import LOCALE, YES, ConsultationFlow, Turn, flow_id_of, kakao_text
from channels.kakao.pending import (
    CALLBACK_VALID_SECONDS,
    PendingWrite,
    PendingWrites,
    commit,
    queue_callback,
    rejected_text,
)
from channels.kakao.skill_payload import BadSkillRequest, SkillRequest, skill_response
from intake import metrics
from intake.api.docs import documented
from intake.api.request import parse_json_text
from intake.contacts import mask_kakao
from intake.errors import error_response
from intake.hub import Hub, current_hub
from intake.inquiry import Inquiry, Receipt
from intake.notices import Notices
from intake.services.receive import InquiryRejected, receive_once

log = logging.getLogger("channels.kakao.skill")

bp = Blueprint("kakao", __name__, url_prefix="/webhooks/kakao")

SECRET_HEADER = "X-Kakao-Skill-Secret"
REPEAT_WINDOW_SECONDS = 10  # design: a repeat is an equal request within 10 seconds
# Kakao waits 5 s for a skill; the rest of the budget covers Redis, JSON and the network.
WRITE_WAIT_SECONDS = 3.0
REPEAT_POLL_SECONDS = 3.5
_PENDING = b""

# Shared by every request of this process: the writes that outlive their request run here.
_writer = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kakao-write")


def _refuse(hub: Hub, status: int, code: str, message: str, reason: str) -> Response:
    log.warning("channels.kakao.skill_refused reason=%s", reason)
    metrics.refused(hub.redis, "kakao_skill", reason)
    return error_response(status, code, message)


def _verify(hub: Hub) -> Response | None:
    expected = hub.settings.kakao_skill_secret
    if not expected:
        # Misconfigured: never accept unauthenticated skill calls.
        return _refuse(hub, 403, "kakao_not_configured", "KAKAO_SKILL_SECRET is not set",
                       "not_configured")
    given = request.headers.get(SECRET_HEADER)
    if given is None:
        return _refuse(hub, 401, "missing_secret", f"{SECRET_HEADER} header is required",
                       "secret_missing")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return _refuse(hub, 403, "bad_secret", f"{SECRET_HEADER} is wrong", "secret_invalid")
    return None


def _try_again(hub: Hub) -> dict[str, Any]:
    """The answer when the turn failed: the clinic's text, or the shipped one when the clinic's
    cannot be formatted (this answer must never fail: Kakao would show nothing)."""
    try:
        text = kakao_text(hub.clinic, "kakao.try_again")
    except Exception:  # noqa: BLE001 - a misconfigured override
        log.exception("channels.kakao.try_again_text_unusable")
        text = Notices.load().text("kakao.try_again", LOCALE)
    return skill_response((text,))


def _repeat_key(fingerprint: str) -> str:
    return f"intake:kakao:skill:{fingerprint}"


def _write(hub: Hub, flow: ConsultationFlow, user_key: str, inquiry: Inquiry) -> Receipt:
    # `receive_once` is looked up here, so that tests can make this module's database slow.
    return commit(hub, flow, user_key, inquiry, receive=receive_once)


def _late_done(hub: Hub, flow: ConsultationFlow, pending: PendingWrite,
               future: Future[Receipt]) -> None:
    """Done-callback of a write that outlived its request. Done or refused: clear the marker
    and, when this callback cleared it and Kakao's callback URL is still valid, queue the final
    answer there (through the outbox, so it survives this process). Failed for a passing
    reason: the marker stays, and the periodic recovery (`pending.finish_due`) commits it."""
    try:
        exc = future.exception()
        provider_id = pending.inquiry.provider_id
        if exc is not None and not isinstance(exc, InquiryRejected):
            log.error("channels.kakao.late_write_failed user=%s error=%s",
                      mask_kakao(pending.user_key), type(exc).__name__)
            return
        if exc is not None:
            log.info("channels.kakao.inquiry_rejected user=%s", mask_kakao(pending.user_key))
            flow.failed(pending.user_key, flow_id_of(pending.inquiry))
            response = skill_response((rejected_text(hub.clinic),))
        else:
            response = skill_response(pending.texts, pending.quick_replies)
        owner = PendingWrites(hub.redis).finish(provider_id)
        if owner and pending.callback_valid(time.time()):
            assert pending.callback_url is not None
            queue_callback(hub, pending.callback_url, response)
    except Exception:
        log.exception("channels.kakao.late_done_failed user=%s", mask_kakao(pending.user_key))


def _clear(writes: PendingWrites, provider_id: str) -> None:
    """The write ended within the request: its marker goes (if Redis fails here, the recovery
    replays a committed write, which stores nothing twice)."""
    try:
        writes.finish(provider_id)
    except RedisError:
        log.exception("channels.kakao.pending_not_cleared")


def _promise(hub: Hub, flow: ConsultationFlow, skill: SkillRequest, turn: Turn) -> PendingWrite:
    """Keep the complete inquiry in Redis before its write starts (see `channels.kakao.pending`)."""
    assert turn.inquiry is not None
    now = time.time()
    pending = PendingWrite(
        inquiry=turn.inquiry, user_key=skill.user_key, started_at=now, texts=turn.texts,
        quick_replies=turn.quick_replies, callback_url=skill.callback_url,
        callback_until=now + CALLBACK_VALID_SECONDS if skill.callback_url else None)
    try:
        PendingWrites(hub.redis).put(pending)
    except RedisError:
        # Nothing was promised: the conversation goes back to its confirmation.
        with suppress(RedisError):
            flow.failed(skill.user_key, flow_id_of(turn.inquiry), retry=True)
        raise
    return pending


def _store(hub: Hub, flow: ConsultationFlow, skill: SkillRequest, turn: Turn) -> dict[str, Any]:
    """Run the write with a bounded wait; answer the skill response for this turn."""
    assert turn.inquiry is not None
    pending = _promise(hub, flow, skill, turn)
    writes = PendingWrites(hub.redis)
    provider_id = turn.inquiry.provider_id
    future = _writer.submit(_write, hub, flow, skill.user_key, turn.inquiry)
    try:
        future.result(timeout=WRITE_WAIT_SECONDS)
    except FutureTimeout:
        future.add_done_callback(partial(_late_done, hub, flow, pending))
        log.warning("channels.kakao.write_pending user=%s", mask_kakao(skill.user_key))
        texts = turn.pending_texts or (kakao_text(hub.clinic, "kakao.receiving_short"),)
        if skill.callback_url:
            return {"version": "2.0", "useCallback": True, "data": {"text": texts[0]}}
        return skill_response(texts)
    except InquiryRejected as exc:
        log.info("channels.kakao.inquiry_rejected field=%s", exc.field)
        flow.failed(skill.user_key, flow_id_of(turn.inquiry))
        _clear(writes, provider_id)
        return skill_response((rejected_text(hub.clinic),))
    except Exception:
        log.exception("channels.kakao.write_failed user=%s", mask_kakao(skill.user_key))
        # The person is told to send it again, so no recovery commits it behind their back.
        flow.failed(skill.user_key, flow_id_of(turn.inquiry), retry=True)
        _clear(writes, provider_id)
        return skill_response((kakao_text(hub.clinic, "kakao.write_failed", yes=YES),), (YES,))
    _clear(writes, provider_id)
    return skill_response(turn.texts, turn.quick_replies)


def _answer(hub: Hub, skill: SkillRequest) -> dict[str, Any]:
    flow = ConsultationFlow(hub.redis, hub.clinic, hub.settings.kakao_flow_ttl_seconds)
    turn = flow.turn(skill, datetime.now(UTC))
    if turn.inquiry is None:
        return skill_response(turn.texts, turn.quick_replies)
    return _store(hub, flow, skill, turn)


def _await_first(hub: Hub, key: str) -> dict[str, Any]:
    """A repeat: the first request's answer once it is there (it may still be working)."""
    deadline = time.monotonic() + REPEAT_POLL_SECONDS
    while True:
        cached = hub.redis.get(key)
        if cached:
            answer: dict[str, Any] = json.loads(cached)
            return answer
        if time.monotonic() >= deadline or cached is None:
            return skill_response((kakao_text(hub.clinic, "kakao.repeat_wait"),))
        time.sleep(0.05)


@bp.post("/skill")
@documented("/webhooks/kakao/skill", "post", "Kakao i Open Builder skill", "webhooks")
def skill() -> Response | tuple[Response, int]:
    hub = current_hub()
    refused = _verify(hub)
    if refused is not None:
        return refused
    try:
        body = parse_json_text(request.get_data(cache=True)) if request.is_json else None
    except ValueError:  # malformed, or a string no one can store (UnicodeDecodeError too)
        body = None
    try:
        skill_request = SkillRequest.parse(body)
    except BadSkillRequest as exc:
        return _refuse(hub, 400, "bad_skill_request", str(exc), "bad_payload")
    expected_bot = hub.settings.kakao_bot_id
    if not expected_bot or not hmac.compare_digest(skill_request.bot_id.encode(),
                                                   expected_bot.encode()):
        return _refuse(hub, 403, "unknown_bot", "bot.id is not this clinic's bot", "bot_invalid")

    key = _repeat_key(skill_request.fingerprint())
    try:
        first = hub.redis.set(key, _PENDING, nx=True, ex=REPEAT_WINDOW_SECONDS)
        if not first:
            log.info("channels.kakao.repeat user=%s", mask_kakao(skill_request.user_key))
            return jsonify(_await_first(hub, key))
        answer = _answer(hub, skill_request)
        # XX + KEEPTTL: the cached answer expires with the repeat window it belongs to.
        hub.redis.set(key, json.dumps(answer, ensure_ascii=False), xx=True, keepttl=True)
    except RedisError:
        # The conversation state lives in Redis: without it the bot cannot hold a dialogue.
        log.exception("channels.kakao.redis_unavailable")
        return jsonify(_try_again(hub))
    except Exception:
        # Never a 500 to Kakao: the person is asked to try again, and a retry is not a repeat.
        log.exception("channels.kakao.skill_failed user=%s", mask_kakao(skill_request.user_key))
        try:
            hub.redis.delete(key)
        except RedisError:
            pass
        return jsonify(_try_again(hub))
    return jsonify(answer)
