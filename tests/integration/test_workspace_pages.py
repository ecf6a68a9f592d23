"""The workspace pages through the Flask test client: the unified queue (masking R55, filters,
counts, keyset paging, SLA, take next), one consultation (audit R29, reply, refusals, status,
assignment, notes, attachments), the development sink and the audit page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from intake import queries
from intake.hub import Hub
from intake.models import Attachment, AuditEntry, Consultation, Delivery, Message, SinkMessage
from intake.services.consent import record_consent
from intake.vocab import Channel
from intake.workspace import views
from intake.workspace.i18n import reason
from intake.workspace.sms import sms_length
from tests.factories import OPEN_TIME, inquiry, make_staff, received
from tests.integration.test_workspace_auth import csrf_of, sign_in, staff_email


def signed_in(client: FlaskClient, hub: Hub, role: str = "counsellor") -> str:
    email = staff_email(hub, role)
    assert sign_in(client, email).status_code == 302  # type: ignore[attr-defined]
    return email


def row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-testid="queue-row" data-id="(\d+)"', html)]


def test_r55_queue_masks_names_and_contacts(client: FlaskClient, hub: Hub) -> None:
    """R55: names and contacts are masked in lists; the full record shows on opening it."""
    receipt = received(hub, inquiry(Channel.WEB, name="김민수", phone="010-1234-5678"))
    signed_in(client, hub)
    html = client.get("/workspace/").get_data(as_text=True)
    assert "김*수" in html and "010-****-5678" in html
    assert "김민수" not in html and "1234-5678" not in html
    page = client.get(f"/workspace/consultations/{receipt.consultation_id}")
    assert "김민수" in page.get_data(as_text=True)


def test_queue_lists_every_channel_newest_first_with_counts(client: FlaskClient,
                                                            hub: Hub) -> None:
    web = received(hub, inquiry(Channel.WEB, phone="010-1000-0001", at=OPEN_TIME))
    sms = received(hub, inquiry(Channel.SMS, phone="010-1000-0002",
                                at=OPEN_TIME + timedelta(minutes=5)))
    mail = received(hub, inquiry(Channel.EMAIL, phone=None, email="mail@example.com",
                                 at=OPEN_TIME + timedelta(minutes=10)))
    signed_in(client, hub)
    html = client.get("/workspace/").get_data(as_text=True)
    assert row_ids(html) == [mail.consultation_id, sms.consultation_id, web.consultation_id]
    for channel in ("web", "sms", "email"):
        assert f'data-channel="{channel}"' in html
    counts = re.search(r'data-testid="status-counts">(.*?)</ul>', html, re.S)
    assert counts and re.search(r"신규 <b>3</b>", counts.group(1))


@pytest.mark.parametrize("query,expected", [
    ("channel=sms", ["sms"]), ("channel=email", ["mail"]), ("interest=nose", ["web"]),
    ("q=보톡스", ["sms"]), ("assignee=none", ["mail", "web"]), ("assignee=me", ["sms"]),
    ("status=open", ["sms"]), ("status=new", ["mail", "web"]),
])
def test_queue_filters(client: FlaskClient, hub: Hub, query: str, expected: list[str]) -> None:
    ids = {
        "web": received(hub, inquiry(Channel.WEB, phone="010-2000-0001",
                                     interests=("nose",))).consultation_id,
        "sms": received(hub, inquiry(Channel.SMS, phone="010-2000-0002", body="보톡스 문의",
                                     at=OPEN_TIME + timedelta(minutes=1))).consultation_id,
        "mail": received(hub, inquiry(Channel.EMAIL, phone=None, email="f@example.com",
                                      at=OPEN_TIME + timedelta(minutes=2))).consultation_id,
    }
    signed_in(client, hub)
    token = csrf_of(client, "/workspace/")
    me = re.search(r'<option value="(\d+)"[^>]*>counsellor user',
                   client.get(f"/workspace/consultations/{ids['sms']}").get_data(as_text=True))
    assert me
    client.post(f"/workspace/consultations/{ids['sms']}/assign",
                data={"assignee_id": me.group(1), "csrf_token": token})
    html = client.get(f"/workspace/?{query}").get_data(as_text=True)
    assert row_ids(html) == [ids[name] for name in expected]
    fragment = client.get(f"/workspace/queue/rows?{query}").get_data(as_text=True)
    assert row_ids(fragment) == [ids[name] for name in expected]
    assert "<html" not in fragment


def test_keyset_paging_is_stable_while_new_inquiries_arrive(
        client: FlaskClient, hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    ids = [received(hub, inquiry(Channel.SMS, phone=f"010-3000-{n:04d}",
                                 at=OPEN_TIME + timedelta(minutes=n))).consultation_id
           for n in range(5)]
    signed_in(client, hub)
    first = client.get("/workspace/").get_data(as_text=True)
    assert row_ids(first) == [ids[4], ids[3]]
    link = re.search(r'href="(/workspace/\?cursor=[^"]+)" data-testid="next-page"', first)
    assert link
    received(hub, inquiry(Channel.SMS, phone="010-3000-9999",
                          at=OPEN_TIME + timedelta(hours=1)))
    second = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert row_ids(second) == [ids[2], ids[1]]


def test_sla_counts_opening_hours_on_the_clinic_calendar(hub: Hub) -> None:
    """Due within SLA_FIRST_RESPONSE_HOURS opening hours: an inquiry at 18:30 on a Wednesday
    (closing 19:00) is due at 11:30 on Thursday, not 20:30 on Wednesday."""
    hours = hub.clinic.hours
    wed_1830 = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    due = queries.sla(hours, wed_1830, wed_1830, 2).due
    assert due.astimezone(hub.clinic.tz).strftime("%m-%d %H:%M") == "11-26 11:30"
    assert queries.sla(hours, wed_1830, wed_1830 + timedelta(minutes=5), 2).state == "ok"
    thu_1100 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    assert queries.sla(hours, wed_1830, thu_1100, 2).state == "due_soon"
    assert queries.sla(hours, wed_1830, thu_1100 + timedelta(hours=1), 2).state == "overdue"


def test_oldest_unanswered_resets_after_a_reply(hub: Hub) -> None:
    receipt = received(hub, inquiry(Channel.SMS, phone="010-4000-0001"))
    staff_id, _ = make_staff(hub, "counsellor")
    with hub.db.begin() as session:
        assert queries.oldest_unanswered(session, [receipt.consultation_id]) == {
            receipt.consultation_id: OPEN_TIME}
        from intake.services import counselling

        consultation = session.get(Consultation, receipt.consultation_id)
        assert consultation is not None
        counselling.reply(session, consultation, hub.clinic, "답장", staff_id, channel="sms")
        session.flush()
        assert queries.oldest_unanswered(session, [receipt.consultation_id]) == {}


def test_take_next_assigns_the_oldest_unassigned_to_me(client: FlaskClient, hub: Hub) -> None:
    old = received(hub, inquiry(Channel.SMS, phone="010-5000-0001",
                                at=OPEN_TIME - timedelta(hours=2)))
    received(hub, inquiry(Channel.SMS, phone="010-5000-0002"))
    email = signed_in(client, hub)
    token = csrf_of(client, "/workspace/")
    response = client.post("/workspace/take-next", data={"csrf_token": token})
    assert response.headers["Location"].endswith(f"/workspace/consultations/{old.consultation_id}")
    with hub.db.begin() as session:
        consultation = session.get(Consultation, old.consultation_id)
        assert consultation is not None and consultation.assignee_id is not None
        assert consultation.status == "open"
    html = client.get("/workspace/?assignee=me").get_data(as_text=True)
    assert row_ids(html) == [old.consultation_id]
    assert email


def test_take_next_with_nothing_left_says_so(client: FlaskClient, hub: Hub) -> None:
    signed_in(client, hub)
    with hub.db.begin() as session:
        for c in session.scalars(select(Consultation).where(Consultation.assignee_id.is_(None))):
            c.status = "closed"
    token = csrf_of(client, "/workspace/")
    response = client.post("/workspace/take-next", data={"csrf_token": token},
                           follow_redirects=True)
    assert "미배정 상담이 없습니다" in response.get_data(as_text=True)


def test_r29_opening_a_consultation_writes_an_audit_entry(client: FlaskClient, hub: Hub) -> None:
    """R29: who, when, from where, whose data, what."""
    receipt = received(hub, inquiry(Channel.WEB, phone="010-6000-0001"))
    signed_in(client, hub)
    assert client.get(f"/workspace/consultations/{receipt.consultation_id}").status_code == 200
    with hub.db.begin() as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "consultation.view").order_by(AuditEntry.id.desc())).first()
        assert entry is not None and entry.staff_id is not None and entry.at is not None
        assert entry.ip and entry.person_id == receipt.person_id
        assert entry.target == f"consultation:{receipt.consultation_id}"


def test_reply_from_the_page_shows_in_the_thread_with_its_status(client: FlaskClient,
                                                                 hub: Hub) -> None:
    receipt = received(hub, inquiry(Channel.SMS, phone="010-6000-0002"))
    signed_in(client, hub)
    url = f"/workspace/consultations/{receipt.consultation_id}"
    page = client.get(url).get_data(as_text=True)
    assert re.search(r'<option value="sms"\s+selected>', page)
    assert re.search(r'<option value="kakao" disabled >카카오톡 — 카카오톡 연락처 없음', page)
    token = csrf_of(client, url)
    response = client.post(f"{url}/reply", data={"channel": "sms", "body": "예약 가능합니다",
                                                 "csrf_token": token})
    assert response.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "예약 가능합니다" in page and 'data-testid="delivery-status">대기<' in page
    with hub.db.begin() as session:
        delivery = session.scalars(select(Delivery).where(
            Delivery.consultation_id == receipt.consultation_id,
            Delivery.purpose == "reply")).one()
        assert delivery.channel == "sms" and delivery.status == "queued"


def test_reply_on_a_refused_channel_is_not_sent_and_says_why(client: FlaskClient,
                                                             hub: Hub) -> None:
    receipt = received(hub, inquiry(Channel.SMS, phone="010-6000-0003"))
    with hub.db.begin() as session:
        record_consent(session, receipt.person_id, "reply", "opt_out", "sms_keyword",
                       {"keyword": "STOP"}, channel="sms")
    signed_in(client, hub)
    url = f"/workspace/consultations/{receipt.consultation_id}"
    page = client.get(url).get_data(as_text=True)
    assert re.search(r'<option value="sms" disabled\s*>문자 — 문자 수신 거부 \(', page)
    token = csrf_of(client, url)
    response = client.post(f"{url}/reply", data={"channel": "sms", "body": "hi",
                                                 "csrf_token": token}, follow_redirects=True)
    assert "opted out" in response.get_data(as_text=True)
    with hub.db.begin() as session:
        assert session.scalars(select(Delivery).where(
            Delivery.consultation_id == receipt.consultation_id,
            Delivery.purpose == "reply")).first() is None


def test_status_assignment_and_notes_from_the_page(client: FlaskClient, hub: Hub) -> None:
    receipt = received(hub, inquiry(Channel.WEB, phone="010-6000-0004"))
    signed_in(client, hub)
    url = f"/workspace/consultations/{receipt.consultation_id}"
    token = csrf_of(client, url)
    client.post(f"{url}/status", data={"status": "booked", "csrf_token": token})
    client.post(f"{url}/notes", data={"body": "내일 오전 통화 희망", "csrf_token": token})
    client.post(f"{url}/assign", data={"assignee_id": "", "csrf_token": token})
    assert client.post(f"{url}/status", data={"status": "nonsense",
                                              "csrf_token": token}).status_code == 400
    page = client.get(url).get_data(as_text=True)
    assert "내일 오전 통화 희망" in page and "예약 완료" in page
    with hub.db.begin() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(
            AuditEntry.person_id == receipt.person_id)))
        assert {"consultation.status", "consultation.note", "consultation.assign"} <= actions


def test_attachment_is_served_to_staff_and_audited(client: FlaskClient, hub: Hub) -> None:
    receipt = received(hub, inquiry(Channel.EMAIL, phone=None, email="att@example.com"))
    with hub.db.begin() as session:
        message = session.scalars(select(Message).where(
            Message.consultation_id == receipt.consultation_id)).first()
        assert message is not None
        row = Attachment(message_id=message.id, filename="photo.png", content_type="image/png",
                         size=4, storage_key=hub.store.put(b"\x89PNG"))
        session.add(row)
        session.flush()
        attachment_id = row.id
    signed_in(client, hub)
    page = client.get(f"/workspace/consultations/{receipt.consultation_id}")
    assert f"/workspace/attachments/{attachment_id}" in page.get_data(as_text=True)
    response = client.get(f"/workspace/attachments/{attachment_id}")
    assert response.status_code == 200 and response.data == b"\x89PNG"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    with hub.db.begin() as session:
        assert session.scalars(select(AuditEntry).where(
            AuditEntry.action == "attachment.view",
            AuditEntry.target == f"attachment:{attachment_id}")).first() is not None


def test_development_sink_page_lists_what_would_have_been_sent(client: FlaskClient,
                                                               hub: Hub) -> None:
    with hub.db.begin() as session:
        session.add(SinkMessage(channel="sms", recipient="+821070001234",
                                body="[클리닉] 상담 신청이 접수되었습니다."))
    signed_in(client, hub)
    html = client.get("/workspace/sink").get_data(as_text=True)
    assert "상담 신청이 접수되었습니다" in html and "010-****-1234" in html


def test_audit_page_filters_by_staff_action_and_date(client: FlaskClient, hub: Hub) -> None:
    receipt = received(hub, inquiry(Channel.WEB, phone="010-6000-0005"))
    counsellor = staff_email(hub, "counsellor")
    sign_in(client, counsellor)
    client.get(f"/workspace/consultations/{receipt.consultation_id}")
    client.post("/workspace/sign-out", data={"csrf_token": csrf_of(client, "/workspace/")})
    signed_in(client, hub, "privacy_officer")
    html = client.get("/workspace/audit?action=consultation.view").get_data(as_text=True)
    assert f"consultation:{receipt.consultation_id}" in html and counsellor in html
    assert "workspace.sign_in<" not in html
    today = datetime.now(hub.clinic.tz).strftime("%Y-%m-%d")
    html = client.get(f"/workspace/audit?from={today}&to={today}").get_data(as_text=True)
    assert "consultation.view" in html
    html = client.get("/workspace/audit?to=2020-01-01").get_data(as_text=True)
    assert 'data-testid="audit-row"' not in html
    assert client.get("/workspace/audit?from=yesterday").status_code == 400


def test_marketer_queue_hides_interests(client: FlaskClient, hub: Hub) -> None:
    received(hub, inquiry(Channel.WEB, phone="010-6000-0006", interests=("breast",)))
    signed_in(client, hub, "marketer")
    html = client.get("/workspace/").get_data(as_text=True)
    assert "breast" not in html and 'data-testid="take-next"' not in html


def test_english_for_an_english_speaking_user(client: FlaskClient, hub: Hub) -> None:
    from intake.models import Staff

    email = staff_email(hub, "counsellor")
    with hub.db.begin() as session:
        staff = session.scalars(select(Staff).where(Staff.email == email)).one()
        staff.locale = "en"
    sign_in(client, email)
    html = client.get("/workspace/").get_data(as_text=True)
    assert "Take next" in html and 'lang="en"' in html


@pytest.mark.parametrize("text,length,segments,encoding", [
    ("", 0, 0, "GSM-7"), ("hello", 5, 1, "GSM-7"), ("a" * 160, 160, 1, "GSM-7"),
    ("a" * 161, 161, 2, "GSM-7"), ("[" * 80, 80, 1, "GSM-7"), ("안" * 70, 70, 1, "UCS-2"),
    ("안" * 71, 71, 2, "UCS-2"), ("안" * 135, 135, 3, "UCS-2"),
])
def test_sms_length_and_segments(text: str, length: int, segments: int, encoding: str) -> None:
    result = sms_length(text)
    assert (result.length, result.segments, result.encoding) == (length, segments, encoding)


def test_reasons_in_korean() -> None:
    assert reason("no consent for KakaoTalk", "ko") == "카카오톡 수신 동의 없음"
    assert reason("SMS opted out on 2026-11-02", "ko") == "문자 수신 거부 (2026-11-02)"
    assert reason("SMS opted out on 2026-11-02", "en") == "SMS opted out on 2026-11-02"


def test_an_assignee_id_beyond_the_ids_range_is_400(client: FlaskClient, hub: Hub) -> None:
    """Found by fuzzing: a 20-digit assignee id reached the database (500)."""
    signed_in(client, hub)
    token = csrf_of(client, "/workspace/")
    cid = received(hub, inquiry()).consultation_id
    response = client.post(f"/workspace/consultations/{cid}/assign",
                           data={"assignee_id": "9" * 20, "csrf_token": token})
    assert response.status_code == 400
