"""AlimTalk out through a local stand-in speaking NHN Cloud's AlimTalk v2.3 API, sent by a real RQ
SimpleWorker in this process; the SMS fallback decided by the send-time policy; R56 and R58."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from channels.kakao import senders as kakao_senders
from channels.kakao.alimtalk import AlimTalkSender, NhnCloudAlimTalk, TemplateRegistry
from intake.hub import Hub
from intake.inquiry import ConsentChoice, ContactValue, Inquiry
from intake.models import Delivery
from intake.services.consent import record_consent
from intake.services.deliveries import schedule_delivery
from intake.services.receive import receive
from intake.vocab import Channel, ConsentAction, ConsentMethod, ConsentPurpose
from tests.integration.conftest import run_jobs
from workers import jobs
from workers.context import set_hub

APP_KEY, SECRET_KEY, SENDER_KEY = "appkey-test", "secret-test", "s" * 40
KAKAO_KEY = "Xq7Rk2LmP9sT"
PHONE = "010-2345-6789"
SUCCESS = {"header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": True},
           "message": {"requestId": "20261125-req-0001", "senderGroupingKey": None,
                       "sendResults": [{"recipientSeq": 1, "recipientNo": "01023456789",
                                        "resultCode": 0, "resultMessage": "SUCCESS",
                                        "recipientGroupingKey": "x"}]}}
# A recipient-level refusal (e.g. the number has no KakaoTalk): the request succeeded, the
# recipient did not.
NOT_KAKAO_USER = {"header": {"resultCode": 0, "resultMessage": "SUCCESS", "isSuccessful": True},
                  "message": {"requestId": "20261125-req-0002",
                              "sendResults": [{"recipientSeq": 1, "recipientNo": "01023456789",
                                               "resultCode": -1023,
                                               "resultMessage": "not a KakaoTalk user"}]}}


@dataclass
class StandIn:
    """NHN Cloud's AlimTalk endpoint on 127.0.0.1: records requests, answers `answer`."""

    answer: dict[str, Any] = field(default_factory=lambda: SUCCESS)
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        self.requests.append({"path": request.path, "headers": dict(request.headers),
                              "body": json.loads(request.get_data() or b"{}")})
        if request.headers.get("X-Secret-Key") != SECRET_KEY:
            response = Response(json.dumps({"header": {"isSuccessful": False,
                                                       "resultCode": -1000}}), status=401)
        else:
            response = Response(json.dumps(self.answer), status=self.status,
                                content_type="application/json;charset=UTF-8")
        return response(environ, start_response)


@pytest.fixture
def stand_in(app: Any, hub: Hub) -> Iterator[StandIn]:
    handler = StandIn()
    server = make_server("127.0.0.1", 0, handler, threaded=True)
    handler.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    set_hub(hub)
    saved = dict(hub.services["senders"])
    provider = NhnCloudAlimTalk(handler.base_url, APP_KEY, SECRET_KEY, SENDER_KEY)
    hub.services["senders"] = {**saved, "kakao": AlimTalkSender(
        provider, TemplateRegistry.load(), hub.db, hub.clinic.name)}
    try:
        yield handler
    finally:
        hub.services["senders"] = saved
        set_hub(None)
        server.shutdown()
        thread.join(5)


def kakao_person(hub: Hub) -> tuple[int, int]:
    """A consultation from the Kakao flow (kakao key + phone, reply consent by kakao_flow);
    answers (person id, consultation id). Its acknowledgement is queued on `kakao`."""
    value = Inquiry(channel=Channel.KAKAO, provider_id="kakao:flow:test",
                    received_at=datetime.now(UTC),
                    contacts=(ContactValue("kakao", KAKAO_KEY), ContactValue("phone", PHONE)),
                    name="김민지", body="카카오톡 상담 신청", reply_channel="kakao",
                    consents=(ConsentChoice(ConsentPurpose.REPLY, ConsentAction.GRANT,
                                            ConsentMethod.KAKAO_FLOW, channel="kakao",
                                            evidence={"notice": "consent.collection"}),),
                    consent_method=ConsentMethod.KAKAO_FLOW)
    with hub.db.begin() as session:
        receipt = receive(session, value, hub.clinic)
    return receipt.person_id, receipt.consultation_id


def work(hub: Hub) -> None:
    """Relay the outbox and run a real RQ SimpleWorker in burst mode, in this process."""
    run_jobs(hub)


def deliveries(hub: Hub, consultation_id: int) -> list[Delivery]:
    with hub.db.begin() as session:
        return list(session.scalars(select(Delivery).where(
            Delivery.consultation_id == consultation_id).order_by(Delivery.id)))


def test_alimtalk_success_uses_nhn_cloud_format_and_the_idempotency_key(stand_in, hub):
    _person, consultation_id = kakao_person(hub)
    work(hub)
    [delivery] = deliveries(hub, consultation_id)
    assert delivery.channel == "kakao" and delivery.status == "sent"
    assert delivery.provider_id == "20261125-req-0001:1"
    [sent] = stand_in.requests
    assert sent["path"] == f"/alimtalk/v2.3/appkeys/{APP_KEY}/messages"
    assert sent["headers"]["X-Secret-Key"] == SECRET_KEY
    assert sent["headers"]["X-Nc-Api-Idempotency-Key"] == f"delivery-{delivery.id}"
    assert sent["headers"]["Content-Type"].startswith("application/json")
    body = sent["body"]
    assert body["senderKey"] == SENDER_KEY and body["templateCode"] == "INTAKE_ACK"
    [recipient] = body["recipientList"]
    assert recipient["recipientNo"] == "01023456789"
    assert recipient["templateParameter"]["message"] == delivery.body
    assert recipient["templateParameter"]["clinic"] == hub.clinic.name


def test_rerun_of_a_sent_delivery_sends_nothing_again(stand_in, hub):
    _person, consultation_id = kakao_person(hub)
    work(hub)
    [delivery] = deliveries(hub, consultation_id)
    assert jobs.deliver(delivery.id) == "sent"
    assert len(stand_in.requests) == 1


def test_provider_5xx_is_retried_not_failed(stand_in, hub):
    stand_in.status = 503
    _person, consultation_id = kakao_person(hub)
    [delivery] = deliveries(hub, consultation_id)
    with pytest.raises(Exception, match="HTTP 503"):
        jobs.deliver(delivery.id)
    assert deliveries(hub, consultation_id)[0].status == "queued"


def test_r56_failure_falls_back_to_sms_when_sms_is_allowed(stand_in, hub):
    """R56: AlimTalk failed for good (no KakaoTalk on that number) and SMS is allowed for this
    person (R6: they gave the number): an SMS with the same informational text goes out."""
    _person, consultation_id = kakao_person(hub)
    stand_in.answer = NOT_KAKAO_USER
    work(hub)
    kakao, sms = deliveries(hub, consultation_id)
    assert kakao.status == "failed"
    assert "-1023" in kakao.reason and f"SMS fallback scheduled (delivery {sms.id})" in \
        kakao.reason
    assert sms.channel == "sms" and sms.recipient == "+821023456789"
    assert sms.body == kakao.body and sms.purpose == kakao.purpose
    work(hub)  # the fallback is decided and sent like any delivery (here: the sink)
    assert deliveries(hub, consultation_id)[1].status == "delivered"


def test_failure_without_an_allowed_sms_channel_fails_with_the_reason(stand_in, hub):
    person_id, consultation_id = kakao_person(hub)
    with hub.db.begin() as session:
        record_consent(session, person_id, ConsentPurpose.REPLY, ConsentAction.OPT_OUT,
                       ConsentMethod.SMS_KEYWORD, {"keyword": "STOP"}, channel="sms")
    stand_in.answer = NOT_KAKAO_USER
    work(hub)
    [kakao] = deliveries(hub, consultation_id)
    assert kakao.status == "failed"
    assert "no SMS fallback: SMS opted out" in kakao.reason


def test_r56_advertising_text_is_not_sent_by_alimtalk_nor_by_sms(stand_in, hub):
    """R49/R56: a reply that mixes in promotion is refused by AlimTalk, with no SMS fallback."""
    person_id, consultation_id = kakao_person(hub)
    with hub.db.begin() as session:
        reply_id = schedule_delivery(session, person_id=person_id,
                                     consultation_id=consultation_id, channel="kakao",
                                     purpose="reply", recipient=KAKAO_KEY,
                                     body="이번 달 쌍꺼풀 20% 할인 이벤트를 안내드립니다.")
    assert jobs.deliver(reply_id) == "failed"
    with hub.db.begin() as session:
        refused = session.get(Delivery, reply_id)
        assert refused is not None and "R56" in (refused.reason or "")
        assert "no SMS fallback" in (refused.reason or "")
        assert not [d for d in session.scalars(select(Delivery))
                    if (d.headers or {}).get("fallback_of") == reply_id]
    assert stand_in.requests == []


def test_r58_kakao_advertising_at_2100_is_held_even_with_night_consent(stand_in, hub,
                                                                        monkeypatch):
    """R58: KakaoTalk advertising is blocked 20:50-08:00 even with marketing and night consent."""
    person_id, _consultation_id = kakao_person(hub)
    with hub.db.begin() as session:
        for purpose in (ConsentPurpose.MARKETING, ConsentPurpose.MARKETING_NIGHT):
            record_consent(session, person_id, purpose, ConsentAction.GRANT,
                           ConsentMethod.KAKAO_FLOW, {"flow_id": "m"}, channel="kakao")
        ad_id = schedule_delivery(session, person_id=person_id, channel="kakao",
                                  purpose="marketing", recipient=KAKAO_KEY, body="(광고) 안내")
    monkeypatch.setattr(jobs, "utcnow", lambda: datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    assert jobs.deliver(ad_id) == "held"
    with hub.db.begin() as session:
        held = session.get(Delivery, ad_id)
        assert held is not None and "R58" in (held.reason or "")
    assert stand_in.requests == []


def test_senders_only_with_all_alimtalk_settings(hub):
    assert kakao_senders(hub) == {}
    original = hub.settings
    hub.settings = original.with_overrides(
        alimtalk_api_base_url="http://127.0.0.1:9", alimtalk_app_key=APP_KEY,
        alimtalk_secret_key=SECRET_KEY, alimtalk_sender_key=SENDER_KEY)
    try:
        built = kakao_senders(hub)
    finally:
        hub.settings = original
    assert isinstance(built["kakao"], AlimTalkSender)
