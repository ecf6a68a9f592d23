"""Workspace sign-in: Flask's signed session cookie, CSRF tokens, lock-out (R28), role checks.

Owns who is signed in to the workspace and what their role may open. Called by the workspace
views (`intake/workspace/views.py`); the API has its own bearer tokens (`intake/auth.py`).

- The session cookie is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure behind https:
  configured in `create_app`). Signing in clears whatever session the browser had and starts a
  new one with a new CSRF token (no fixation); the sign-in time is kept in it and checked on
  the server against SESSION_HOURS, so an old cookie cannot outlive its lifetime, and against
  the user's last sign-out, so a copied cookie stops working when its user signs out.
- CSRF: one random token per session, sent back by every POST form as `csrf_token` (or the
  `X-CSRF-Token` header for scripts) and compared in constant time; a POST without it is 400.
  A small explicit check rather than Flask-WTF: the workspace has no WTForms forms.
- Lock-out (R28): every failed sign-in to an account is an audit entry; 5 of them within 15
  minutes (since the last success or the last lock) lock the account for 15 minutes, right
  password or not. The count comes from the audit log, so it survives restarts and is shared
  by every web process.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache, wraps
from typing import Any, TypeVar

from argon2 import PasswordHasher
from flask import abort, g, redirect, request, session, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from intake.contacts import InvalidContact, normalise_email
from intake.db import utcnow
from intake.hub import current_hub
from intake.models import AuditEntry, Staff
from intake.services.audit import audit
from intake.services.staff import verify_password
from intake.vocab import Role

F = TypeVar("F", bound=Callable[..., Any])

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_TIME = timedelta(minutes=15)

ALL_ROLES = (Role.COUNSELLOR, Role.MARKETER, Role.PRIVACY_OFFICER, Role.ADMIN)
READERS = (Role.COUNSELLOR, Role.PRIVACY_OFFICER, Role.ADMIN)  # may open a consultation
WORKERS = (Role.COUNSELLOR, Role.ADMIN)  # may act on one
AUDITORS = (Role.PRIVACY_OFFICER, Role.ADMIN)
ADMINS = (Role.ADMIN,)  # staff administration (R28: least privilege)



@lru_cache(maxsize=1)
def _dummy() -> Staff:
    """Staff with the hash of a random password: verifying an unknown email against it takes
    as long as a known one, so timing does not tell which emails are staff."""
    return Staff(password_hash=PasswordHasher().hash(secrets.token_hex(16)))


@dataclass(frozen=True)
class SignedIn:
    id: int
    email: str
    name: str | None
    role: str
    locale: str


@dataclass(frozen=True)
class SignInResult:
    staff_id: int | None
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.staff_id is not None and self.locked_until is None


def _failures(session: Session, staff: Staff, now: datetime) -> int:
    since = now - FAILURE_WINDOW
    last_ok = session.scalar(select(func.max(AuditEntry.at)).where(
        AuditEntry.staff_id == staff.id, AuditEntry.action == "workspace.sign_in"))
    # An admin's unlock (`staff.unlock`, written by the admin, about this account) starts a
    # fresh count: otherwise the next single typo would lock the account again.
    unlocked = session.scalar(select(func.max(AuditEntry.at)).where(
        AuditEntry.action == "staff.unlock", AuditEntry.target == f"staff:{staff.id}"))
    for bound in (last_ok, staff.locked_until, unlocked):
        if bound is not None and bound > since:
            since = bound
    return session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.staff_id == staff.id, AuditEntry.action == "workspace.sign_in_failed",
        AuditEntry.at > since)) or 0


def check_password(session: Session, email: str, password: str, ip: str,
                   now: datetime | None = None) -> SignInResult:
    """Check a sign-in attempt, recording failures and locks. A locked account is refused
    whatever the password (R28)."""
    now = now or utcnow()
    try:
        address = normalise_email(email)
    except InvalidContact:
        address = ""
    staff = session.scalar(select(Staff).where(Staff.email == address)) if address else None
    if staff is None or not staff.active:
        verify_password(_dummy(), password)
        return SignInResult(None)
    if staff.locked_until is not None and staff.locked_until > now:
        audit(session, staff.id, "workspace.sign_in_locked", None, f"staff:{staff.id}", ip)
        return SignInResult(staff.id, staff.locked_until)
    if verify_password(staff, password):
        staff.failed_logins = 0
        audit(session, staff.id, "workspace.sign_in", None, f"staff:{staff.id}", ip)
        return SignInResult(staff.id)
    audit(session, staff.id, "workspace.sign_in_failed", None, f"staff:{staff.id}", ip)
    session.flush()
    count = _failures(session, staff, now)
    staff.failed_logins = count
    if count >= MAX_FAILURES:
        staff.locked_until = now + LOCK_TIME
        audit(session, staff.id, "staff.locked", None, f"staff:{staff.id}", ip,
              failures=count)
        return SignInResult(staff.id, staff.locked_until)
    return SignInResult(None)


def start_session(staff_id: int) -> None:
    """A new session for a signed-in staff user (whatever the browser had is dropped)."""
    session.clear()
    session.permanent = True
    session["staff_id"] = staff_id
    session["signed_in_at"] = utcnow().timestamp()
    session["csrf"] = secrets.token_urlsafe(32)


def end_session() -> None:
    session.clear()


def csrf_token() -> str:
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def check_csrf() -> None:
    """Every POST carries the session's token (form field `csrf_token` or `X-CSRF-Token`)."""
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return
    expected = session.get("csrf")
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not expected or not hmac.compare_digest(str(expected), sent):
        abort(400, description="csrf")


def current_staff() -> SignedIn | None:
    """The signed-in staff user, or None (no session, expired, deactivated)."""
    if "ws_staff" in g:
        staff: SignedIn | None = g.ws_staff
        return staff
    g.ws_staff = None
    staff_id = session.get("staff_id")
    if staff_id is None:
        return None
    hub = current_hub()
    started = float(session.get("signed_in_at", 0))
    if utcnow().timestamp() - started > hub.settings.session_hours * 3600:
        session.clear()
        return None
    with hub.db.begin() as db:
        row = db.get(Staff, int(staff_id))
        if row is None or not row.active or _signed_out_since(db, row.id, started):
            session.clear()
            return None
        g.ws_staff = SignedIn(row.id, row.email, row.name, row.role, row.locale or "ko")
    return g.ws_staff  # type: ignore[no-any-return]


def _signed_out_since(db: Session, staff_id: int, started: float) -> bool:
    """A signed cookie cannot be recalled, so signing out is recorded (an audit entry) and any
    session of that user started before it is refused: a copied cookie dies with the sign-out
    (on every device of that user, which is the safe side)."""
    last = db.scalar(select(func.max(AuditEntry.at)).where(
        AuditEntry.staff_id == staff_id, AuditEntry.action == "workspace.sign_out"))
    return last is not None and last.timestamp() >= started


def require(*roles: str) -> Callable[[F], F]:
    """Signed out: redirect to the sign-in page. Signed in with another role: 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            staff = current_staff()
            if staff is None:
                if request.method == "GET":
                    return redirect(url_for("workspace.sign_in", next=request.full_path))
                abort(401)
            if staff.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
