"""Inquiries that race each other in real concurrent PostgreSQL transactions (committed, then
destroyed): whichever transaction wins a unique index, nothing accepted is lost."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.hub import Hub
from intake.inquiry import Inquiry, Receipt
from intake.models import ConsentEvent, Consultation, ContactPoint, Message, Person
from intake.services.optout import record_opt_out
from intake.services.receive import receive, receive_once
from intake.vocab import Channel
from tests.factories import inquiry
from workers.retention import destroy_consultations

pytestmark = [pytest.mark.committed, pytest.mark.postgres_only]


def in_thread(work: Callable[[], Receipt]) -> tuple[threading.Thread, dict[str, object]]:
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["receipt"] = work()
        except Exception as exc:  # noqa: BLE001 - the test reports it
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def race(hub: Hub, first: Inquiry, second: Inquiry) -> tuple[Receipt, Receipt]:
    """`first` is received in a transaction held open while `second` runs through
    `receive_once` in another thread (it waits on the unique index), then `first` commits."""
    with hub.db.begin() as session:
        a = receive(session, first, hub.clinic)
        thread, outcome = in_thread(lambda: receive_once(hub.db, second, hub.clinic))
        time.sleep(0.5)
        assert thread.is_alive(), outcome  # waiting for the first transaction
    thread.join(timeout=10)
    assert "error" not in outcome, outcome["error"]
    b = outcome["receipt"]
    assert isinstance(b, Receipt)
    return a, b


@pytest.fixture
def consultations(hub: Hub):
    ids: list[int] = []
    yield ids
    with hub.db.begin() as session:
        destroy_consultations(session, ids)


def test_two_first_messages_of_one_new_person_at_once_both_land(hub, consultations):
    """A web inquiry and an SMS from the same new number at the same moment: the second loses
    the contact point's unique index, is received again, and threads into the first's
    consultation (before, it answered 500 and the message was lost)."""
    phone = f"010-7{uuid.uuid4().int % 1000:03d}-{uuid.uuid4().int % 10000:04d}"
    first = inquiry(phone=phone, provider_id=f"web-{uuid.uuid4().hex}")
    second = inquiry(Channel.SMS, phone=phone, provider_id=f"SM{uuid.uuid4().hex}",
                     body="문자로도 문의드려요")
    a, b = race(hub, first, second)
    consultations.extend({a.consultation_id, b.consultation_id})
    assert b.created and not b.new_consultation
    assert (b.person_id, b.consultation_id) == (a.person_id, a.consultation_id)
    with hub.db.begin() as session:
        assert session.scalar(select(func.count()).select_from(Message).where(
            Message.consultation_id == a.consultation_id)) == 2
        [point] = session.scalars(select(ContactPoint).where(ContactPoint.kind == "phone",
                                                             ContactPoint.person_id == a.person_id))
        assert session.get(Person, point.person_id) is not None


def test_a_provider_retry_racing_the_original_gets_the_first_receipt(hub, consultations):
    """The same event twice at once (a provider retrying before the first answer): one stored
    message, and the retry answers the first receipt."""
    event = inquiry(Channel.SMS, phone=f"010-8{uuid.uuid4().int % 1000:03d}-1234",
                    provider_id=f"SM{uuid.uuid4().hex}")
    a, b = race(hub, event, event)
    consultations.append(a.consultation_id)
    assert a.created and not b.created
    assert (b.consultation_id, b.message_id) == (a.consultation_id, a.message_id)


def test_two_messages_threading_into_one_consultation_at_once_keep_both_channels(
        hub, consultations):
    """A known person writes by SMS and by email at the same moment: the second waits for the
    consultation's row (FOR UPDATE) and merges its channel into the first's list; before, it
    merged into the old list and its commit dropped the first's channel."""
    phone = f"010-9{uuid.uuid4().int % 1000:03d}-{uuid.uuid4().int % 10000:04d}"
    email = f"p{uuid.uuid4().hex[:8]}@example.com"
    start = received_committed(hub, inquiry(phone=phone, email=email,
                                             provider_id=f"web-{uuid.uuid4().hex}"))
    consultations.append(start.consultation_id)
    by_sms = inquiry(Channel.SMS, phone=phone, provider_id=f"SM{uuid.uuid4().hex}")
    by_mail = inquiry(Channel.EMAIL, phone=None, email=email,
                      provider_id=f"<{uuid.uuid4().hex}@example.com>")
    a, b = race(hub, by_sms, by_mail)
    assert a.consultation_id == b.consultation_id == start.consultation_id
    with hub.db.begin() as session:
        consultation = session.get_one(Consultation, start.consultation_id)
        assert consultation.channels == ["email", "sms", "web"]


def received_committed(hub: Hub, value: Inquiry) -> Receipt:
    return receive_once(hub.db, value, hub.clinic)


def test_two_stop_messages_at_once_record_one_opt_out_and_one_notice(hub, consultations):
    """R42/R47: a person who sends STOP twice at once (two webhooks in flight) is opted out
    once and told once: the second ledger waits for the first's states (FOR UPDATE) and finds
    the opt-out already there."""
    phone = f"010-6{uuid.uuid4().int % 1000:03d}-{uuid.uuid4().int % 10000:04d}"
    start = received_committed(hub, inquiry(Channel.SMS, phone=phone,
                                            provider_id=f"SM{uuid.uuid4().hex}"))
    consultations.append(start.consultation_id)
    now = datetime.now(UTC)

    def stop(session: Session) -> bool:
        return record_opt_out(session, session.get_one(Person, start.person_id), "sms",
                              "sms_keyword", {"message_sid": f"SM{uuid.uuid4().hex}"}, now)

    with hub.db.begin() as session:
        assert stop(session)
        outcome: dict[str, bool] = {}

        def second() -> None:
            with hub.db.begin() as other:
                outcome["changed"] = stop(other)

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive()  # waiting for the first opt-out's states
    thread.join(timeout=10)
    assert outcome == {"changed": False}
    with hub.db.begin() as session:
        opt_outs = session.scalar(select(func.count()).select_from(ConsentEvent).where(
            ConsentEvent.person_id == start.person_id, ConsentEvent.action == "opt_out"))
        assert opt_outs == 3  # reply, marketing, marketing_night: once
