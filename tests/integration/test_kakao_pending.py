"""Lossless late writes of the Kakao skill on the real app, PostgreSQL, Redis and an in-process
RQ SimpleWorker: the web process dies after answering "접수 중입니다…", and the periodic job
`kakao-finish-pending` commits the promised consultation exactly once."""

from __future__ import annotations

import json
from concurrent.futures import Future
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from channels.kakao import flow as kakao_flow
from channels.kakao import pending as kakao_pending
from channels.kakao import skill as kakao_skill
from intake.hub import Hub
from intake.models import ConsentEvent, Consultation, ContactPoint, Message, OutboxRow, Person
from tests.integration.conftest import run_jobs
from tests.integration.test_kakao_skill import (
    PLUSFRIEND_KEY,
    assert_valid_skill_response,
    counts,
    payload,
    post,
    replies,
    say,
    texts,
)
from workers import kakao_jobs
from workers.context import set_hub
from workers.periodic import tick
from workers.specs import PeriodicJob

REAL_WRITER = kakao_skill._writer
[RECOVERY] = [job for job in kakao_jobs.PERIODIC if job.id == "kakao-finish-pending"]


class _DeadWriter:
    """Stands in for the writer pool of a web process that dies right after answering: the
    write is submitted but never runs, so neither it nor its done-callbacks happen."""

    def __init__(self) -> None:
        self.submitted = 0

    def submit(self, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        return Future()


@pytest.fixture
def dying_web(monkeypatch: pytest.MonkeyPatch) -> _DeadWriter:
    writer = _DeadWriter()
    monkeypatch.setattr(kakao_skill, "_writer", writer)
    monkeypatch.setattr(kakao_skill, "WRITE_WAIT_SECONDS", 0.2)  # the answer comes sooner
    # The markers in these tests are fresh: recover them at once instead of after 10 s.
    monkeypatch.setattr(kakao_pending, "RECOVER_AFTER_SECONDS", 0.0)
    return writer


def run_recovery(hub: Hub, job: PeriodicJob = RECOVERY) -> None:
    """One periodic tick of the recovery job and a burst of an in-process SimpleWorker."""
    hub.redis.delete(job.key)  # the interval marker: run it now, even a second time
    set_hub(hub)
    try:
        assert tick(hub, [job]) == [job.id]
    finally:
        set_hub(None)
    run_jobs(hub, relay=False)


def to_confirmation(client: FlaskClient) -> None:
    post(client, payload())
    for text in ("동의", "김민지", "010-2345-6789", "저장 동의"):
        say(client, text)


def pending_keys(hub: Hub) -> list[bytes]:
    return [k for k in hub.redis.keys("intake:kakao:pending*")]


def stage(hub: Hub) -> str | None:
    state = kakao_flow.FlowState.load(hub.redis.get(kakao_flow.state_key(PLUSFRIEND_KEY)))
    return state.stage if state else None


def test_write_lost_with_the_web_process_is_committed_once_by_the_periodic_job(
        kakao_hub, client, dying_web, monkeypatch):
    """The answer says "접수 중", the process dies before the commit; the recovery job commits
    exactly one consultation with the conversation's data and consents (R5/R8)."""
    to_confirmation(client)
    answer = say(client, "예")
    assert_valid_skill_response(answer)
    assert "접수 중" in texts(answer)
    assert dying_web.submitted == 1
    assert counts(kakao_hub) == (0, 0, 0)  # nothing committed: the process "died"
    assert len(pending_keys(kakao_hub)) == 2  # the marker and its index
    flow_id = json.loads(kakao_hub.redis.get(kakao_flow.state_key(PLUSFRIEND_KEY)))["flow_id"]
    marker = kakao_flow.pending_key(f"kakao:flow:{flow_id}")
    assert kakao_hub.redis.ttl(marker) > 23 * 3600  # far beyond the 30-second recovery
    assert stage(kakao_hub) == "submitting"

    run_recovery(kakao_hub)

    assert counts(kakao_hub) == (1, 1, 1)
    with kakao_hub.db.begin() as session:
        consultation = session.scalars(select(Consultation)).one()
        assert consultation.channels == ["kakao"]
        assert consultation.interests == ["eyes"]
        assert consultation.preferred_hours == "토요일"
        person = session.get_one(Person, consultation.person_id)
        assert person.name == "김민지"
        points = {(cp.kind, cp.value) for cp in session.scalars(
            select(ContactPoint).where(ContactPoint.person_id == person.id))}
        assert points == {("kakao", PLUSFRIEND_KEY), ("phone", "+821023456789")}
        message = session.scalars(select(Message)).one()
        assert message.provider_id.startswith("kakao:flow:")
        events = list(session.scalars(select(ConsentEvent)))
        assert [e.method for e in events if e.purpose == "reply" and e.channel == "kakao"] \
            == ["kakao_flow"]
        assert any(e.purpose == "sensitive_health" and e.action == "grant" for e in events)
    assert pending_keys(kakao_hub) == []
    assert stage(kakao_hub) == "done"
    # The conversation knows its consultation: later text (a live web process) joins it.
    monkeypatch.setattr(kakao_skill, "_writer", REAL_WRITER)
    assert "전달" in texts(say(client, "주차 가능한가요?"))
    assert counts(kakao_hub)[0] == 1 and counts(kakao_hub)[2] == 2


def test_writing_again_while_the_write_is_pending_is_told_to_wait_and_stores_nothing(
        kakao_hub, client, dying_web):
    to_confirmation(client)
    say(client, "예")
    # (Utterances not sent before: an equal one within 10 s is a repeat with the first answer.)
    for text in ("접수 됐나요?", "아직인가요", "예 부탁합니다"):
        answer = say(client, text)
        assert "접수 중입니다" in texts(answer) and "잠시 후 다시 확인" in texts(answer)
        assert replies(answer) == []
    assert dying_web.submitted == 1  # no second write was started
    assert counts(kakao_hub) == (0, 0, 0)
    run_recovery(kakao_hub)
    assert counts(kakao_hub) == (1, 1, 1)


def test_running_the_recovery_twice_stores_once(kakao_hub, client, dying_web, monkeypatch):
    """The first run commits but dies before clearing its marker; the second replays the same
    provider id, which stores nothing twice, and clears it."""
    to_confirmation(client)
    say(client, "예")
    real_finish = kakao_pending.PendingWrites.finish
    monkeypatch.setattr(kakao_pending.PendingWrites, "finish", lambda self, pid: False)
    run_recovery(kakao_hub)
    assert counts(kakao_hub) == (1, 1, 1)
    assert pending_keys(kakao_hub)  # still there: the run "died" before clearing it
    with kakao_hub.db.begin() as session:
        consents = session.scalar(select(func.count()).select_from(ConsentEvent))
    monkeypatch.setattr(kakao_pending.PendingWrites, "finish", real_finish)
    run_recovery(kakao_hub)
    run_recovery(kakao_hub)  # and a third run finds nothing to do
    assert counts(kakao_hub) == (1, 1, 1)
    with kakao_hub.db.begin() as session:
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == consents
    assert pending_keys(kakao_hub) == []


def test_a_write_completed_in_the_web_process_leaves_no_pending_marker(kakao_hub, client):
    to_confirmation(client)
    assert "접수되었습니다" in texts(say(client, "예"))
    assert counts(kakao_hub) == (1, 1, 1)
    assert pending_keys(kakao_hub) == []
    # Free text after the flow is stored in time as well, and leaves none either.
    say(client, "시간 변경 가능한가요?")
    assert counts(kakao_hub)[2] == 2
    assert pending_keys(kakao_hub) == []


def test_a_young_marker_is_left_to_its_web_process(kakao_hub, client, dying_web,
                                                   monkeypatch):
    """Within `RECOVER_AFTER_SECONDS` the web process may still be writing: no recovery yet."""
    monkeypatch.setattr(kakao_pending, "RECOVER_AFTER_SECONDS", 10.0)
    to_confirmation(client)
    say(client, "예")
    run_recovery(kakao_hub)
    assert counts(kakao_hub) == (0, 0, 0)
    assert pending_keys(kakao_hub)


def test_lost_follow_up_text_is_committed_into_the_same_consultation(kakao_hub, client,
                                                                    monkeypatch):
    to_confirmation(client)
    say(client, "예")
    writer = _DeadWriter()
    monkeypatch.setattr(kakao_skill, "_writer", writer)
    monkeypatch.setattr(kakao_skill, "WRITE_WAIT_SECONDS", 0.2)
    monkeypatch.setattr(kakao_pending, "RECOVER_AFTER_SECONDS", 0.0)
    assert "접수 중" in texts(say(client, "사진 보내도 되나요?"))
    assert counts(kakao_hub)[2] == 1
    run_recovery(kakao_hub)
    assert counts(kakao_hub)[0] == 1
    with kakao_hub.db.begin() as session:
        bodies = [m.body for m in session.scalars(select(Message).order_by(Message.id))]
    assert bodies[-1] == "사진 보내도 되나요?"


def test_death_before_the_marker_shows_the_confirmation_again(kakao_hub, client):
    """Stage `submitting` without a marker: the request ended before anything was promised
    (and Kakao got no answer), so the next message asks to confirm again instead of waiting."""
    to_confirmation(client)
    key = kakao_flow.state_key(PLUSFRIEND_KEY)
    state = kakao_flow.FlowState.load(kakao_hub.redis.get(key))
    assert state is not None
    state.stage = "submitting"
    kakao_hub.redis.set(key, state.dump(), ex=60)
    answer = say(client, "어떻게 됐나요?")
    assert "다시 접수" in texts(answer)
    assert replies(answer) == ["예", "아니요"]
    assert "접수되었습니다" in texts(say(client, "예"))
    assert counts(kakao_hub) == (1, 1, 1)


def test_recovered_write_answers_through_a_still_valid_callback_url(
        kakao_hub, client, dying_web, kakao_callback_server):
    url, received = kakao_callback_server
    to_confirmation(client)
    body = payload("예", params={})
    body["userRequest"]["callbackUrl"] = url
    answer = post(client, body).get_json()
    assert answer["useCallback"] is True
    run_recovery(kakao_hub)  # commits and queues the callback in the outbox
    with kakao_hub.db.begin() as session:
        jobs = [r.job for r in session.scalars(select(OutboxRow))]
    assert "kakao_callback" in jobs
    run_jobs(kakao_hub)
    [late] = received
    assert late["version"] == "2.0" and "접수되었습니다" in texts(late)
    assert counts(kakao_hub)[:2] == (1, 1)


def test_recovered_write_after_the_callback_expired_queues_no_callback(
        kakao_hub, client, dying_web, monkeypatch):
    monkeypatch.setattr(kakao_skill, "CALLBACK_VALID_SECONDS", -1.0)  # already expired
    to_confirmation(client)
    body = payload("예", params={})
    body["userRequest"]["callbackUrl"] = "http://127.0.0.1:9/cb/once"
    post(client, body)
    run_recovery(kakao_hub)
    assert counts(kakao_hub) == (1, 1, 1)
    with kakao_hub.db.begin() as session:
        assert "kakao_callback" not in [r.job for r in session.scalars(select(OutboxRow))]


def test_recovery_job_waits_quietly_while_redis_is_away(kakao_hub):
    """The markers live in Redis: a tick while it does not answer (it went away mid-run in the
    worker-process test) finds nothing to do and leaves the next tick to go on, no traceback."""
    url = kakao_hub.redis_url
    kakao_hub.use_redis("redis://127.0.0.1:1/0")  # nothing listens on port 1
    set_hub(kakao_hub)
    try:
        assert kakao_jobs.finish_pending_writes() == 0
    finally:
        set_hub(None)
        kakao_hub.use_redis(url)
