"""The domain's one entry point, `receive`, on the real database: idempotency, identity,
threading, masking, consent ledger and outbox rows in one transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from intake.models import (
    ConsentEvent,
    ConsentState,
    Consultation,
    ContactPoint,
    Delivery,
    Message,
    OutboxRow,
    Person,
)
from intake.services.consent import record_consent
from intake.services.receive import InquiryRejected, receive
from intake.vocab import Channel
from tests.factories import OPEN_TIME, inquiry, received


def count(hub, model) -> int:
    with hub.db.begin() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_replayed_event_is_stored_once(hub):
    value = inquiry(Channel.SMS, provider_id="SM123")
    first = received(hub, value)
    again = received(hub, value)
    assert first.created and not again.created
    assert (again.consultation_id, again.person_id, again.message_id) == \
        (first.consultation_id, first.person_id, first.message_id)
    assert count(hub, Message) == 1
    assert count(hub, Delivery) == 1
    assert count(hub, OutboxRow) == 1


def test_same_provider_id_on_another_channel_is_another_event(hub):
    received(hub, inquiry(Channel.SMS, provider_id="X1"))
    received(hub, inquiry(Channel.EMAIL, provider_id="X1", email="a@example.com"))
    assert count(hub, Message) == 2


def test_person_found_by_normalised_contact_and_thread_joined(hub):
    first = received(hub, inquiry(phone="010-1234-5678"))
    second = received(hub, inquiry(Channel.SMS, phone="+82 10 1234 5678", name=None,
                                   at=OPEN_TIME + timedelta(hours=2)))
    assert second.person_id == first.person_id
    assert second.consultation_id == first.consultation_id
    assert not second.new_consultation
    with hub.db.begin() as session:
        consultation = session.get(Consultation, first.consultation_id)
        assert consultation.channels == ["sms", "web"]
    assert count(hub, Delivery) == 1  # one acknowledgement per consultation


def test_never_merges_on_name_alone(hub):
    a = received(hub, inquiry(name="김민수", phone="010-1111-2222"))
    b = received(hub, inquiry(name="김민수", phone="010-3333-4444"))
    assert a.person_id != b.person_id


def test_new_consultation_after_threading_window(hub):
    first = received(hub, inquiry())
    later = received(hub, inquiry(at=OPEN_TIME + hub.clinic.thread_window + timedelta(days=1)))
    assert later.person_id == first.person_id
    assert later.consultation_id != first.consultation_id


def test_closed_consultation_is_not_reopened(hub):
    first = received(hub, inquiry())
    with hub.db.begin() as session:
        session.get(Consultation, first.consultation_id).status = "closed"
    again = received(hub, inquiry(at=OPEN_TIME + timedelta(minutes=3)))
    assert again.consultation_id != first.consultation_id


def test_rrn_and_card_numbers_masked_before_storage_R9_R24(hub):
    body = "주민번호 950101-1234567, 카드 4111 1111 1111 1111 로 결제했어요"
    receipt = received(hub, inquiry(Channel.SMS, body=body))
    with hub.db.begin() as session:
        stored = session.get(Message, receipt.message_id)
        assert "1234567" not in stored.body and "950101-*******" in stored.body
        assert "4111 1111 1111 1111" not in stored.body
        assert sorted(stored.redactions) == ["card", "rrn"]


def test_health_text_without_consent_flags_the_consultation_R8(hub):
    receipt = received(hub, inquiry(Channel.SMS, body="코 재수술 상담 받고 싶어요"))
    with hub.db.begin() as session:
        consultation = session.get(Consultation, receipt.consultation_id)
        assert consultation.needs_health_consent
        # the person wrote it to be answered (R6): kept for the counsellor
        assert session.get(Message, receipt.message_id).body == "코 재수술 상담 받고 싶어요"


def test_reply_basis_recorded_with_evidence_R6(hub):
    receipt = received(hub, inquiry(Channel.SMS, provider_id="SM-R6"))
    with hub.db.begin() as session:
        events = session.scalars(select(ConsentEvent).where(
            ConsentEvent.person_id == receipt.person_id)).all()
        assert {(e.purpose, e.channel, e.action) for e in events} == {
            ("reply", "sms", "grant"), ("reply", "voice", "grant")}
        assert all(e.evidence["source"] == "sms:SM-R6" for e in events)
        assert "R6" in events[0].evidence["basis"]


def test_opt_out_is_not_overridden_by_a_new_message(hub):
    from intake.services.consent import record_consent

    first = received(hub, inquiry(Channel.SMS))
    with hub.db.begin() as session:
        record_consent(session, first.person_id, "reply", "opt_out", "sms_keyword",
                       {"message": "STOP"}, channel="sms")
    received(hub, inquiry(Channel.SMS, at=OPEN_TIME + timedelta(minutes=1)))
    with hub.db.begin() as session:
        state = session.get(ConsentState, (first.person_id, "reply", "sms"))
        assert state.action == "opt_out"


def test_marketing_grant_gets_the_result_notice_in_the_acknowledgement_R47(hub):
    receipt = received(hub, inquiry(email="m@example.com", reply_channel="email",
                                    marketing=("sms", "email")))
    with hub.db.begin() as session:
        ack = session.scalars(select(Delivery).where(
            Delivery.consultation_id == receipt.consultation_id)).one()
        assert "2026-11-25에 이메일, 문자 수신에 동의" in ack.body
        state = session.get(ConsentState, (receipt.person_id, "marketing", "sms"))
        assert state.reconfirm_due.date().isoformat() == "2028-11-24"  # R48


def test_acknowledgement_outside_hours_names_next_opening(hub):
    # Wednesday 22:30 in Seoul: closed; next opening Thursday 10:00
    late = OPEN_TIME.replace(hour=13, minute=30)
    receipt = received(hub, inquiry(at=late))
    with hub.db.begin() as session:
        ack = session.scalars(select(Delivery).where(
            Delivery.consultation_id == receipt.consultation_id)).one()
        assert "11월 26일(목) 10:00" in ack.body
        assert ack.channel == "sms"


def test_inquiry_without_contact_is_rejected(hub):
    with pytest.raises(InquiryRejected), hub.db.begin() as session:
        receive(session, inquiry(phone=None), hub.clinic)
    assert count(hub, Person) == 0
    assert count(hub, ContactPoint) == 0


def test_consent_ledger_is_append_only(hub):
    receipt = received(hub, inquiry())
    with pytest.raises(DBAPIError), hub.db.begin() as session:
        session.execute(text("UPDATE consent_events SET action = 'withdraw' "
                             "WHERE person_id = :p"), {"p": receipt.person_id})


def test_objects_already_in_the_session_see_what_receive_wrote(hub):
    """`receive` writes new rows with Core statements: a person, consultation or contact point
    the caller already holds in the same session must not go stale (they reload)."""
    first = received(hub, inquiry(phone="010-1234-5678"))
    with hub.db.begin() as session:
        person = session.get_one(Person, first.person_id)
        consultation = session.get_one(Consultation, first.consultation_id)
        assert [cp.kind for cp in person.contact_points] == ["phone"]
        assert len(consultation.messages) == 1
        again = receive(session, inquiry(Channel.EMAIL, phone="010-1234-5678",
                                         email="Kim@Example.com", name="김민수B",
                                         at=OPEN_TIME + timedelta(hours=1)), hub.clinic)
        assert again.consultation_id == consultation.id
        assert sorted(cp.kind for cp in person.contact_points) == ["email", "phone"]
        assert person.name == "김민수B"
        assert len(consultation.messages) == 2
        assert consultation.channels == ["email", "web"]


def test_a_consent_state_held_in_the_session_sees_the_ledger_write(hub):
    """The ledger writes states with Core statements: a state object already loaded in the
    session reloads, so a check after an opt-out in the same transaction sees the opt-out."""
    first = received(hub, inquiry())
    key = (first.person_id, "reply", "sms")
    with hub.db.begin() as session:
        state = session.get_one(ConsentState, key)
        assert state.action == "grant"
        record_consent(session, first.person_id, "reply", "opt_out", "sms_keyword",
                       {"message_sid": "SM-stop"}, channel="sms")
        assert state.action == "opt_out"
        assert session.get_one(ConsentState, key) is state


def test_nul_characters_in_free_text_are_dropped_before_storage(hub):
    """Any channel's free text (name, body, subject) may carry NUL, which PostgreSQL refuses:
    dropped, the rest stored and masked as usual (R9)."""
    receipt = received(hub, inquiry(Channel.SMS, name="김\x00민수",
                                    body="주민번호 900101-1234567\x00 코 상담"))
    with hub.db.begin() as session:
        message = session.get_one(Message, receipt.message_id)
        assert message.body == "주민번호 900101-******* 코 상담"
        assert session.get_one(Person, receipt.person_id).name == "김민수"
