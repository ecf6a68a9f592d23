"""The queue's "most urgent first" order (issue 6: "newest or most urgent first"): unanswered,
not closed consultations, first-response deadline soonest first, with keyset paging on
(waiting_since, id) that stays stable while new inquiries arrive."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient

from intake import queries
from intake.hub import Hub
from intake.models import Consultation
from intake.services import counselling
from intake.vocab import Channel
from intake.workspace import views
from tests.factories import OPEN_TIME, inquiry, make_staff, received
from tests.integration.test_workspace_pages import row_ids, signed_in


def arrive(hub: Hub, n: int, minutes: int) -> int:
    return received(hub, inquiry(Channel.SMS, phone=f"010-5000-{n:04d}",
                                 at=OPEN_TIME + timedelta(minutes=minutes))).consultation_id


def test_urgent_order_is_soonest_deadline_first_over_unanswered_ones(client: FlaskClient,
                                                                      hub: Hub) -> None:
    oldest = arrive(hub, 1, 0)
    answered = arrive(hub, 2, 5)
    closed = arrive(hub, 3, 10)
    middle = arrive(hub, 4, 15)
    newest = arrive(hub, 5, 20)
    # A follow-up on the oldest one does not make it less urgent: its first unanswered message
    # still counts.
    received(hub, inquiry(Channel.SMS, phone="010-5000-0001",
                          at=OPEN_TIME + timedelta(minutes=30)))
    staff_id, _ = make_staff(hub, "counsellor")
    with hub.db.begin() as session:
        c = session.get(Consultation, answered)
        assert c is not None
        counselling.reply(session, c, hub.clinic, "답장드립니다", staff_id, channel="sms")
        c = session.get(Consultation, closed)
        assert c is not None
        counselling.change_status(session, c, "closed", staff_id, None)
    signed_in(client, hub)
    html = client.get("/workspace/?order=urgent").get_data(as_text=True)
    ids = row_ids(html)
    assert [i for i in ids if i in (oldest, answered, closed, middle, newest)] == [
        oldest, middle, newest]
    assert 'data-testid="order-note"' in html
    assert re.search(r'<option value="urgent" selected', html)
    # The deadlines shown are in the same order (the order is by deadline).
    with hub.db.begin() as session:
        waiting = queries.oldest_unanswered(session, [oldest, middle, newest])
    dues = [queries.sla(hub.clinic.hours, waiting[i], OPEN_TIME, 2).due
            for i in (oldest, middle, newest)]
    assert dues == sorted(dues)
    # The default stays newest first, answered and closed ones included.
    default = row_ids(client.get("/workspace/").get_data(as_text=True))
    assert default.index(oldest) < default.index(newest)  # the follow-up made it newest
    assert answered in default and closed in default
    # The live part keeps the order too.
    rows = client.get("/workspace/queue/rows?order=urgent").get_data(as_text=True)
    assert [i for i in row_ids(rows) if i in (oldest, middle, newest)] == [
        oldest, middle, newest]


def test_urgent_order_pages_stay_stable_while_new_inquiries_arrive(
        client: FlaskClient, hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    ids = [arrive(hub, 100 + n, n) for n in range(5)]
    signed_in(client, hub)
    first = client.get("/workspace/?order=urgent").get_data(as_text=True)
    assert row_ids(first) == ids[:2]
    link = re.search(r'href="(/workspace/\?[^"]*cursor=[^"]+)" data-testid="next-page"', first)
    assert link and "order=urgent" in link.group(1)
    late = arrive(hub, 999, 60)  # arrives while the counsellor reads page 1
    second = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert row_ids(second) == ids[2:4]
    link = re.search(r'href="(/workspace/\?[^"]*cursor=[^"]+)" data-testid="next-page"', second)
    assert link
    third = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert row_ids(third) == [ids[4], late]


def test_urgent_order_keeps_the_filters(client: FlaskClient, hub: Hub) -> None:
    sms = arrive(hub, 200, 0)
    web = received(hub, inquiry(Channel.WEB, phone="010-5000-0201",
                                at=OPEN_TIME + timedelta(minutes=1))).consultation_id
    signed_in(client, hub)
    html = client.get("/workspace/?order=urgent&channel=web").get_data(as_text=True)
    assert web in row_ids(html) and sms not in row_ids(html)


def test_an_unknown_order_is_a_400(client: FlaskClient, hub: Hub) -> None:
    signed_in(client, hub)
    assert client.get("/workspace/?order=sideways").status_code == 400


def test_adding_opening_hours_never_reverses_two_start_times(hub: Hub) -> None:
    """Why ordering by the oldest unanswered message is ordering by the SLA deadline: a later
    start never gets an earlier deadline on the clinic's calendar (checked over two weeks, every
    7 minutes, across nights, weekends and closed days)."""
    hours = hub.clinic.hours
    due_hours = hub.settings.sla_first_response_hours
    start = OPEN_TIME - timedelta(days=3)
    dues = [hours.add_business_hours(start + timedelta(minutes=7 * n), due_hours)
            for n in range(14 * 24 * 60 // 7)]
    assert all(a <= b for a, b in zip(dues, dues[1:], strict=False))
