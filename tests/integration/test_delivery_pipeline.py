"""The outbound pipeline end to end on real services: outbox → relay → RQ → a real SimpleWorker in
this process (burst mode, using the test hub) → the sender → a real SMTP server (aiosmtpd).

Each test runs inside the conftest's rolled-back transaction; Redis is flushed per test.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import func, select

from channels.email.smtp import SmtpSender
from channels.sink import SinkSender
from intake.hub import Hub
from intake.inquiry import ContactValue, Guardian, Inquiry, Profile
from intake.models import (
    Consultation,
    Delivery,
    Message,
    OutboxRow,
    Person,
    SinkMessage,
)
from intake.services.consent import record_consent
from intake.services.deliveries import DELIVER_JOB, enqueue_job, schedule_delivery
from intake.services.receive import receive
from intake.vocab import Channel
from tests.factories import OPEN_TIME, inquiry, received
from workers import jobs, periodic
from workers.context import set_hub
from workers.queues import DELIVERIES, make_worker, worker_connection
from workers.relay import JOBS, relay_once
from workers.runner import run_worker

SEOUL_2230 = datetime(2026, 11, 25, 13, 30, tzinfo=UTC)  # Wednesday 22:30 in Seoul


# -- a real SMTP server -----------------------------------------------------------------------


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what it accepts; it can refuse or stall on request."""

    envelopes: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_delay: float = 0.0

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(content, policy=policy.default)  # type: ignore[misc]
                for _from, _to, content in self.envelopes]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def worker_hub(app: Any, hub: Hub) -> Iterator[Hub]:
    """The test hub as the jobs' hub, with the senders the composition root registered."""
    set_hub(hub)
    senders = dict(hub.services["senders"])
    try:
        yield hub
    finally:
        hub.services["senders"] = senders
        set_hub(None)


def use_smtp(hub: Hub, port: int, **overrides: Any) -> None:
    settings = hub.settings.with_overrides(smtp_host="127.0.0.1", smtp_port=port, **overrides)
    hub.services["senders"] = {**hub.services["senders"], "email": SmtpSender(settings)}


@pytest.fixture
def mailbox(worker_hub: Hub) -> Iterator[Mailbox]:
    handler = Mailbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    use_smtp(worker_hub, port)
    try:
        yield handler
    finally:
        controller.stop()


# -- helpers ----------------------------------------------------------------------------------


def drain(hub: Hub) -> None:
    """What `intake worker --burst` does: relay until nothing is due, work, repeat."""
    run_worker(hub, burst=True)


def work(hub: Hub) -> bool:
    connection = worker_connection(hub.redis_url)
    try:
        return make_worker(hub, connection).work(burst=True, with_scheduler=True)
    finally:
        connection.close()


def submit(client: FlaskClient, hub: Hub, **fields: Any) -> int:
    """An inquiry through `POST /api/v1/inquiries` (or `receive` if that route is missing);
    answers the consultation id."""
    payload = {"name": "김민수", "email": "minsu@example.com", "reply_channel": "email",
               **fields}
    if "web_api.create_inquiry" in client.application.view_functions:
        response = client.post("/api/v1/inquiries", json=payload)
        assert response.status_code == 201, response.get_json()
        return int(response.get_json()["consultation_id"])
    value = inquiry(phone=payload.get("phone"), email=payload.get("email"),
                    name=payload["name"], reply_channel=payload.get("reply_channel"),
                    at=datetime.now(UTC))
    return received(hub, value).consultation_id


def child(at: datetime, guardian_phone: str) -> Inquiry:
    """A web inquiry from a 10-year-old (R12); the domain keeps only the guardian's contact."""
    return Inquiry(channel=Channel.WEB, provider_id=f"child-{at.timestamp()}-{guardian_phone}",
                   received_at=at, contacts=(ContactValue("phone", "010-2222-3333"),),
                   name="어린이", profile=Profile(age=10),
                   guardian=Guardian("보호자", guardian_phone))


def only_delivery(hub: Hub, consultation_id: int) -> Delivery:
    with hub.db.begin() as session:
        return session.scalars(select(Delivery).where(
            Delivery.consultation_id == consultation_id)).one()


def history(delivery: Delivery) -> list[str]:
    return [event.status for event in delivery.history]


def pending_outbox(hub: Hub) -> list[OutboxRow]:
    with hub.db.begin() as session:
        return list(session.scalars(select(OutboxRow).where(OutboxRow.relayed_at.is_(None))))


def email_body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


# -- sending ----------------------------------------------------------------------------------


def test_acknowledgement_email_arrives_over_real_smtp(worker_hub, mailbox, client):
    """R6: the person wrote with an email address, so the acknowledgement goes there: over real
    SMTP, with our Message-ID, plain and HTML parts and the clinic's From; the delivery ends
    `sent` (queued → sending → sent) and the message joins the consultation's thread."""
    consultation_id = submit(client, worker_hub)
    drain(worker_hub)

    assert len(mailbox.envelopes) == 1
    envelope_from, rcpt_tos, _content = mailbox.envelopes[0]
    assert envelope_from == "consult@clinic.example.com"
    assert rcpt_tos == ["minsu@example.com"]
    email = mailbox.messages()[0]
    assert email["From"] == worker_hub.settings.mail_from
    assert email["To"] == "minsu@example.com"
    assert email["Auto-Submitted"] == "auto-generated"
    assert email.get_content_type() == "multipart/alternative"
    assert email.get_body(preferencelist=("html",)) is not None
    assert "상담 신청이 접수되었습니다" in email_body(email)

    delivery = only_delivery(worker_hub, consultation_id)
    message_id = email["Message-ID"].strip()
    assert delivery.status == "sent"
    assert history(delivery) == ["queued", "sending", "sent"]
    assert delivery.provider_id == message_id
    assert delivery.headers["message_id"] == message_id
    assert delivery.attempts == 1
    with worker_hub.db.begin() as session:
        out = session.get(Message, delivery.message_id)
        assert out is not None
        assert (out.direction, out.channel, out.provider_id, out.consultation_id) == \
            ("out", "email", message_id, consultation_id)
        assert out.body == delivery.body and out.subject == delivery.subject


def test_acknowledgement_in_opening_hours_promises_a_call_soon(worker_hub, mailbox):
    """Wednesday 2026-11-25 11:00 in Seoul: the clinic is open, a counsellor calls soon."""
    received(worker_hub, inquiry(email="day@example.com", reply_channel="email", at=OPEN_TIME))
    drain(worker_hub)
    body = email_body(mailbox.messages()[0])
    assert "곧 연락드리겠습니다" in body


def test_acknowledgement_after_hours_names_the_next_opening(worker_hub, mailbox):
    """Wednesday 22:30 in Seoul: closed; the acknowledgement names Thursday's opening.
    Informational messages go at any hour (the night rule R43 holds advertising only)."""
    received(worker_hub, inquiry(email="night@example.com", reply_channel="email",
                                 at=SEOUL_2230))
    drain(worker_hub)
    body = email_body(mailbox.messages()[0])
    assert "11월 26일(목) 10:00" in body
    assert "곧 연락드리겠습니다" not in body


@pytest.mark.parametrize("action", ["withdraw", "opt_out"])
def test_r42_withdrawal_after_queueing_is_honoured_at_send_time(worker_hub, mailbox, client,
                                                                 action):
    """R42: consent withdrawn after the delivery was queued and before the worker ran: nothing
    is sent, the delivery is `suppressed` with the reason, the SMTP server saw nothing."""
    consultation_id = submit(client, worker_hub)
    delivery = only_delivery(worker_hub, consultation_id)
    with worker_hub.db.begin() as session:
        record_consent(session, delivery.person_id, "reply", action, "email_link",
                       {"source": "test", "link": "unsubscribe"}, channel="email")
    drain(worker_hub)

    assert mailbox.envelopes == []
    delivery = only_delivery(worker_hub, consultation_id)
    assert delivery.status == "suppressed"
    assert history(delivery) == ["queued", "suppressed"]
    assert ("withdrawn" if action == "withdraw" else "opted out") in delivery.reason
    assert delivery.attempts == 0 and delivery.message_id is None


def test_rerunning_the_job_sends_once(worker_hub, mailbox, client):
    """A delivery job run twice, enqueued twice or relayed twice sends one email."""
    consultation_id = submit(client, worker_hub)
    delivery_id = only_delivery(worker_hub, consultation_id).id
    drain(worker_hub)
    assert jobs.deliver(delivery_id) == "sent"
    assert jobs.deliver(delivery_id) == "sent"
    with worker_hub.db.begin() as session:
        # A second outbox row for the same delivery, and the first one relayed again.
        enqueue_job(session, DELIVER_JOB, {"delivery_id": delivery_id})
        for row in session.scalars(select(OutboxRow)):
            row.relayed_at = None
    drain(worker_hub)

    assert len(mailbox.envelopes) == 1
    delivery = only_delivery(worker_hub, consultation_id)
    assert history(delivery) == ["queued", "sending", "sent"]
    assert delivery.attempts == 1


def test_smtp_down_requeues_and_schedules_a_retry(worker_hub, client):
    """Nothing listens on the SMTP port: the delivery goes back to `queued` with the reason and
    RQ schedules the job's retry (5 s later)."""
    use_smtp(worker_hub, free_port())
    consultation_id = submit(client, worker_hub)
    drain(worker_hub)

    delivery = only_delivery(worker_hub, consultation_id)
    assert delivery.status == "queued"
    assert history(delivery) == ["queued", "sending", "queued"]
    assert "unreachable" in delivery.reason
    assert delivery.attempts == 1
    (row,) = [r for r in _outbox(worker_hub) if r.delivery_id == delivery.id]
    job = Job.fetch(jobs.outbox_job_id(row.id), connection=worker_hub.redis)
    assert job.get_status() == JobStatus.SCHEDULED
    assert job.retries_left == 4
    queue = Queue(DELIVERIES, connection=worker_hub.redis)
    assert job.id in ScheduledJobRegistry(queue=queue).get_job_ids()


def _outbox(hub: Hub) -> list[OutboxRow]:
    with hub.db.begin() as session:
        return list(session.scalars(select(OutboxRow)))


def test_exhausted_retries_fail_the_delivery(worker_hub, client):
    """After the last retry the failure callback marks the delivery `failed` with the reason;
    the job stays visible in RQ's FailedJobRegistry."""
    use_smtp(worker_hub, free_port())
    consultation_id = submit(client, worker_hub)
    quick = {DELIVER_JOB: replace(JOBS[DELIVER_JOB], retry=Retry(max=2))}
    assert relay_once(worker_hub, jobs_map=quick) == 1
    work(worker_hub)

    delivery = only_delivery(worker_hub, consultation_id)
    assert delivery.status == "failed"
    assert delivery.attempts == 3
    assert "unreachable" in delivery.reason and "gave up after 3 attempts" in delivery.reason
    assert history(delivery) == ["queued", "sending", "queued", "sending", "queued", "sending",
                                 "queued", "failed"]
    queue = Queue(DELIVERIES, connection=worker_hub.redis)
    failed = FailedJobRegistry(queue=queue).get_job_ids()
    assert [jobs.outbox_job_id(r.id) for r in _outbox(worker_hub)] == failed


def test_recipient_refused_with_5xx_fails_without_retry(worker_hub, mailbox, client):
    mailbox.rcpt_reply = "550 5.1.1 <minsu@example.com>: mailbox unavailable"
    consultation_id = submit(client, worker_hub)
    drain(worker_hub)

    delivery = only_delivery(worker_hub, consultation_id)
    assert delivery.status == "failed"
    assert history(delivery) == ["queued", "sending", "failed"]
    assert "recipient refused: 550" in delivery.reason
    assert "minsu@example.com" not in delivery.reason  # masked: the reason is shown and logged
    assert mailbox.envelopes == []
    queue = Queue(DELIVERIES, connection=worker_hub.redis)
    assert ScheduledJobRegistry(queue=queue).get_job_ids() == []


def test_temporary_4xx_refusal_is_retried(worker_hub, mailbox, client):
    """A 4xx (greylisting, a full mailbox for now) is temporary: queued again, retry scheduled."""
    mailbox.rcpt_reply = "451 4.7.1 greylisted, try again later"
    consultation_id = submit(client, worker_hub)
    drain(worker_hub)

    delivery = only_delivery(worker_hub, consultation_id)
    assert delivery.status == "queued"
    assert "recipient refused: 451" in delivery.reason
    queue = Queue(DELIVERIES, connection=worker_hub.redis)
    assert len(ScheduledJobRegistry(queue=queue).get_job_ids()) == 1


def test_no_answer_after_the_message_was_sent_needs_reconciliation(worker_hub, mailbox,
                                                                  client):
    """The server got the whole message but its answer never came (timeout): the outcome is
    unknown, so the delivery stays `sending` and is never sent again blindly."""
    use_smtp(worker_hub, int(mailbox_port(worker_hub)), smtp_timeout=1)
    mailbox.data_delay = 2.5
    consultation_id = submit(client, worker_hub)
    drain(worker_hub)

    delivery = only_delivery(worker_hub, consultation_id)
    assert delivery.status == "sending"
    assert delivery.reason == jobs.UNKNOWN_OUTCOME
    mailbox.data_delay = 0
    assert jobs.deliver(delivery.id) == "sending"
    with worker_hub.db.begin() as session:
        enqueue_job(session, DELIVER_JOB, {"delivery_id": delivery.id})
    drain(worker_hub)
    assert only_delivery(worker_hub, consultation_id).attempts == 1


def mailbox_port(hub: Hub) -> int:
    sender = hub.services["senders"]["email"]
    assert isinstance(sender, SmtpSender)
    return sender.port


# -- the outbox relay and Redis ---------------------------------------------------------------


def test_relay_marks_rows_and_a_second_relay_enqueues_nothing(worker_hub, client):
    consultation_id = submit(client, worker_hub)
    delivery = only_delivery(worker_hub, consultation_id)
    (row,) = pending_outbox(worker_hub)
    assert relay_once(worker_hub) == 1
    assert relay_once(worker_hub) == 0
    assert pending_outbox(worker_hub) == []
    queue = Queue(DELIVERIES, connection=worker_hub.redis)
    assert queue.job_ids == [jobs.outbox_job_id(row.id)]
    job = queue.fetch_job(jobs.outbox_job_id(row.id))
    assert job is not None and job.kwargs == {"delivery_id": delivery.id}
    assert job.retries_left == 5


def test_redis_down_at_intake_keeps_the_outbox_row_until_redis_is_back(worker_hub, mailbox,
                                                                       client):
    """An inquiry is accepted while Redis is down (nothing listens on port 1); its outbox row
    stays pending, and once Redis is back the relay moves it and the worker sends it."""
    original = worker_hub.redis_url
    worker_hub.use_redis("redis://127.0.0.1:1/0")
    try:
        consultation_id = submit(client, worker_hub)
        assert relay_once(worker_hub) == 0
        assert len(pending_outbox(worker_hub)) == 1
    finally:
        worker_hub.use_redis(original)
    assert relay_once(worker_hub) == 1
    drain(worker_hub)
    assert only_delivery(worker_hub, consultation_id).status == "sent"
    assert len(mailbox.envelopes) == 1


def test_deliveries_lost_with_redis_are_redriven(worker_hub, mailbox, client):
    """Redis comes back empty after the relay: the stranded delivery is queued again by the
    periodic re-drive and sent once."""
    consultation_id = submit(client, worker_hub)
    assert relay_once(worker_hub) == 1
    worker_hub.redis.flushdb()
    with worker_hub.db.begin() as session:
        delivery = session.scalars(select(Delivery).where(
            Delivery.consultation_id == consultation_id)).one()
        delivery.updated_at -= timedelta(minutes=5)
    assert jobs.redrive_stranded() == 1
    assert jobs.redrive_stranded() == 0  # its new outbox row is pending
    drain(worker_hub)
    assert only_delivery(worker_hub, consultation_id).status == "sent"
    assert len(mailbox.envelopes) == 1


# -- holds, children, the sink ----------------------------------------------------------------


def test_r43_sms_advertising_at_night_is_held_until_8(worker_hub, monkeypatch):
    """R43: an SMS ad at 21:30 in Seoul to someone without night-time consent is held, and an
    outbox row re-decides it at 08:00 the next morning."""
    receipt = received(worker_hub, inquiry(marketing=("sms",)))
    with worker_hub.db.begin() as session:
        delivery_id = schedule_delivery(session, person_id=receipt.person_id, channel="sms",
                                        purpose="marketing", recipient="+821012345678",
                                        body="(광고) 이벤트 안내", consultation_id=None)
    monkeypatch.setattr(jobs, "utcnow", lambda: datetime(2026, 11, 25, 12, 30, tzinfo=UTC))
    assert jobs.deliver(delivery_id) == "held"
    with worker_hub.db.begin() as session:
        held = session.get(Delivery, delivery_id)
        assert held.status == "held" and "R43" in held.reason
        later = [r for r in session.scalars(select(OutboxRow))
                 if r.delivery_id == delivery_id and r.relayed_at is None
                 and r.available_at > datetime(2026, 11, 25, 12, 30, tzinfo=UTC)]
        assert [r.available_at for r in later] == [datetime(2026, 11, 25, 23, 0, tzinfo=UTC)]


def test_r12_guardian_request_goes_while_the_child_waits(worker_hub):
    """R12: for a child under 14 only the guardian's verification request goes out."""
    with worker_hub.db.begin() as session:
        receipt = receive(session, child(datetime.now(UTC), "010-9876-5432"), worker_hub.clinic)
    drain(worker_hub)
    delivery = only_delivery(worker_hub, receipt.consultation_id)
    assert delivery.recipient == "+821098765432"
    assert delivery.status == "delivered"  # the development sink confirms at once


def _child_case(hub: Hub, at: datetime, guardian_phone: str) -> int:
    return received(hub, child(at, guardian_phone)).consultation_id


def test_r12_periodic_purge_destroys_only_old_pending_guardian_cases(worker_hub, caplog):
    """R12: a child's case still waiting for the guardian after GUARDIAN_PURGE_DAYS is destroyed
    by the periodic job with everything hanging off it; nothing else is touched; the log has
    the class and the count, no content."""
    now = datetime.now(UTC)
    purge_days = worker_hub.settings.guardian_purge_days
    old = _child_case(worker_hub, now - timedelta(days=purge_days, hours=1), "010-5555-0000")
    relay_once(worker_hub)
    work(worker_hub)  # its guardian request is sent (to the sink) first
    fresh = _child_case(worker_hub, now - timedelta(days=purge_days - 1), "010-5555-1111")
    adult = received(worker_hub, inquiry(at=now - timedelta(days=30))).consultation_id
    with worker_hub.db.begin() as session:
        old_person = session.get(Consultation, old).person_id
        assert session.scalar(select(func.count()).select_from(SinkMessage)
                              .where(SinkMessage.recipient == "+821055550000")) == 1

    caplog.set_level(logging.INFO, logger="workers.retention")
    assert "purge-pending-guardian" in periodic.tick(worker_hub)
    assert periodic.tick(worker_hub) == []  # the other workers' ticks do not duplicate it
    work(worker_hub)

    with worker_hub.db.begin() as session:
        assert session.get(Consultation, old) is None
        assert session.get(Person, old_person) is None
        assert session.scalar(select(func.count()).select_from(Delivery)
                              .where(Delivery.person_id == old_person)) == 0
        assert session.scalar(select(func.count()).select_from(SinkMessage)
                              .where(SinkMessage.recipient == "+821055550000")) == 0
        assert session.get(Consultation, fresh) is not None
        assert session.scalar(select(func.count()).select_from(Delivery)
                              .where(Delivery.consultation_id == fresh)) == 1
        assert session.get(Consultation, adult) is not None
    lines = [r.getMessage() for r in caplog.records if "class=pending_guardian" in r.getMessage()]
    assert lines == ["workers.retention.destroyed class=pending_guardian count=1"]


def test_development_sink_without_smtp_settings(worker_hub, client):
    """Without SMTP_HOST the email sender is the development sink, and the sink row shows what
    would have been sent."""
    assert not worker_hub.settings.smtp_host
    assert isinstance(worker_hub.services["senders"]["email"], SinkSender)
    consultation_id = submit(client, worker_hub)
    drain(worker_hub)
    delivery = only_delivery(worker_hub, consultation_id)
    assert delivery.status == "delivered"
    assert history(delivery) == ["queued", "sending", "delivered"]
    with worker_hub.db.begin() as session:
        sink = session.scalars(select(SinkMessage).where(
            SinkMessage.delivery_id == delivery.id)).one()
        assert (sink.channel, sink.recipient, sink.body) == \
            ("email", "minsu@example.com", delivery.body)
        assert delivery.provider_id == f"sink-{sink.id}"


def test_worker_burst_command_drains(worker_hub, app, client):
    """`intake worker --burst` relays and works everything due, then exits."""
    consultation_id = submit(client, worker_hub)
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert only_delivery(worker_hub, consultation_id).status == "delivered"
    assert pending_outbox(worker_hub) == []
