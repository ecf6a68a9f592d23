"""People merges from the workspace: suggestions (shared contact point, same name as a hint
only), a counsellor's confirmed merge moving everything to the survivor, and undo."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.hub import Hub
from intake.models import ConsentState, Consultation, ContactPoint, Message, Person, PersonMerge
from intake.services import identity
from intake.services.consent import record_consent
from intake.vocab import Channel
from tests.factories import inquiry, make_staff, received
from tests.integration.test_workspace_auth import csrf_of, sign_in, staff_email


def states(hub: Hub, person_id: int) -> dict[tuple[str, str], str]:
    """Reply consent per channel (voice follows SMS for a phone; left out to keep it short)."""
    with hub.db.begin() as session:
        return {(s.purpose, s.channel): s.action for s in session.scalars(
            select(ConsentState).where(ConsentState.person_id == person_id,
                                       ConsentState.channel != "voice"))}


def owner(hub: Hub, consultation_id: int) -> int:
    with hub.db.begin() as session:
        return session.get(Consultation, consultation_id).person_id  # type: ignore[union-attr]


def test_same_name_is_only_a_suggestion_and_a_confirmed_merge_can_be_undone(
        client: FlaskClient, hub: Hub) -> None:
    """Never merged automatically on a name: it is suggested, a counsellor confirms, undo
    restores both records (contact points, consultations, consent)."""
    a = received(hub, inquiry(Channel.SMS, name="최지우", phone="010-7100-0001"))
    b = received(hub, inquiry(Channel.EMAIL, name="최지우", phone=None,
                              email="jiwoo@example.com"))
    assert a.person_id != b.person_id  # receiving never merged them
    sign_in(client, staff_email(hub, "counsellor"))
    url = f"/workspace/consultations/{a.consultation_id}"
    page = client.get(url).get_data(as_text=True)
    assert f'data-testid="merge-suggestion" data-person="{b.person_id}"' in page
    assert "같은 이름" in page
    assert states(hub, a.person_id) == {("reply", "sms"): "grant"}

    token = csrf_of(client, url)
    response = client.post(f"/workspace/people/{a.person_id}/merge", data={
        "other_id": str(b.person_id), "reason": "same name", "consultation_id":
        str(a.consultation_id), "csrf_token": token})
    assert response.status_code == 302
    assert owner(hub, b.consultation_id) == a.person_id
    assert states(hub, a.person_id) == {("reply", "sms"): "grant", ("reply", "email"): "grant"}
    assert states(hub, b.person_id) == {("reply", "email"): "grant"}  # its ledger stays
    with hub.db.begin() as session:
        kinds = {cp.kind for cp in session.scalars(select(ContactPoint).where(
            ContactPoint.person_id == a.person_id))}
        assert kinds == {"phone", "email"}
        record = session.scalars(select(PersonMerge)).one()
        merge_id = record.id
    page = client.get(url).get_data(as_text=True)
    # The merged email is now offered, its reply consent joined from B's ledger.
    assert re.search(r'<option value="email"\s+(selected)?\s*>', page)
    assert "jiwoo@example.com" in page

    client.post(f"/workspace/merges/{merge_id}/undo",
                data={"consultation_id": str(a.consultation_id), "csrf_token": token})
    assert owner(hub, b.consultation_id) == b.person_id
    assert states(hub, a.person_id) == {("reply", "sms"): "grant"}
    assert states(hub, b.person_id) == {("reply", "email"): "grant"}
    with hub.db.begin() as session:
        record = session.get(PersonMerge, merge_id)
        assert record is not None and record.undone_at is not None
        emails = session.scalars(select(ContactPoint.person_id).where(
            ContactPoint.kind == "email", ContactPoint.value == "jiwoo@example.com")).all()
        assert emails == [b.person_id]


def test_a_shared_contact_point_is_suggested(client: FlaskClient, hub: Hub) -> None:
    """An email that joined A's consultation (In-Reply-To) from B's address: suggest B."""
    a = received(hub, inquiry(Channel.SMS, name="A", phone="010-7200-0001"))
    b = received(hub, inquiry(Channel.EMAIL, name="B", phone=None, email="bee@example.com"))
    with hub.db.begin() as session:
        cp = session.scalars(select(ContactPoint).where(
            ContactPoint.person_id == b.person_id)).one()
        session.add(Message(consultation_id=a.consultation_id, direction="in",
                            channel="email", body="reply", contact_point_id=cp.id))
        person = session.get(Person, a.person_id)
        assert person is not None
        assert identity.suggestions(session, person) == [
            identity.Suggestion(b.person_id, "shared email")]


def test_consent_recorded_after_a_merge_stays_after_undo(hub: Hub) -> None:
    a = received(hub, inquiry(Channel.SMS, name="C", phone="010-7300-0001"))
    b = received(hub, inquiry(Channel.EMAIL, name="D", phone=None, email="dee@example.com"))
    staff_id, _ = make_staff(hub, "counsellor")
    with hub.db.begin() as session:
        survivor, merged = session.get(Person, a.person_id), session.get(Person, b.person_id)
        assert survivor is not None and merged is not None
        record = identity.merge(session, survivor, merged, staff_id, "counsellor")
        record_consent(session, a.person_id, "reply", "opt_out", "sms_keyword",
                       {"keyword": "STOP"}, channel="sms")
        session.flush()
        identity.undo(session, record, staff_id)
    assert states(hub, a.person_id) == {("reply", "sms"): "opt_out"}
    assert states(hub, b.person_id) == {("reply", "email"): "grant"}


def test_merge_refusals(hub: Hub) -> None:
    a = received(hub, inquiry(Channel.SMS, phone="010-7400-0001"))
    b = received(hub, inquiry(Channel.SMS, phone="010-7400-0002"))
    c = received(hub, inquiry(Channel.SMS, phone="010-7400-0003"))
    with hub.db.begin() as session:
        pa, pb, pc = (session.get(Person, r.person_id) for r in (a, b, c))
        assert pa is not None and pb is not None and pc is not None
        with pytest.raises(identity.MergeRefused):
            identity.merge(session, pa, pa, None, "x")
        record = identity.merge(session, pa, pb, None, "x")
        with pytest.raises(identity.MergeRefused):
            identity.merge(session, pc, pb, None, "x")  # b was merged away already
        identity.undo(session, record, None)
        with pytest.raises(identity.MergeRefused):
            identity.undo(session, record, None)


@pytest.mark.parametrize("role", ["marketer", "privacy_officer"])
def test_roles_that_may_not_merge(client: FlaskClient, hub: Hub, role: str) -> None:
    a = received(hub, inquiry(Channel.SMS, phone="010-7500-0001"))
    b = received(hub, inquiry(Channel.SMS, phone="010-7500-0002"))
    sign_in(client, staff_email(hub, role))
    token = csrf_of(client, "/workspace/")
    assert client.post(f"/workspace/people/{a.person_id}/merge",
                       data={"other_id": str(b.person_id), "csrf_token": token}
                       ).status_code == 403
    assert client.post("/workspace/merges/1/undo", data={"csrf_token": token}
                       ).status_code == 403


def test_api_consents_ledger_includes_the_merged_records_events_until_undone(
        client: FlaskClient, hub: Hub) -> None:
    """The API's consent ledger after a merge is the joined one, as the states are (the
    evidence for every state is one query away), and the workspace panel shows the same
    events; undoing the merge takes them out again."""
    from tests.factories import auth

    a = received(hub, inquiry(Channel.SMS, name="한가람", phone="010-7300-0001"))
    b = received(hub, inquiry(Channel.EMAIL, name="한가람", phone=None,
                              email="garam@example.com"))
    staff_id, token = make_staff(hub, "counsellor")

    def ledger() -> list[tuple[str, str | None]]:
        response = client.get(f"/api/v1/people/{a.person_id}/consents", headers=auth(token))
        assert response.status_code == 200
        body = response.get_json()
        assert body["person_id"] == a.person_id
        assert all("person_id" not in e for e in body["ledger"])  # the contract's fields only
        ats = [e["at"] for e in body["ledger"]]
        assert ats == sorted(ats)  # oldest first
        return [(e["purpose"], e["channel"]) for e in body["ledger"]]

    assert ("reply", "email") not in ledger()
    with hub.db.begin() as session:
        survivor, merged = session.get(Person, a.person_id), session.get(Person, b.person_id)
        assert survivor is not None and merged is not None
        record = identity.merge(session, survivor, merged, staff_id, "same person")
        merge_id = record.id
    joined = ledger()
    assert ("reply", "sms") in joined and ("reply", "email") in joined
    sign_in(client, staff_email(hub, "counsellor"))
    page = client.get(f"/workspace/consultations/{a.consultation_id}").get_data(as_text=True)
    assert f"· #{b.person_id}</li>" in page and f"· #{a.person_id}</li>" not in page
    with hub.db.begin() as session:
        record = session.get(PersonMerge, merge_id)
        assert record is not None
        identity.undo(session, record, staff_id)
    assert ("reply", "email") not in ledger()
