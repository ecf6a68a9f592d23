"""The consultation conversation on the Kakao chatbot: one turn per skill request.

State lives in Redis per Kakao user (key hashed), expiring after `KAKAO_FLOW_TTL_SECONDS`, so any
web process can answer any turn. The order is the contract's: the collection notice and consent
(`동의` / `동의 안 함`), then name, mobile number, area of interest (and, when one is given, the
separate sensitive-health consent, R8), preferred time, a summary to confirm (`예` / `아니요`),
and the receipt. Values Open Builder already extracted into block parameters are not asked again.

Nothing reaches the database before consent: until then the turn keeps only Redis state, and a
refusal deletes it. The finished conversation becomes ONE `Inquiry` (`Turn.inquiry`); the skill
webhook (`channels.kakao.skill`) stores it and calls `stored` with the receipt. While that
write is pending (stage `submitting`, marker `pending_key`) every message gets "접수 중입니다"
and stores nothing. Text that arrives after the flow ended becomes a new message in the same
consultation.

Every sentence shown to the person is the clinic's configuration, not code: the `kakao.*` notice
texts (`intake/notices/default.json`, overridable per clinic in `NOTICES_DIR`), read through
`kakao_text`. What stays here are the words the bot also parses back as input.

Called by `channels.kakao.skill` and `channels.kakao.pending` (the recovery of late writes).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis import Redis

from channels.kakao.skill_payload import SkillRequest
from intake.clinic import Clinic
from intake.contacts import InvalidContact, is_mobile, normalise_phone
from intake.inquiry import ConsentChoice, ContactValue, Inquiry, Profile, Receipt
from intake.vocab import Channel, ConsentAction, ConsentMethod, ConsentPurpose

# The chatbot speaks Korean: its notice texts and consent notices are read in this locale.
LOCALE = "ko"
# Protocol, not notice text: these button labels (and the interest labels and words and the
# parameter names below) are compared with what the person sends back, so they are code; a
# clinic that changed them in its notices would break the conversation.
AGREE, DISAGREE = "동의", "동의 안 함"
YES, NO = "예", "아니요"
# The health step has its own labels: an equal utterance within 10 s would be a repeat.
HEALTH_AGREE, HEALTH_DISAGREE = "저장 동의", "저장 안 함"
SKIP = "건너뛰기"
# After the flow ended, how long the person's consultation is remembered for follow-up text.
SEEN_TTL = 30 * 24 * 3600
# Later free text: one provider id per request fingerprint and 10-second bucket (the repeat
# window), so a repeat that outlives its Redis marker is still stored once.
TEXT_BUCKET_SECONDS = 10

# Quick-reply labels of the interest step, parsed back by `interest_code` (protocol, as above).
INTEREST_LABELS: dict[str, str] = {
    "eyes": "눈", "nose": "코", "contouring": "윤곽", "breast": "가슴", "body": "바디",
    "skin": "피부", "lifting": "리프팅", "other": "기타",
}
# Words people and Open Builder entities use for each area.
INTEREST_WORDS: dict[str, tuple[str, ...]] = {
    "eyes": ("눈", "쌍꺼풀", "쌍커풀", "눈매", "트임", "eyes", "eye"),
    "nose": ("코", "콧대", "nose"),
    "contouring": ("윤곽", "턱", "광대", "안면윤곽", "contouring"),
    "breast": ("가슴", "breast"),
    "body": ("바디", "지방흡입", "체형", "body"),
    "skin": ("피부", "skin"),
    "lifting": ("리프팅", "안티에이징", "lifting"),
    "other": ("기타", "other"),
}
# Block parameter names read for each field (Open Builder parameter names are the bot's own).
PARAM_NAMES: dict[str, tuple[str, ...]] = {
    "name": ("name", "성함", "이름", "customer_name"),
    "phone": ("phone", "mobile", "phone_number", "휴대폰", "휴대폰번호", "연락처"),
    "interest": ("interest", "procedure", "area", "관심부위", "관심_부위"),
    "time": ("preferred_time", "preferred_hours", "time", "희망시간", "희망_상담_시간"),
    "day": ("preferred_day", "day", "희망요일"),
}


@dataclass
class FlowState:
    flow_id: str
    stage: str = "consent"
    consented_at: str | None = None
    name: str | None = None
    phone: str | None = None
    interest: str | None = None
    interest_skipped: bool = False
    health: bool | None = None
    preferred: str | None = None
    first_utterance: str = ""
    consultation_id: int | None = None

    def dump(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False)

    @classmethod
    def load(cls, raw: bytes | str | None) -> FlowState | None:
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return cls(**data)
        except (ValueError, TypeError):
            return None


@dataclass(frozen=True)
class Turn:
    """One answer: texts and quick replies, and an inquiry to store when there is one."""

    texts: tuple[str, ...]
    quick_replies: tuple[str, ...] = ()
    inquiry: Inquiry | None = None
    # What the person is told when the write takes too long for the 5-second answer.
    pending_texts: tuple[str, ...] = field(default_factory=tuple)


def _user_hash(user_key: str) -> str:
    return hashlib.sha256(user_key.encode()).hexdigest()[:32]


def state_key(user_key: str) -> str:
    return f"intake:kakao:flow:{_user_hash(user_key)}"


def seen_key(user_key: str) -> str:
    return f"intake:kakao:seen:{_user_hash(user_key)}"


def pending_key(provider_id: str) -> str:
    """The Redis marker of a promised write (`channels.kakao.pending`); hashed, because the
    provider id of later free text carries the request's fingerprint."""
    return "intake:kakao:pending:" + hashlib.sha256(provider_id.encode()).hexdigest()[:32]


def interest_code(text: str, clinic: Clinic) -> str | None:
    """The clinic interest code a word or label names, if any."""
    word = text.strip().lower()
    for code in clinic.interests:
        if word == code or word == INTEREST_LABELS.get(code, code):
            return code
    for code in clinic.interests:
        if any(w in word for w in INTEREST_WORDS.get(code, ())):
            return code
    return None


def kakao_text(clinic: Clinic, key: str, /, **values: Any) -> str:
    """The clinic's text `key` (a `kakao.*` notice) in the chatbot's locale."""
    return clinic.notices.text(key, LOCALE, **values)


def _mobile(raw: str) -> str | None:
    try:
        value = normalise_phone(raw)
    except InvalidContact:
        return None
    return value if is_mobile(value) else None


class ConsultationFlow:
    """The conversation for one clinic; `turn` answers one request."""

    def __init__(self, redis: Redis, clinic: Clinic, ttl_seconds: int) -> None:
        self._redis = redis
        self._clinic = clinic
        self._ttl = ttl_seconds

    # -- state --------------------------------------------------------------------------------

    def _save(self, user_key: str, state: FlowState) -> None:
        self._redis.set(state_key(user_key), state.dump(), ex=self._ttl)

    def _clear(self, user_key: str) -> None:
        self._redis.delete(state_key(user_key), seen_key(user_key))

    def stored(self, user_key: str, flow_id: str | None, receipt: Receipt) -> None:
        """The inquiry of `flow_id` is committed: remember its consultation for later text."""
        self._redis.set(seen_key(user_key), json.dumps({"consultation_id":
                                                        receipt.consultation_id}), ex=SEEN_TTL)
        if flow_id is None:
            return
        state = FlowState.load(self._redis.get(state_key(user_key)))
        if state is not None and state.flow_id == flow_id:
            state.stage, state.consultation_id = "done", receipt.consultation_id
            self._save(user_key, state)

    def failed(self, user_key: str, flow_id: str | None, retry: bool = False) -> None:
        """The write of `flow_id` failed: back to the confirmation (retry) or start over."""
        state = FlowState.load(self._redis.get(state_key(user_key)))
        if state is None or flow_id is None or state.flow_id != flow_id:
            return
        if retry:
            state.stage = "confirm"
            self._save(user_key, state)
        else:
            self._redis.delete(state_key(user_key))

    # -- texts --------------------------------------------------------------------------------

    def _text(self, key: str, /, **values: Any) -> str:
        return kakao_text(self._clinic, key, **values)

    def _consent_notice(self, key: str) -> str:
        n = self._clinic.notices.consent(key, LOCALE)
        return self._text("kakao.notice", title=n.title, purpose=n.purpose, items=n.items,
                          retention=n.retention, refusal=n.refusal)

    def _notice(self) -> str:
        return (self._consent_notice("consent.collection") + "\n"
                + self._text("kakao.consent_ask", agree=AGREE))

    def _health_notice(self) -> str:
        return self._consent_notice("consent.sensitive_health")

    def _interest_replies(self) -> tuple[str, ...]:
        labels = [INTEREST_LABELS.get(code, code) for code in self._clinic.interests]
        return (*labels[:9], SKIP)

    def _ask(self, state: FlowState, prefix: tuple[str, ...] = ()) -> Turn:
        stage = state.stage
        if stage == "consent":
            return Turn((*prefix, self._notice()), (AGREE, DISAGREE))
        if stage == "name":
            return Turn((*prefix, self._text("kakao.ask_name")))
        if stage == "phone":
            return Turn((*prefix, self._text("kakao.ask_phone")))
        if stage == "interest":
            return Turn((*prefix, self._text("kakao.ask_interest")), self._interest_replies())
        if stage == "health":
            return Turn((*prefix, self._health_notice(), self._text("kakao.ask_health")),
                        (HEALTH_AGREE, HEALTH_DISAGREE))
        if stage == "time":
            return Turn((*prefix, self._text("kakao.ask_time")))
        if stage == "confirm":
            return Turn((*prefix, self._summary(state), self._text("kakao.ask_confirm")),
                        (YES, NO))
        raise ValueError(stage)

    def _summary(self, state: FlowState) -> str:
        interest = INTEREST_LABELS.get(state.interest, state.interest) if state.interest \
            and state.health else "-"
        return self._text("kakao.summary", name=state.name, phone=state.phone,
                          interest=interest, preferred=state.preferred or "-")

    # -- the turn -----------------------------------------------------------------------------

    def _next_stage(self, state: FlowState) -> str:
        if state.consented_at is None:
            return "consent"
        if not state.name:
            return "name"
        if not state.phone:
            return "phone"
        if state.interest is None and not state.interest_skipped:
            return "interest"
        if state.interest is not None and state.health is None:
            return "health"
        if not state.preferred:
            return "time"
        return "confirm"

    def _prefill(self, state: FlowState, params: dict[str, str]) -> None:
        def first(kind: str) -> str | None:
            return next((params[k] for k in PARAM_NAMES[kind] if params.get(k)), None)

        if not state.name and (name := first("name")):
            state.name = name[:50]
        if not state.phone and (phone := first("phone")):
            state.phone = _mobile(phone)
        if state.interest is None and (interest := first("interest")):
            state.interest = interest_code(interest, self._clinic)
        if not state.preferred:
            parts = [p for p in (first("day"), first("time")) if p]
            state.preferred = " ".join(parts)[:200] or None

    def turn(self, request: SkillRequest, now: datetime) -> Turn:
        state = FlowState.load(self._redis.get(state_key(request.user_key)))
        if state is None or state.stage == "done":
            seen = self._seen(request.user_key)
            consultation_id = seen.get("consultation_id")
            if state is not None and state.consultation_id:
                consultation_id = state.consultation_id
            if consultation_id:
                return self._follow_up(request, now, int(consultation_id))
            # A conversation was under way and its state expired: start over, politely.
            return self._start(request, expired=bool(seen.get("in_flow")))
        return self._continue(request, state, now)

    def _seen(self, user_key: str) -> dict[str, Any]:
        raw = self._redis.get(seen_key(user_key))
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        return data if isinstance(data, dict) else {}

    def _start(self, request: SkillRequest, expired: bool) -> Turn:
        state = FlowState(flow_id=uuid.uuid4().hex, first_utterance=request.utterance[:1000])
        self._prefill(state, dict(request.params))
        self._save(request.user_key, state)
        # Outlives the state, so that a late answer is told the conversation expired.
        self._redis.set(seen_key(request.user_key), json.dumps({"in_flow": True}),
                        ex=SEEN_TTL)
        if expired:
            greeting = self._text("kakao.expired")
        else:
            greeting = self._text("kakao.greeting", clinic=self._clinic.display_name(LOCALE))
        return self._ask(state, (greeting,))

    def _continue(self, request: SkillRequest, state: FlowState, now: datetime) -> Turn:
        text = request.utterance
        stage = state.stage
        prefix: tuple[str, ...] = ()
        if stage == "submitting":
            if self._redis.exists(pending_key(f"kakao:flow:{state.flow_id}")):
                # The write of this flow is promised and still pending (a slow database, or a
                # web process that died: the periodic recovery commits it): nothing to ask,
                # and nothing is stored twice.
                return Turn((self._text("kakao.submitting"),))
            # No marker and not done: the request ended before its write was promised (the
            # process died in between). Nothing was said to be received: confirm again.
            state.stage = "confirm"
            self._save(request.user_key, state)
            return self._ask(state, (self._text("kakao.not_completed"),))
        if stage == "consent":
            if text == DISAGREE:
                self._clear(request.user_key)
                return Turn((self._text("kakao.refused"),))
            if text != AGREE:
                return self._ask(state, (self._text("kakao.consent_required"),))
            state.consented_at = now.isoformat()
        elif stage == "name":
            if not text or len(text) > 50:
                return self._ask(state, (self._text("kakao.name_invalid"),))
            state.name = text
        elif stage == "phone":
            phone = _mobile(text)
            if phone is None:
                return self._ask(state, (self._text("kakao.phone_invalid"),))
            state.phone = phone
        elif stage == "interest":
            if text == SKIP:
                state.interest_skipped = True
            else:
                code = interest_code(text, self._clinic)
                if code is None:
                    return self._ask(state, (self._text("kakao.interest_invalid"),))
                state.interest = code
        elif stage == "health":
            if text not in (HEALTH_AGREE, HEALTH_DISAGREE, AGREE, DISAGREE):
                return self._ask(state)
            state.health = text in (HEALTH_AGREE, AGREE)
        elif stage == "time":
            if not text:
                return self._ask(state)
            state.preferred = text[:200]
        elif stage == "confirm":
            if text == NO:
                state.name = state.phone = state.interest = state.preferred = None
                state.interest_skipped, state.health = False, None
                prefix = (self._text("kakao.restart"),)
            elif text == YES:
                return self._submit(request, state, now)
            else:
                return self._ask(state)
        self._prefill(state, dict(request.params))
        state.stage = self._next_stage(state)
        self._save(request.user_key, state)
        return self._ask(state, prefix)

    def _submit(self, request: SkillRequest, state: FlowState, now: datetime) -> Turn:
        notices = self._clinic.notices
        evidence = {**notices.consent("consent.collection", LOCALE).evidence(),
                    "flow_id": state.flow_id, "answer": AGREE,
                    "consented_at": state.consented_at or now.isoformat()}
        consents = [ConsentChoice(ConsentPurpose.REPLY, ConsentAction.GRANT,
                                  ConsentMethod.KAKAO_FLOW, channel="kakao", evidence=evidence)]
        if state.health is not None:
            consents.append(ConsentChoice(
                ConsentPurpose.SENSITIVE_HEALTH,
                ConsentAction.GRANT if state.health else ConsentAction.REFUSE,
                ConsentMethod.KAKAO_FLOW,
                evidence={**notices.consent("consent.sensitive_health", LOCALE).evidence(),
                          "flow_id": state.flow_id}))
        interests = (state.interest,) if state.interest and state.health else ()
        # The stored message's body, for the counsellors (not a text shown to the person).
        body = "카카오톡 상담 신청" + (f": {state.first_utterance}" if state.first_utterance
                                  else "")
        assert state.phone is not None
        inquiry = Inquiry(
            channel=Channel.KAKAO, provider_id=f"kakao:flow:{state.flow_id}", received_at=now,
            contacts=(ContactValue("kakao", request.user_key), ContactValue("phone", state.phone)),
            name=state.name, body=body,
            profile=Profile(interests=interests, preferred_hours=state.preferred, locale=LOCALE),
            reply_channel="kakao", consents=tuple(consents),
            # The flow asked for the sensitive-health consent when there was an interest: then
            # health fields are kept only with it (R8); otherwise receive() flags the case.
            health_fields_asked=state.health is not None,
            consent_method=ConsentMethod.KAKAO_FLOW,
            raw={"flow_id": state.flow_id, "bot_user_key": request.bot_user_key})
        state.stage = "submitting"
        self._save(request.user_key, state)
        return Turn((self._text("kakao.received", clinic=self._clinic.display_name(LOCALE)),),
                    inquiry=inquiry, pending_texts=(self._text("kakao.receiving"),))

    def _follow_up(self, request: SkillRequest, now: datetime, consultation_id: int) -> Turn:
        bucket = int(now.timestamp()) // TEXT_BUCKET_SECONDS
        provider_id = f"kakao:text:{request.fingerprint()[:40]}:{bucket}"
        inquiry = Inquiry(channel=Channel.KAKAO, provider_id=provider_id, received_at=now,
                          contacts=(ContactValue("kakao", request.user_key),),
                          body=request.utterance[:4000] or None, reply_channel="kakao",
                          thread_consultation_id=consultation_id,
                          raw={"bot_user_key": request.bot_user_key})
        return Turn((self._text("kakao.message_forwarded"),), inquiry=inquiry,
                    pending_texts=(self._text("kakao.message_receiving"),))


def flow_id_of(inquiry: Inquiry) -> str | None:
    value: Any = inquiry.raw.get("flow_id")
    return value if isinstance(value, str) else None
