"""Staff administration in the workspace (R28): admins list, create, change, deactivate,
reactivate and unlock personal accounts; every change is an audit entry with before/after
(the grant history); no other role reaches these pages or actions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.db import utcnow
from intake.hub import Hub
from intake.models import ApiToken, AuditEntry, Staff
from intake.services import staff as staff_service
from tests.factories import auth, make_staff
from tests.integration.test_workspace_auth import csrf_of, sign_in, staff_email


def as_admin(client: FlaskClient, hub: Hub) -> tuple[int, str]:
    email = staff_email(hub, "admin")
    assert sign_in(client, email).status_code == 302  # type: ignore[attr-defined]
    with hub.db.begin() as session:
        admin = session.scalar(select(Staff).where(Staff.email == email))
        assert admin is not None
        return admin.id, csrf_of(client, "/workspace/admin/staff")


def staff_by_email(hub: Hub, email: str) -> Staff:
    with hub.db.begin() as session:
        row = session.scalar(select(Staff).where(Staff.email == email))
        assert row is not None
        session.expunge(row)
        return row


def history(hub: Hub, staff_id: int) -> list[AuditEntry]:
    with hub.db.begin() as session:
        rows = session.scalars(select(AuditEntry).where(
            AuditEntry.target == f"staff:{staff_id}", AuditEntry.action.startswith("staff."))
            .order_by(AuditEntry.id)).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def test_r28_admin_lists_staff_and_sees_the_nav_link(client: FlaskClient, hub: Hub) -> None:
    other = staff_email(hub, "counsellor")
    as_admin(client, hub)
    html = client.get("/workspace/admin/staff").get_data(as_text=True)
    assert f'data-email="{other}"' in html
    assert 'data-testid="nav-staff"' in client.get("/workspace/").get_data(as_text=True)


@pytest.mark.parametrize("role", ["counsellor", "marketer", "privacy_officer"])
def test_r28_no_staff_link_for_other_roles(client: FlaskClient, hub: Hub, role: str) -> None:
    sign_in(client, staff_email(hub, role))
    assert 'data-testid="nav-staff"' not in client.get("/workspace/").get_data(as_text=True)


def test_r28_admin_creates_a_personal_account_that_can_sign_in(
        app: object, client: FlaskClient, hub: Hub) -> None:
    admin_id, token = as_admin(client, hub)
    response = client.post("/workspace/admin/staff", data={
        "email": "New.Counsellor@Clinic.example.com", "name": "새 상담사", "role": "counsellor",
        "locale": "en", "password": "a long enough pw", "csrf_token": token})
    assert response.status_code == 302
    row = staff_by_email(hub, "new.counsellor@clinic.example.com")
    assert row.role == "counsellor" and row.locale == "en" and row.active
    assert row.password_hash and row.password_hash.startswith("$argon2")
    [entry] = history(hub, row.id)
    assert entry.action == "staff.create" and entry.staff_id == admin_id and entry.ip
    assert entry.detail and entry.detail["after"] == {"role": "counsellor", "locale": "en",
                                                      "active": True}
    assert "a long enough pw" not in str(entry.detail)
    newcomer = app.test_client()  # type: ignore[attr-defined]
    assert sign_in(newcomer, row.email, "a long enough pw").status_code == 302


@pytest.mark.parametrize("data, words", [
    ({"email": "short@clinic.example.com", "role": "counsellor", "password": "too short"},
     "10 characters"),
    ({"email": "x@clinic.example.com", "role": "owner", "password": "long enough pw"}, "role"),
    ({"email": "not-an-email", "role": "counsellor", "password": "long enough pw"}, ""),
    ({"email": "y@clinic.example.com", "role": "counsellor", "password": "long enough pw",
      "locale": "fr"}, "locale"),
])
def test_bad_new_accounts_are_refused_with_a_400(client: FlaskClient, hub: Hub,
                                                 data: dict[str, str], words: str) -> None:
    _, token = as_admin(client, hub)
    response = client.post("/workspace/admin/staff", data={**data, "csrf_token": token})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'data-testid="staff-error"' in html and words in html
    with hub.db.begin() as session:
        assert session.scalar(select(Staff).where(Staff.email == data["email"])) is None


def test_a_duplicate_email_is_refused(client: FlaskClient, hub: Hub) -> None:
    existing = staff_email(hub, "counsellor")
    _, token = as_admin(client, hub)
    response = client.post("/workspace/admin/staff", data={
        "email": existing, "role": "admin", "password": "long enough pw", "csrf_token": token})
    assert response.status_code == 400 and "exists" in response.get_data(as_text=True)
    assert staff_by_email(hub, existing).role == "counsellor"


def test_r28_role_and_locale_changes_keep_the_grant_history(client: FlaskClient,
                                                             hub: Hub) -> None:
    email = staff_email(hub, "counsellor")
    target = staff_by_email(hub, email)
    admin_id, token = as_admin(client, hub)
    url = f"/workspace/admin/staff/{target.id}"
    assert client.post(url, data={"role": "marketer", "locale": "en",
                                  "csrf_token": token}).status_code == 302
    row = staff_by_email(hub, email)
    assert row.role == "marketer" and row.locale == "en"
    # Nothing changed: no audit entry.
    assert client.post(url, data={"role": "marketer", "locale": "en",
                                  "csrf_token": token}).status_code == 302
    [entry] = history(hub, target.id)
    assert entry.action == "staff.change" and entry.staff_id == admin_id
    assert entry.detail and entry.detail["before"]["role"] == "counsellor"
    assert entry.detail["after"] == {"role": "marketer", "locale": "en", "active": True}
    html = client.get("/workspace/admin/staff").get_data(as_text=True)
    assert 'data-testid="staff-history"' in html and "staff.change" in html
    assert client.post(url, data={"role": "owner", "csrf_token": token}).status_code == 400


def test_r28_the_new_role_applies_at_once(app: object, client: FlaskClient, hub: Hub) -> None:
    """Least privilege: a counsellor made marketer loses the consultation pages on their next
    request, without signing in again."""
    email = staff_email(hub, "counsellor")
    user = app.test_client()  # type: ignore[attr-defined]
    sign_in(user, email)
    assert user.get("/workspace/sink").status_code == 200
    _, token = as_admin(client, hub)
    target = staff_by_email(hub, email)
    client.post(f"/workspace/admin/staff/{target.id}", data={"role": "marketer",
                                                             "csrf_token": token})
    assert user.get("/workspace/sink").status_code == 403


def test_r28_deactivation_ends_sign_in_sessions_and_api_tokens(
        app: object, client: FlaskClient, hub: Hub) -> None:
    """R28 revoked promptly: a deactivated account cannot sign in, its open session ends on
    the next request and its API tokens are refused (and stay revoked after reactivation)."""
    staff_id, api_token = make_staff(hub, "counsellor")
    with hub.db.begin() as session:
        email = session.get(Staff, staff_id).email  # type: ignore[union-attr]
    api = app.test_client()  # type: ignore[attr-defined]
    assert api.get("/api/v1/consultations", headers=auth(api_token)).status_code == 200
    user = app.test_client()  # type: ignore[attr-defined]
    sign_in(user, email)
    assert user.get("/workspace/").status_code == 200
    admin_id, token = as_admin(client, hub)
    url = f"/workspace/admin/staff/{staff_id}/active"
    assert client.post(url, data={"active": "0", "csrf_token": token}).status_code == 302
    assert user.get("/workspace/").status_code == 302
    assert sign_in(app.test_client(), email).status_code == 401  # type: ignore[attr-defined]
    assert api.get("/api/v1/consultations", headers=auth(api_token)).status_code == 401
    with hub.db.begin() as session:
        tokens = session.scalars(select(ApiToken).where(ApiToken.staff_id == staff_id)).all()
        assert tokens and all(t.revoked for t in tokens)
    assert client.post(url, data={"active": "1", "csrf_token": token}).status_code == 302
    assert sign_in(app.test_client(), email).status_code == 302  # type: ignore[attr-defined]
    assert api.get("/api/v1/consultations", headers=auth(api_token)).status_code == 401
    actions = [(e.action, e.staff_id, e.detail["after"]["active"])  # type: ignore[index]
               for e in history(hub, staff_id)]
    assert actions == [("staff.deactivate", admin_id, False),
                       ("staff.reactivate", admin_id, True)]
    assert client.post(url, data={"active": "maybe", "csrf_token": token}).status_code == 400


def test_an_admin_cannot_demote_or_deactivate_themselves(client: FlaskClient, hub: Hub) -> None:
    admin_id, token = as_admin(client, hub)
    response = client.post(f"/workspace/admin/staff/{admin_id}/active",
                           data={"active": "0", "csrf_token": token})
    assert response.status_code == 400
    response = client.post(f"/workspace/admin/staff/{admin_id}",
                           data={"role": "counsellor", "csrf_token": token})
    assert response.status_code == 400
    # Their own locale is theirs to change.
    assert client.post(f"/workspace/admin/staff/{admin_id}",
                       data={"locale": "en", "csrf_token": token}).status_code == 302
    with hub.db.begin() as session:
        me = session.get(Staff, admin_id)
        assert me is not None and me.role == "admin" and me.active and me.locale == "en"


def test_r28_admin_unlocks_a_locked_account_before_15_minutes(
        app: object, client: FlaskClient, hub: Hub) -> None:
    """R28: a lock can be lifted early by an admin; the failures before it stop counting, so
    one more typo does not lock the account again."""
    email = staff_email(hub, "counsellor")
    user = app.test_client()  # type: ignore[attr-defined]
    for _ in range(5):
        sign_in(user, email, "wrong password!!")
    assert sign_in(user, email).status_code == 429
    target = staff_by_email(hub, email)
    assert target.locked_until is not None and target.locked_until > utcnow()
    admin_id, token = as_admin(client, hub)
    html = client.get("/workspace/admin/staff").get_data(as_text=True)
    row = re.search(rf'data-email="{re.escape(email)}">(.*?)</tr>', html, re.S)
    assert row and 'data-testid="staff-unlock"' in row.group(1)
    url = f"/workspace/admin/staff/{target.id}/unlock"
    assert client.post(url, data={"csrf_token": token}).status_code == 302
    assert staff_by_email(hub, email).locked_until is None
    assert sign_in(user, email, "wrong password!!").status_code == 401  # not locked again
    assert sign_in(user, email).status_code == 302
    [entry] = [e for e in history(hub, target.id) if e.action == "staff.unlock"]
    assert entry.staff_id == admin_id and entry.detail
    assert entry.detail["before"]["locked_until"] and entry.detail["after"]["locked_until"] is None
    # Unlocking an account that is not locked changes nothing.
    client.post(url, data={"csrf_token": token})
    assert len([e for e in history(hub, target.id) if e.action == "staff.unlock"]) == 1


def test_staff_admin_forms_need_the_csrf_token(client: FlaskClient, hub: Hub) -> None:
    email = staff_email(hub, "counsellor")
    target = staff_by_email(hub, email)
    as_admin(client, hub)
    for path, data in [("/workspace/admin/staff", {"email": "c@clinic.example.com",
                                                   "role": "admin", "password": "x" * 12}),
                       (f"/workspace/admin/staff/{target.id}", {"role": "admin"}),
                       (f"/workspace/admin/staff/{target.id}/active", {"active": "0"}),
                       (f"/workspace/admin/staff/{target.id}/unlock", {})]:
        assert client.post(path, data=data).status_code == 400
    row = staff_by_email(hub, email)
    assert row.role == "counsellor" and row.active


def test_unknown_staff_is_404(client: FlaskClient, hub: Hub) -> None:
    _, token = as_admin(client, hub)
    assert client.post("/workspace/admin/staff/999999999/unlock",
                       data={"csrf_token": token}).status_code == 404


def test_unlock_service_keeps_an_expired_lock_alone(hub: Hub) -> None:
    staff_id, _ = make_staff(hub, "counsellor")
    admin_id, _ = make_staff(hub, "admin")
    with hub.db.begin() as session:
        staff = session.get(Staff, staff_id)
        assert staff is not None
        staff.locked_until = utcnow() - timedelta(minutes=1)
        assert staff_service.unlock_staff(session, staff, admin_id) is False
