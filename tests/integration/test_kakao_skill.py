"""The Kakao skill webhook on the real app, PostgreSQL and Redis: sender checks, the consultation
conversation from greeting to consultation, refusal, expiry, repeats and a slow database."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from channels.kakao import flow as kakao_flow
from channels.kakao import skill as kakao_skill
from intake.hub import Hub
from intake.models import ConsentEvent, Consultation, ContactPoint, Message, Person
from tests.conftest import FIXTURES
from tests.integration.conftest import KAKAO_SECRET as SECRET
from tests.integration.conftest import run_jobs

URL = "/webhooks/kakao/skill"
PLUSFRIEND_KEY = "Xq7Rk2LmP9sT"


def payload(utterance: str | None = None, params: dict[str, str] | None = None,
            user: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (FIXTURES / "kakao_skill_request.json").read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    if utterance is not None:
        data["userRequest"]["utterance"] = utterance
    if params is not None:
        data["action"]["params"] = params
        data["action"]["detailParams"] = {k: {"origin": v, "value": v, "groupName": ""}
                                          for k, v in params.items()}
    if user is not None:
        data["userRequest"]["user"]["id"] = user
        data["userRequest"]["user"]["properties"] = {"botUserKey": user}
    return data


def post(client: FlaskClient, body: dict[str, Any], secret: str | None = SECRET) -> Any:
    headers = {} if secret is None else {"X-Kakao-Skill-Secret": secret}
    return client.post(URL, json=body, headers=headers)


def say(client: FlaskClient, utterance: str, **kwargs: Any) -> dict[str, Any]:
    response = post(client, payload(utterance, params=kwargs.pop("params", {}), **kwargs))
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def texts(answer: dict[str, Any]) -> str:
    return "\n".join(o["simpleText"]["text"] for o in answer["template"]["outputs"])


def replies(answer: dict[str, Any]) -> list[str]:
    return [q["label"] for q in answer["template"].get("quickReplies", [])]


def counts(hub: Hub) -> tuple[int, int, int]:
    with hub.db.begin() as session:
        return (session.scalar(select(func.count()).select_from(Consultation)) or 0,
                session.scalar(select(func.count()).select_from(Person)) or 0,
                session.scalar(select(func.count()).select_from(Message)) or 0)


def no_kakao_keys(hub: Hub) -> bool:
    """Nothing of the request reached Redis either (the refusal counter aside)."""
    return not hub.redis.keys("intake:kakao:*")


def assert_valid_skill_response(answer: dict[str, Any]) -> None:
    assert answer["version"] == "2.0"
    outputs = answer["template"]["outputs"]
    assert outputs and all(o["simpleText"]["text"] for o in outputs)
    for quick in answer["template"].get("quickReplies", []):
        assert quick["action"] == "message" and quick["messageText"] and quick["label"]


# -- the sender -------------------------------------------------------------------------------


def test_missing_secret_is_401_and_stores_nothing(kakao_hub, client):
    before = counts(kakao_hub)
    response = post(client, payload(), secret=None)
    assert response.status_code == 401
    assert response.get_json()["error"] == "missing_secret"
    assert counts(kakao_hub) == before
    assert kakao_hub.redis.hget("intake:metrics", "refused.kakao_skill.secret_missing") == b"1"
    assert no_kakao_keys(kakao_hub)


def test_wrong_secret_is_403_and_stores_nothing(kakao_hub, client):
    response = post(client, payload(), secret="guess")
    assert response.status_code == 403
    assert response.get_json()["error"] == "bad_secret"
    assert counts(kakao_hub) == (0, 0, 0)
    assert no_kakao_keys(kakao_hub)


def test_wrong_bot_id_is_403_and_stores_nothing(kakao_hub, client):
    body = payload()
    body["bot"]["id"] = "someone-elses-bot"
    response = post(client, body)
    assert response.status_code == 403
    assert response.get_json()["error"] == "unknown_bot"
    assert no_kakao_keys(kakao_hub)


def test_not_json_is_a_clear_400(kakao_hub, client):
    response = client.post(URL, data=b"nope", headers={"X-Kakao-Skill-Secret": SECRET,
                                                       "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_skill_request"


# -- the conversation -------------------------------------------------------------------------


def run_flow(client: FlaskClient) -> dict[str, Any]:
    """Greeting (the fixture: interest 쌍꺼풀 and day 토요일 from block params) to receipt."""
    first = post(client, payload())
    assert first.status_code == 200
    greeting = first.get_json()
    assert_valid_skill_response(greeting)
    assert replies(greeting) == ["동의", "동의 안 함"]
    notice = texts(greeting)
    for part in ("목적", "항목", "보유 기간", "거부"):
        assert part in notice
    assert "성함" in texts(say(client, "동의"))
    assert "휴대폰 번호" in texts(say(client, "김민지"))
    retry = say(client, "0101234")
    assert "다시 입력" in texts(retry)
    health = say(client, "010-2345-6789")
    assert replies(health) == ["저장 동의", "저장 안 함"]  # interest came from the block
    summary = say(client, "저장 동의")
    assert replies(summary) == ["예", "아니요"]
    assert "토요일" in texts(summary) and "눈" in texts(summary)
    done = say(client, "예")
    assert_valid_skill_response(done)
    assert "접수" in texts(done)
    return done


def test_whole_flow_makes_one_consultation_with_kakao_and_phone_contacts(kakao_hub, client):
    """R5/R8: consent with the notice's evidence by method kakao_flow; the interest is kept
    because the sensitive-health consent was asked and given."""
    run_flow(client)
    with kakao_hub.db.begin() as session:
        consultation = session.scalars(select(Consultation)).one()
        assert consultation.channels == ["kakao"]
        assert consultation.interests == ["eyes"]
        assert consultation.preferred_hours == "토요일"
        person = session.get(Person, consultation.person_id)
        assert person is not None and person.name == "김민지"
        points = {(cp.kind, cp.value) for cp in session.scalars(
            select(ContactPoint).where(ContactPoint.person_id == person.id))}
        assert points == {("kakao", PLUSFRIEND_KEY), ("phone", "+821023456789")}
        events = list(session.scalars(select(ConsentEvent).where(
            ConsentEvent.person_id == person.id)))
        kakao_grant = [e for e in events if e.purpose == "reply" and e.channel == "kakao"]
        assert len(kakao_grant) == 1 and kakao_grant[0].method == "kakao_flow"
        evidence = kakao_grant[0].evidence
        assert evidence["notice"] == "consent.collection"
        assert evidence["notice_sha256"] and evidence["flow_id"]
        assert any(e.purpose == "sensitive_health" and e.action == "grant" for e in events)
        message = session.scalars(select(Message)).one()
        assert message.channel == "kakao" and message.provider_id.startswith("kakao:flow:")
        # The Kakao channel is open for replies now, on the flow's consent.
        from intake.policy import reply_decision
        from intake.services.consent import load_states

        decision = reply_decision(load_states(session, person.id), "kakao", True,
                                  kakao_hub.clinic.tz)
        assert decision.allowed


def test_same_person_calling_later_is_recognised_by_phone(kakao_hub, client):
    from tests.factories import inquiry, received

    run_flow(client)
    later = received(kakao_hub, inquiry(phone="01023456789", name=None, body="전화 문의"))
    with kakao_hub.db.begin() as session:
        consultation = session.scalars(select(Consultation)).one()
    assert later.person_id == consultation.person_id


def test_health_consent_refused_keeps_no_interest(kakao_hub, client):
    """R8: without the sensitive-health consent the interest is not stored."""
    post(client, payload())
    say(client, "동의")
    say(client, "이수진")
    say(client, "010-3456-7890")
    say(client, "저장 안 함")
    say(client, "예")
    with kakao_hub.db.begin() as session:
        consultation = session.scalars(select(Consultation)).one()
    assert consultation.interests == []


def test_free_text_after_the_flow_joins_the_same_consultation(kakao_hub, client):
    run_flow(client)
    answer = say(client, "수술 전에 사진을 보내도 되나요?")
    assert "전달" in texts(answer)
    with kakao_hub.db.begin() as session:
        consultations = list(session.scalars(select(Consultation)))
        assert len(consultations) == 1
        bodies = [m.body for m in session.scalars(select(Message).order_by(Message.id))]
    assert bodies[-1] == "수술 전에 사진을 보내도 되나요?"


def test_consent_refused_stores_nothing_and_the_next_message_starts_over(kakao_hub, client):
    post(client, payload())
    refused = say(client, "동의 안 함")
    assert "접수하지 않았습니다" in texts(refused)
    assert counts(kakao_hub) == (0, 0, 0)
    assert not kakao_hub.redis.exists(kakao_flow.state_key(PLUSFRIEND_KEY))
    again = say(client, "안녕하세요")
    assert replies(again) == ["동의", "동의 안 함"]
    assert "만료" not in texts(again)
    assert counts(kakao_hub) == (0, 0, 0)


def test_nothing_written_before_consent_is_stored(kakao_hub, client):
    post(client, payload())
    say(client, "제 이름은 박영희이고 010-4444-5555 입니다")  # not a consent answer
    assert counts(kakao_hub) == (0, 0, 0)


def test_expired_state_starts_over_politely(kakao_hub, client):
    post(client, payload())
    say(client, "동의")
    say(client, "김민지")
    kakao_hub.redis.delete(kakao_flow.state_key(PLUSFRIEND_KEY))  # the TTL ran out
    answer = say(client, "010-2345-6789")
    assert "처음부터" in texts(answer)
    assert replies(answer) == ["동의", "동의 안 함"]
    assert counts(kakao_hub) == (0, 0, 0)


def test_flow_state_expires_with_the_configured_ttl(kakao_hub, client):
    post(client, payload())
    ttl = kakao_hub.redis.ttl(kakao_flow.state_key(PLUSFRIEND_KEY))
    assert 0 < ttl <= kakao_hub.settings.kakao_flow_ttl_seconds


def test_bot_user_key_is_the_contact_without_plusfriend_key(kakao_hub, client):
    user = "b" * 64
    post(client, payload(user=user))
    for text in ("동의", "최하나", "010-5678-1234", "저장 동의", "예"):
        say(client, text, user=user)
    with kakao_hub.db.begin() as session:
        kinds = {cp.kind: cp.value for cp in session.scalars(select(ContactPoint))}
    assert kinds["kakao"] == user


# -- repeats and time -------------------------------------------------------------------------


def test_repeat_within_10_seconds_is_answered_alike_and_stored_once(kakao_hub, client):
    post(client, payload())
    for text in ("동의", "김민지", "010-2345-6789", "저장 동의"):
        say(client, text)
    first = post(client, payload("예", params={}))
    second = post(client, payload("예", params={}))
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    assert counts(kakao_hub)[0] == 1 and counts(kakao_hub)[2] == 1


def test_repeat_of_the_greeting_does_not_restart_the_flow(kakao_hub, client):
    a = post(client, payload()).get_json()
    b = post(client, payload()).get_json()
    assert a == b
    assert "성함" in texts(say(client, "동의"))


def test_slow_database_still_answers_in_time_and_the_write_completes(kakao_hub, client,
                                                                     monkeypatch):
    """Kakao waits 5 s: with a database taking 6 s the answer comes in under 4 s, says the
    request is being received, and the consultation exists afterwards."""
    real = kakao_skill.receive_once

    def slow(db: Any, inquiry: Any, clinic: Any) -> Any:
        time.sleep(6)
        return real(db, inquiry, clinic)

    monkeypatch.setattr(kakao_skill, "receive_once", slow)
    post(client, payload())
    for text in ("동의", "김민지", "010-2345-6789", "저장 동의"):
        say(client, text)
    started = time.monotonic()
    answer = say(client, "예")
    elapsed = time.monotonic() - started
    assert elapsed < 4.0, elapsed
    assert "접수 중" in texts(answer)
    assert_valid_skill_response(answer)
    # The write goes on; the flow learns about it through Redis (no shared connection use).
    deadline = time.monotonic() + 15
    seen = kakao_flow.seen_key(PLUSFRIEND_KEY)
    while time.monotonic() < deadline:
        raw = kakao_hub.redis.get(seen)
        if raw and json.loads(raw).get("consultation_id"):
            break
        time.sleep(0.1)
    else:
        pytest.fail("the late write did not complete")
    assert counts(kakao_hub)[0] == 1


def test_slow_database_with_callback_url_answers_late_through_the_callback(
        kakao_hub, client, monkeypatch, kakao_callback_server):
    """With Kakao's callback API the in-time answer is `useCallback`; the final answer is
    posted once to `userRequest.callbackUrl` by the worker after the write completes."""
    import threading

    url, received = kakao_callback_server
    real = kakao_skill.receive_once

    def slow(db: Any, inquiry: Any, clinic: Any) -> Any:
        time.sleep(5)
        return real(db, inquiry, clinic)

    queued = threading.Event()
    real_queue_callback = kakao_skill.queue_callback

    def queue_callback(*args: Any) -> None:
        real_queue_callback(*args)  # its transaction is committed when this returns
        queued.set()

    post(client, payload())
    for text in ("동의", "김민지", "010-2345-6789", "저장 동의"):
        say(client, text)
    monkeypatch.setattr(kakao_skill, "receive_once", slow)
    monkeypatch.setattr(kakao_skill, "queue_callback", queue_callback)
    body = payload("예", params={})
    body["userRequest"]["callbackUrl"] = url
    started = time.monotonic()
    answer = post(client, body).get_json()
    assert time.monotonic() - started < 4.0
    assert answer["version"] == "2.0" and answer["useCallback"] is True
    assert "접수 중" in answer["data"]["text"]
    # Wait for the job to be queued without touching the connection the writer uses.
    assert queued.wait(15), "the callback job was not queued"
    run_jobs(kakao_hub)
    [late] = received
    assert late["version"] == "2.0" and "접수되었습니다" in texts(late)
    assert counts(kakao_hub)[0] == 1


def test_redis_down_answers_politely_and_stores_nothing(kakao_hub, client):
    url = kakao_hub.redis_url
    kakao_hub.use_redis("redis://127.0.0.1:1/0")
    try:
        response = post(client, payload())
    finally:
        kakao_hub.use_redis(url)
    assert response.status_code == 200
    assert "다시 시도" in texts(response.get_json())
    assert counts(kakao_hub) == (0, 0, 0)


def test_a_lone_surrogate_in_the_utterance_is_400(kakao_hub, client):
    """Only Kakao can send with the secret, but a string no one can store is still a clear
    400, not a 500 (found by fuzzing)."""
    raw = json.dumps(payload("a\ud800b"))  # json.dumps writes it as the escape "\ud800"
    response = client.post(URL, data=raw, content_type="application/json",
                           headers={"X-Kakao-Skill-Secret": SECRET})
    assert response.status_code == 400
    assert response.get_json()["error"] == "bad_skill_request"
