"""The counsellor API driven as an integrator would: bearer tokens, the queue, one consultation,
assign, status, notes, replies (409 without an allowed channel), consents, deliveries."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, select

from intake.inquiry import Guardian, Profile
from intake.models import AuditEntry, Delivery, OutboxRow
from intake.services.consent import record_consent
from intake.vocab import Channel
from tests.factories import OPEN_TIME, auth, inquiry, make_staff, received


def test_api_needs_a_bearer_token(client, hub):
    assert client.get("/api/v1/consultations").status_code == 401
    response = client.get("/api/v1/consultations", headers=auth("nope"))
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


def test_queue_lists_every_channel_with_masked_people_R55(client, hub):
    _sid, token = make_staff(hub, "counsellor")
    first = received(hub, inquiry(name="김민수", phone="010-1234-5678"))
    second = received(hub, inquiry(Channel.SMS, name=None, phone="010-9999-5678",
                                   at=OPEN_TIME + timedelta(minutes=5)))
    body = client.get("/api/v1/consultations", headers=auth(token)).get_json()
    ids = [item["id"] for item in body["items"]]
    assert ids == [second.consultation_id, first.consultation_id]  # newest activity first
    item = body["items"][1]
    assert item["person"]["name"] == "김*수"
    assert item["person"]["contact"] == "010-****-5678"
    assert item["channels"] == ["web"]
    assert body["next_cursor"] is None


def test_keyset_pagination_is_stable(client, hub):
    _sid, token = make_staff(hub, "counsellor")
    ids = [received(hub, inquiry(phone=f"010-1000-{n:04d}",
                                 at=OPEN_TIME + timedelta(minutes=n))).consultation_id
           for n in range(5)]
    page1 = client.get("/api/v1/consultations?limit=2", headers=auth(token)).get_json()
    # a new inquiry arriving between pages does not shift the next page
    received(hub, inquiry(phone="010-1000-9999", at=OPEN_TIME + timedelta(hours=1)))
    page2 = client.get(f"/api/v1/consultations?limit=2&cursor={page1['next_cursor']}",
                       headers=auth(token)).get_json()
    page3 = client.get(f"/api/v1/consultations?limit=2&cursor={page2['next_cursor']}",
                       headers=auth(token)).get_json()
    seen = [i["id"] for p in (page1, page2, page3) for i in p["items"]]
    assert seen == list(reversed(ids))
    assert page3["next_cursor"] is None


def test_queue_filters(client, hub):
    sid, token = make_staff(hub, "counsellor")
    web = received(hub, inquiry(phone="010-2000-0001", interests=("nose",),
                                health_consent=True, body="코 재수술 문의"))
    sms = received(hub, inquiry(Channel.SMS, phone="010-2000-0002", body="눈 상담"))
    client.post(f"/api/v1/consultations/{sms.consultation_id}/assign",
                json={"assignee_id": sid}, headers=auth(token))

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/v1/consultations?{query}", headers=auth(token))
        assert response.status_code == 200, response.get_json()
        return [i["id"] for i in response.get_json()["items"]]

    assert ids("channel=sms") == [sms.consultation_id]
    assert ids("interest=nose") == [web.consultation_id]
    assert ids("assignee=me") == [sms.consultation_id]
    assert ids("assignee=none") == [web.consultation_id]
    assert ids("status=open") == [sms.consultation_id]
    assert ids("status=new,open") == [sms.consultation_id, web.consultation_id]
    assert ids("q=재수술") == [web.consultation_id]
    assert ids("q=2000-0002") == []  # contacts are searched normalised: +8210...
    assert ids("q=1020000002") == [sms.consultation_id]
    bad = client.get("/api/v1/consultations?status=bogus&limit=500", headers=auth(token))
    assert bad.status_code == 422
    assert set(bad.get_json()["fields"]) == {"status", "limit"}


def test_consultation_shows_thread_consents_and_is_audited_R29(client, hub):
    sid, token = make_staff(hub, "counsellor")
    receipt = received(hub, inquiry(email="Min@Example.com", reply_channel="email"))
    received(hub, inquiry(Channel.SMS, phone="010-1234-5678", body="두번째 문자",
                          at=OPEN_TIME + timedelta(minutes=1)))
    response = client.get(f"/api/v1/consultations/{receipt.consultation_id}",
                          headers=auth(token), environ_base={"REMOTE_ADDR": "10.1.2.3"})
    data = response.get_json()
    assert response.status_code == 200
    assert [m["channel"] for m in data["messages"]] == ["web", "sms"]  # one cross-channel thread
    assert {"kind": "email", "value": "min@example.com", "verified": False} in \
        data["person"]["contact_points"]
    assert data["consents"]["allowed"]["email"]["reply"]["allowed"] is True
    assert data["consents"]["allowed"]["kakao"]["reply"] == {
        "allowed": False, "reason": "no KakaoTalk contact point"}
    assert data["deliveries"][0]["purpose"] == "acknowledgement"
    assert data["deliveries"][0]["recipient"] == "m**@example.com"
    with hub.db.begin() as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "consultation.view")).one()
        assert (entry.staff_id, entry.person_id, entry.ip) == (sid, receipt.person_id, "10.1.2.3")
        assert entry.at is not None


def test_marketer_never_sees_bodies_or_health_fields(client, hub):
    _sid, token = make_staff(hub, "marketer")
    receipt = received(hub, inquiry(interests=("nose",), health_consent=True))
    assert client.get(f"/api/v1/consultations/{receipt.consultation_id}",
                      headers=auth(token)).status_code == 403
    assert client.get("/api/v1/deliveries", headers=auth(token)).status_code == 403
    items = client.get("/api/v1/consultations", headers=auth(token)).get_json()["items"]
    assert items[0]["interests"] == []
    assert "body" not in str(items)


def test_status_assign_and_notes(client, hub):
    sid, token = make_staff(hub, "counsellor")
    receipt = received(hub, inquiry())
    url = f"/api/v1/consultations/{receipt.consultation_id}"
    assigned = client.post(f"{url}/assign", json={"assignee_id": sid}, headers=auth(token))
    assert assigned.get_json()["assignee"]["id"] == sid
    assert assigned.get_json()["status"] == "open"
    booked = client.post(f"{url}/status", json={"status": "booked"}, headers=auth(token))
    assert booked.get_json()["status"] == "booked"
    assert [h["to_status"] for h in booked.get_json()["status_history"]] == ["open", "booked"]
    note = client.post(f"{url}/notes", json={"body": "다음 주 화요일 방문 예정"},
                       headers=auth(token))
    assert note.status_code == 201
    assert client.get(url, headers=auth(token)).get_json()["notes"][0]["body"] == \
        "다음 주 화요일 방문 예정"
    assert client.post(f"{url}/status", json={"status": "later"},
                       headers=auth(token)).status_code == 422
    assert client.post(f"{url}/notes", json={"body": "x", "extra": 1},
                       headers=auth(token)).get_json()["fields"] == {"extra": ["Unknown field."]}
    assert client.post("/api/v1/consultations/999999/notes", json={"body": "x"},
                       headers=auth(token)).status_code == 404


def test_reply_goes_through_an_allowed_channel(client, hub):
    _sid, token = make_staff(hub, "counsellor")
    receipt = received(hub, inquiry(email="pat@example.com", reply_channel="email"))
    response = client.post(f"/api/v1/consultations/{receipt.consultation_id}/replies",
                           json={"body": "상담 가능한 시간을 알려주세요."}, headers=auth(token))
    assert response.status_code == 202
    delivery = response.get_json()
    assert (delivery["channel"], delivery["purpose"], delivery["status"]) == \
        ("email", "reply", "queued")
    thread = client.get(f"/api/v1/consultations/{receipt.consultation_id}",
                        headers=auth(token)).get_json()
    assert thread["messages"][-1]["direction"] == "out"
    assert thread["status"] == "waiting_on_patient"
    with hub.db.begin() as session:
        rows = session.scalars(select(OutboxRow)).all()
        assert delivery["id"] in [r.delivery_id for r in rows]


def test_reply_without_allowed_channel_is_409_with_reasons(client, hub):
    _sid, token = make_staff(hub, "counsellor")
    receipt = received(hub, inquiry(phone="010-3333-4444"))
    with hub.db.begin() as session:
        for channel in ("sms", "voice"):
            record_consent(session, receipt.person_id, "reply", "opt_out", "sms_keyword",
                           {"message": "STOP"}, channel=channel, at=OPEN_TIME)
    url = f"/api/v1/consultations/{receipt.consultation_id}/replies"
    response = client.post(url, json={"body": "안녕하세요"}, headers=auth(token))
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "no_allowed_channel"
    assert body["reasons"]["sms"] == "SMS opted out on 2026-11-25"
    assert body["reasons"]["email"] == "no email contact point"
    named = client.post(url, json={"body": "hi", "channel": "kakao"}, headers=auth(token))
    assert named.status_code == 409
    assert named.get_json()["reasons"] == {"kakao": "no KakaoTalk contact point"}
    with hub.db.begin() as session:
        assert session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.purpose == "reply")) == 0


def test_consents_endpoint_and_guardian_release_R12(client, hub):
    _sid, token = make_staff(hub, "counsellor")
    child = replace(inquiry(phone=None, email="kid@example.com"), profile=Profile(age=12),
                    guardian=Guardian("김부모", "010-5555-6666"))
    receipt = received(hub, child)
    url = f"/api/v1/consultations/{receipt.consultation_id}"
    assert client.get(url, headers=auth(token)).get_json()["status"] == "pending_guardian"
    refused = client.post(f"{url}/replies", json={"body": "hi"}, headers=auth(token))
    assert refused.status_code == 409
    assert client.post(f"{url}/status", json={"status": "open"},
                       headers=auth(token)).status_code == 409
    consent_url = f"/api/v1/people/{receipt.person_id}/consents"
    missing = client.post(consent_url, json={"purpose": "guardian", "action": "grant",
                                             "method": "phone_verbal", "evidence": {}},
                          headers=auth(token))
    assert missing.status_code == 422  # R5: no consent without evidence
    granted = client.post(consent_url, json={
        "purpose": "guardian", "action": "grant", "method": "phone_verbal",
        "evidence": {"call_id": "CA123", "script_version": "guardian-v1"}}, headers=auth(token))
    assert granted.status_code == 201
    assert granted.get_json()["guardian_pending"] is False
    assert client.get(url, headers=auth(token)).get_json()["status"] == "new"
    ledger = client.get(consent_url, headers=auth(token)).get_json()["ledger"]
    assert ledger[-1]["purpose"] == "guardian"
    assert ledger[-1]["evidence"]["call_id"] == "CA123"


def test_deliveries_list_filters_and_masks(client, hub):
    _sid, token = make_staff(hub, "counsellor")
    receipt = received(hub, inquiry(email="a.person@example.com", reply_channel="email"))
    received(hub, inquiry(phone="010-7777-8888"))
    response = client.get(f"/api/v1/deliveries?consultation_id={receipt.consultation_id}",
                          headers=auth(token))
    items = response.get_json()["items"]
    assert len(items) == 1
    assert items[0]["recipient"] == "a*******@example.com"
    assert items[0]["history"][0]["status"] == "queued"
    assert response.get_json()["next_cursor"] is None


def test_openapi_document_is_generated_from_the_schemas(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/consultations" in spec["paths"]
    assert "/api/v1/consultations/{consultation_id}/replies" in spec["paths"]
    assert "ConsultationSchema" in str(spec["components"]["schemas"]) or \
        "Consultation" in spec["components"]["schemas"]


def test_unknown_routes_and_methods_answer_json(client):
    assert client.get("/api/v1/nothing").get_json()["error"] == "not_found"
    response = client.delete("/api/v1/consultations")
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"


def test_absurd_input_from_staff_is_a_4xx_not_a_500(client, hub):
    """Found by fuzzing the counsellor API: NUL in a note or reply, an id beyond the ids'
    range in a body, a query or a URL each reached the database and answered 500."""
    _sid, token = make_staff(hub, "counsellor")
    cid = received(hub, inquiry()).consultation_id
    base = f"/api/v1/consultations/{cid}"
    for path, body in ((f"{base}/notes", {"body": "메모\x00"}),
                       (f"{base}/replies", {"body": "답변\x00", "channel": "sms"}),
                       (f"{base}/assign", {"assignee_id": 10**12 * 10**8})):
        response = client.post(path, json=body, headers=auth(token))
        assert response.status_code == 422, (path, response.json)
    assert client.get("/api/v1/consultations?q=%00", headers=auth(token)).status_code == 422
    assert client.get("/api/v1/consultations?assignee=99999999999999999999",
                      headers=auth(token)).status_code == 422
    for url in ("/api/v1/consultations/99999999999999999999",
                "/api/v1/people/99999999999999999999/consents",
                "/api/v1/attachments/99999999999999999999"):
        assert client.get(url, headers=auth(token)).status_code == 404, url
