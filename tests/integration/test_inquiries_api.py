"""`POST /api/v1/inquiries` against the real app, PostgreSQL and Redis: the contract's answers
(201, 400, 409, 413, 415, 422, 429), idempotency, and the rules the stored result must obey
(R1, R6, R8, R9, R12, R40)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import MetaData, func, select
from werkzeug.test import TestResponse

from intake.hub import Hub
from intake.models import ConsentEvent, Consultation, ContactPoint, Delivery, Message, Person
from intake.services.receive import InquiryRejected

URL = "/api/v1/inquiries"
MINIMAL: dict[str, Any] = {"name": "김민수", "phone": "010-1234-5678"}
RRN = "950101-1234567"
# A resident registration number's shape, hyphenated or as a 13-digit run (R9).
RRN_SHAPE = re.compile(r"(?<!\d)\d{6}[-\s]?\d{7}(?!\d)")


def post(client: FlaskClient, body: Any, **headers: str) -> TestResponse:
    return client.post(URL, json=body, headers=headers)


def counts(hub: Hub) -> tuple[int, int, int]:
    with hub.db.begin() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Person, Consultation, Message))


def stored_strings(hub: Hub) -> Iterator[tuple[str, str, str]]:
    """Every text value in every table (JSON columns as their JSON text), by reflection."""
    with hub.db.begin() as session:
        meta = MetaData()
        meta.reflect(bind=session.connection())
        for table in meta.sorted_tables:
            for row in session.execute(select(table)):
                for column, value in row._mapping.items():
                    if isinstance(value, str):
                        yield table.name, str(column), value
                    elif isinstance(value, dict | list):
                        yield table.name, str(column), json.dumps(value, ensure_ascii=False)


def deliveries(hub: Hub, consultation_id: int) -> list[Delivery]:
    with hub.db.begin() as session:
        return list(session.scalars(select(Delivery)
                                    .where(Delivery.consultation_id == consultation_id)))


def consent_events(hub: Hub, person_id: int) -> list[ConsentEvent]:
    with hub.db.begin() as session:
        return list(session.scalars(select(ConsentEvent)
                                    .where(ConsentEvent.person_id == person_id)
                                    .order_by(ConsentEvent.id)))


def inbound_message(hub: Hub, consultation_id: int) -> Message:
    with hub.db.begin() as session:
        message = session.scalar(select(Message).where(Message.consultation_id == consultation_id))
        assert message is not None
        return message


def consultation(hub: Hub, consultation_id: int) -> Consultation:
    with hub.db.begin() as session:
        found = session.get(Consultation, consultation_id)
        assert found is not None
        return found


# -- acceptance -------------------------------------------------------------------------------

def test_r1_only_the_required_items_is_accepted_and_acknowledged(client: FlaskClient,
                                                                  hub: Hub) -> None:
    """R1: no optional item ticked or filled → 201, a consultation, an acknowledgement queued."""
    response = post(client, {**MINIMAL, "reply_channel": "sms"})
    assert response.status_code == 201, response.json
    body = response.json
    assert body is not None
    assert set(body) >= {"consultation_id", "person_id", "status"}
    assert body["status"] == "new"
    assert "Idempotent-Replayed" not in response.headers
    acks = [d for d in deliveries(hub, body["consultation_id"])
            if d.purpose == "acknowledgement"]
    assert [(d.channel, d.recipient, d.status) for d in acks] == [
        ("sms", "+821012345678", "queued")]


def test_r1_acknowledgement_goes_on_the_chosen_channel(client: FlaskClient, hub: Hub) -> None:
    response = post(client, {"name": "Jane", "phone": "010-2222-3333",
                             "email": "Jane@Example.com", "reply_channel": "email",
                             "locale": "en"})
    assert response.status_code == 201
    body = response.json
    assert body is not None
    acks = [d for d in deliveries(hub, body["consultation_id"])
            if d.purpose == "acknowledgement"]
    assert [(d.channel, d.recipient) for d in acks] == [("email", "jane@example.com")]
    assert "consultation request" in acks[0].body  # the person's language


def test_the_route_is_public_and_documented(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").json
    assert document is not None
    operation = document["paths"]["/api/v1/inquiries"]["post"]
    assert "security" not in operation
    assert {"201", "400", "409", "413", "415", "422", "429"} <= set(operation["responses"])
    assert operation["tags"] == ["inquiries"]


def test_contacts_are_stored_normalised_phone_first(client: FlaskClient, hub: Hub) -> None:
    response = post(client, {"name": "Kim", "email": " KIM@Example.com ",
                             "phone": "010 1234 5678"})
    body = response.json
    assert response.status_code == 201 and body is not None
    with hub.db.begin() as session:
        points = session.scalars(select(ContactPoint)
                                 .where(ContactPoint.person_id == body["person_id"])
                                 .order_by(ContactPoint.id)).all()
        assert [(p.kind, p.value) for p in points] == [("phone", "+821012345678"),
                                                       ("email", "kim@example.com")]
    message = inbound_message(hub, body["consultation_id"])
    assert message.channel == "web"


# -- R8, R6/R40 -------------------------------------------------------------------------------

def test_r8_without_sensitive_consent_health_fields_are_not_stored(client: FlaskClient,
                                                                   hub: Hub) -> None:
    response = post(client, {**MINIMAL, "interests": ["nose"], "message": "코 재수술 문의"})
    body = response.json
    assert response.status_code == 201 and body is not None
    assert inbound_message(hub, body["consultation_id"]).body is None
    assert consultation(hub, body["consultation_id"]).interests == []
    assert not [e for e in consent_events(hub, body["person_id"])
                if e.purpose == "sensitive_health"]


def test_r8_with_sensitive_consent_health_fields_are_stored(client: FlaskClient,
                                                            hub: Hub) -> None:
    response = post(client, {**MINIMAL, "interests": ["nose", "eyes"],
                             "message": "코 재수술 문의", "consents": {"sensitive_health": True}})
    body = response.json
    assert response.status_code == 201 and body is not None
    assert inbound_message(hub, body["consultation_id"]).body == "코 재수술 문의"
    assert consultation(hub, body["consultation_id"]).interests == ["eyes", "nose"]
    [event] = [e for e in consent_events(hub, body["person_id"])
               if e.purpose == "sensitive_health"]
    notice = hub.clinic.notices.consent("consent.sensitive_health", "ko")
    assert event.action == "grant" and event.method == "web_form"
    assert event.evidence["notice_version"] == notice.version
    assert event.evidence["notice_sha256"] == notice.sha256
    assert event.evidence["api"] == "inquiries"


def test_r40_marketing_consents_are_ledger_events_with_notice_evidence(
        client: FlaskClient, hub: Hub) -> None:
    """R6/R40/R43: one grant per marketing channel and per night channel, each with the notice
    version and sha256 in the person's language; the reply basis recorded by the domain."""
    response = post(client, {"name": "Jane", "phone": "010-2222-3333", "email": "j@example.com",
                             "locale": "en",
                             "consents": {"marketing": ["sms", "email"],
                                          "marketing_night": ["sms"]}})
    body = response.json
    assert response.status_code == 201 and body is not None
    events = consent_events(hub, body["person_id"])
    marketing = {(e.purpose, e.channel) for e in events if e.purpose.startswith("marketing")}
    assert marketing == {("marketing", "sms"), ("marketing", "email"),
                         ("marketing_night", "sms")}
    notices = hub.clinic.notices
    for event in events:
        if event.purpose == "marketing":
            notice = notices.consent("consent.marketing", "en")
        elif event.purpose == "marketing_night":
            notice = notices.consent("consent.marketing_night", "en")
        else:
            continue
        assert event.action == "grant" and event.method == "web_form"
        assert event.evidence["notice"] == notice.key
        assert event.evidence["notice_version"] == notice.version
        assert re.fullmatch(r"[0-9a-f]{64}", event.evidence["notice_sha256"])
        assert event.evidence["notice_sha256"] == notice.sha256
        assert event.evidence["locale"] == "en"
    reply = {e.channel for e in events if e.purpose == "reply"}
    assert reply == {"sms", "voice", "email"}  # R6: request_response, recorded by `receive`
    assert all("request_response" in e.evidence["basis"] for e in events
               if e.purpose == "reply")
    [ack] = [d for d in deliveries(hub, body["consultation_id"])
             if d.purpose == "acknowledgement"]
    assert "Advertising consent result" in ack.body  # R47 rides in the acknowledgement


def test_r40_unticked_marketing_records_nothing(client: FlaskClient, hub: Hub) -> None:
    body = post(client, {**MINIMAL, "consents": {"sensitive_health": False, "marketing": [],
                                                 "marketing_night": []}}).json
    assert body is not None
    events = consent_events(hub, body["person_id"])
    assert {e.purpose for e in events} == {"reply"}


# -- R9 ---------------------------------------------------------------------------------------

def test_r9_no_resident_registration_number_is_stored_anywhere(client: FlaskClient,
                                                               hub: Hub) -> None:
    """R9: an RRN in the message and the preferred hours is masked before anything is stored;
    every string of every table is scanned, and the answer too."""
    response = post(client, {**MINIMAL, "message": f"제 주민번호는 {RRN} 입니다",
                             "preferred_hours": f"평일 저녁 {RRN}", "region": "9501011234567",
                             "consents": {"sensitive_health": True}})
    assert response.status_code == 201
    assert not RRN_SHAPE.search(response.get_data(as_text=True))
    body = response.json
    assert body is not None
    strings = list(stored_strings(hub))
    assert ("people", "name", "김민수") in strings  # the scan does read the stored rows
    assert [(table, column) for table, column, value in strings
            if RRN_SHAPE.search(value)] == []
    message = inbound_message(hub, body["consultation_id"])
    assert message.body is not None and "950101-*******" in message.body
    assert "rrn" in message.redactions


# -- R12 --------------------------------------------------------------------------------------

def test_r12_a_child_waits_for_the_guardian(client: FlaskClient, hub: Hub) -> None:
    """R12: status pending_guardian; only the child's name and the guardian's name and phone;
    a notice to the guardian and nothing to the child."""
    response = post(client, {"name": "김어린", "phone": "010-5555-6666",
                             "email": "kid@example.com", "age": 12, "sex": "female",
                             "region": "서울", "message": "쌍꺼풀 문의", "interests": ["eyes"],
                             "consents": {"sensitive_health": True, "marketing": ["sms"]},
                             "guardian": {"name": "김보호", "phone": "010-7777-8888"}})
    body = response.json
    assert response.status_code == 201 and body is not None
    assert body["status"] == "pending_guardian"
    with hub.db.begin() as session:
        person = session.get(Person, body["person_id"])
        assert person is not None
        assert person.name == "김어린"
        assert (person.guardian_name, person.guardian_phone) == ("김보호", "+821077778888")
        assert person.sex is None and person.region is None and person.age is None
        assert person.birth_date is None
        assert session.scalars(select(ContactPoint)
                               .where(ContactPoint.person_id == person.id)).all() == []
    assert inbound_message(hub, body["consultation_id"]).body is None
    sent = deliveries(hub, body["consultation_id"])
    assert [(d.purpose, d.channel, d.recipient) for d in sent] == [
        ("notice", "sms", "+821077778888")]
    assert consent_events(hub, body["person_id"]) == []


def test_r12_a_child_without_a_guardian_is_refused(client: FlaskClient, hub: Hub) -> None:
    before = counts(hub)
    response = post(client, {**MINIMAL, "age": 12})
    assert response.status_code == 422
    assert response.json is not None and "guardian" in response.json["fields"]
    assert counts(hub) == before


# -- refusals ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("payload", "key"), [
    ({"phone": "010-1234-5678"}, "name"),
    ({"name": "Kim"}, "phone"),
    ({"name": "Kim", "email": "kim@@example"}, "email"),
    ({"name": "Kim", "phone": "010-12"}, "phone"),
    ({**MINIMAL, "age": 500}, "age"),
    ({**MINIMAL, "birth_date": "1800-01-01"}, "birth_date"),
    ({**MINIMAL, "birth_date": "2999-01-01"}, "birth_date"),
    ({**MINIMAL, "interests": ["teeth"]}, "interests"),
    ({**MINIMAL, "favourite_colour": "blue"}, "favourite_colour"),
    ({**MINIMAL, "reply_channel": "kakao"}, "reply_channel"),
    ({**MINIMAL, "reply_channel": "email"}, "reply_channel"),
    ({**MINIMAL, "consents": {"marketing_night": ["sms"]}}, "consents.marketing_night"),
    ({**MINIMAL, "sex": "unknown"}, "sex"),
    ({**MINIMAL, "locale": "fr"}, "locale"),
    ({**MINIMAL, "message": "a\x00b"}, "message"),
])
def test_invalid_inquiry_is_422_and_stores_nothing(client: FlaskClient, hub: Hub,
                                                   payload: dict[str, Any], key: str) -> None:
    before = counts(hub)
    response = post(client, payload)
    assert response.status_code == 422
    body = response.json
    assert body is not None
    assert body["error"] == "validation_failed" and body["message"]
    assert key in body["fields"], body["fields"]
    assert counts(hub) == before


def test_validation_messages_never_echo_the_submitted_value(client: FlaskClient) -> None:
    """R9: a value may be an RRN; no error names it."""
    response = post(client, {"name": RRN * 10, "phone": RRN, "email": RRN, "sex": RRN,
                             "age": RRN, "birth_date": RRN, "interests": [RRN], RRN: RRN})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "950101" not in text and "1234567" not in text


@pytest.mark.parametrize("payload", [[MINIMAL], "hello", 42, None])
def test_a_body_that_is_not_an_object_is_422(client: FlaskClient, payload: Any) -> None:
    response = client.post(URL, data=json.dumps(payload), content_type="application/json")
    assert response.status_code == 422
    assert response.json is not None and response.json["error"] == "validation_failed"


def test_malformed_json_is_400(client: FlaskClient, hub: Hub) -> None:
    before = counts(hub)
    response = client.post(URL, data='{"name": "Kim", ', content_type="application/json")
    assert response.status_code == 400
    assert response.json is not None and response.json["error"] == "bad_json"
    assert counts(hub) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          None])
def test_another_content_type_is_415(client: FlaskClient, content_type: str | None) -> None:
    response = client.post(URL, data=json.dumps(MINIMAL), content_type=content_type)
    assert response.status_code == 415
    assert response.json is not None and response.json["error"] == "unsupported_media_type"


def test_json_with_a_charset_is_accepted(client: FlaskClient) -> None:
    response = client.post(URL, data=json.dumps(MINIMAL).encode(),
                           content_type="application/json; charset=utf-8")
    assert response.status_code == 201


def test_an_oversized_body_is_413_json(client: FlaskClient, app: Flask, hub: Hub) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == hub.settings.max_content_length
    before = counts(hub)
    response = post(client, {**MINIMAL, "message": "x" * int(limit * 1.1)})
    assert response.status_code == 413
    assert response.json is not None and response.json["error"] == "payload_too_large"
    assert counts(hub) == before


def test_a_rejection_by_the_domain_is_422_on_its_field(client: FlaskClient, hub: Hub,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise InquiryRejected("phone", "not a valid phone number")

    monkeypatch.setattr("channels.web.api.receive_once", refuse)
    response = post(client, MINIMAL)
    assert response.status_code == 422
    assert response.json is not None
    assert response.json["fields"] == {"phone": ["not a valid phone number"]}


# -- idempotency ------------------------------------------------------------------------------

def test_idempotency_key_replay_answers_the_first_result(client: FlaskClient, hub: Hub) -> None:
    first = post(client, MINIMAL, **{"Idempotency-Key": "order-42"})
    again = post(client, MINIMAL, **{"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 201
    assert first.json == again.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert first.json is not None
    with hub.db.begin() as session:
        messages = session.scalars(select(Message).where(
            Message.consultation_id == first.json["consultation_id"])).all()
        assert [m.provider_id for m in messages] == ["key:order-42"]
    acks = [d for d in deliveries(hub, first.json["consultation_id"])
            if d.purpose == "acknowledgement"]
    assert len(acks) == 1


def test_idempotency_key_replay_does_not_depend_on_redis(client: FlaskClient, hub: Hub) -> None:
    """The key's record is the stored message: after Redis lost everything (this Redis keeps
    nothing on disk) a retry still answers the first result."""
    first = post(client, MINIMAL, **{"Idempotency-Key": "k-1"})
    hub.redis.flushdb()
    again = post(client, MINIMAL, **{"Idempotency-Key": "k-1"})
    assert again.status_code == 201 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"


def test_idempotency_key_reused_after_redis_lost_everything_is_still_409(
        client: FlaskClient, hub: Hub) -> None:
    """A reused key with another inquiry is refused even when Redis was emptied meanwhile: it
    is never answered as a replay, which would drop the new inquiry without a word."""
    post(client, MINIMAL, **{"Idempotency-Key": "k-3"})
    hub.redis.flushdb()
    before = counts(hub)
    response = post(client, {**MINIMAL, "message": "another inquiry"},
                    **{"Idempotency-Key": "k-3"})
    assert response.status_code == 409
    assert response.json is not None and response.json["error"] == "idempotency_key_reused"
    assert counts(hub) == before


def test_idempotency_key_reused_with_another_body_is_409(client: FlaskClient, hub: Hub) -> None:
    post(client, MINIMAL, **{"Idempotency-Key": "k-2"})
    before = counts(hub)
    response = post(client, {**MINIMAL, "message": "different"}, **{"Idempotency-Key": "k-2"})
    assert response.status_code == 409
    assert response.json is not None and response.json["error"] == "idempotency_key_reused"
    assert counts(hub) == before


def test_a_long_idempotency_key_fits_the_provider_id(client: FlaskClient) -> None:
    key = "k" * 255
    first = post(client, MINIMAL, **{"Idempotency-Key": key})
    again = post(client, MINIMAL, **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert first.json == again.json


@pytest.mark.parametrize("key", ["", "k" * 256, "열쇠", "tab\there"])
def test_a_bad_idempotency_key_is_400(client: FlaskClient, hub: Hub, key: str) -> None:
    before = counts(hub)
    response = post(client, MINIMAL, **{"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.json is not None and response.json["error"] == "bad_idempotency_key"
    assert counts(hub) == before


def test_without_a_key_each_request_is_a_new_message(client: FlaskClient, hub: Hub) -> None:
    first = post(client, MINIMAL).json
    second = post(client, MINIMAL).json
    assert first is not None and second is not None
    assert first["message_id"] != second["message_id"]
    # The same person writing again threads into the open consultation.
    assert first["consultation_id"] == second["consultation_id"]


# -- rate limit -------------------------------------------------------------------------------

def test_rate_limit_is_429_with_retry_after(client: FlaskClient, hub: Hub,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "settings", hub.settings.with_overrides(intake_rate_limit=(3, 60)))
    answers = [post(client, {"name": "Kim"}).status_code for _ in range(3)]
    assert answers == [422, 422, 422]  # refused requests count too
    before = counts(hub)
    response = post(client, MINIMAL)
    assert response.status_code == 429
    assert response.json is not None and response.json["error"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert counts(hub) == before


def test_rate_limit_is_per_client_address(client: FlaskClient, hub: Hub,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "settings", hub.settings.with_overrides(intake_rate_limit=(1, 60)))
    assert client.post(URL, json=MINIMAL,
                       environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code == 201
    assert client.post(URL, json=MINIMAL,
                       environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code == 429
    assert client.post(URL, json=MINIMAL,
                       environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 201


# -- logs -------------------------------------------------------------------------------------

def test_nothing_personal_is_logged(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    """Accepted and refused inquiries are logged by ids and field names only."""
    caplog.set_level(logging.DEBUG)
    post(client, {**MINIMAL, "email": "kim@example.com", "message": RRN,
                  "consents": {"sensitive_health": True}})
    post(client, {"name": "김민수", "phone": RRN, "email": "kim@example"})
    assert "channels.web.api" in caplog.text
    for secret in ("김민수", "1234-5678", "12345678", "kim@example", "950101", "1234567"):
        assert secret not in caplog.text


def test_refusals_are_counted_in_metrics(client, hub):
    """A refused request writes nothing to the database but is counted (contract: Access)."""
    from tests.factories import auth, make_staff

    client.post("/api/v1/inquiries", data="nope", content_type="text/plain")
    client.post("/api/v1/inquiries", json={"name": ""})
    _sid, token = make_staff(hub, "admin")
    counters = client.get("/api/v1/metrics", headers=auth(token)).get_json()["counters"]
    assert counters["refused.inquiries.unsupported_media_type"] == 1
    assert counters["refused.inquiries.validation"] == 1
    _cid, counsellor = make_staff(hub, "counsellor")
    assert client.get("/api/v1/metrics", headers=auth(counsellor)).status_code == 403


def test_a_lone_surrogate_escape_is_400_and_stores_nothing(client: FlaskClient,
                                                           hub: Hub) -> None:
    """`"\\ud800"` is JSON syntax but no text a database can store: 400 bad_json (it was a 500,
    found by fuzzing); a proper pair (an emoji escaped as two halves) is still text."""
    before = counts(hub)
    raw = '{"name": "김민수", "phone": "010-1234-5678", "message": "a\\ud800b"}'
    response = client.post(URL, data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json is not None and response.json["error"] == "bad_json"
    assert counts(hub) == before
    emoji = '{"name": "김민수", "phone": "010-1234-5678", "message": "코 \\ud83d\\ude00"}'
    accepted = client.post(URL, data=emoji, content_type="application/json")
    assert accepted.status_code == 201, accepted.json
