"""Staff accounts and API tokens: argon2id password hashes (R23), tokens stored as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.contacts import InvalidContact, normalise_email
from intake.db import utcnow
from intake.models import ApiToken, Staff
from intake.services.audit import audit
from intake.vocab import Role

_hasher = PasswordHasher()


class StaffError(ValueError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_staff(session: Session, email: str, role: str, password: str | None = None,
                 name: str | None = None, locale: str = "ko") -> Staff:
    try:
        email = normalise_email(email)
    except InvalidContact as exc:
        raise StaffError(str(exc)) from None
    try:
        role = Role(role)
    except ValueError:
        raise StaffError(f"role must be one of {', '.join(r.value for r in Role)}") from None
    if session.scalar(select(Staff).where(Staff.email == email)) is not None:
        raise StaffError(f"a staff user {email} exists already")
    if password is not None and len(password) < 10:
        raise StaffError("a password needs at least 10 characters")
    staff = Staff(email=email, role=role, name=name, locale=locale,
                  password_hash=_hasher.hash(password) if password else None)
    session.add(staff)
    session.flush()
    return staff


def verify_password(staff: Staff, password: str) -> bool:
    if not staff.password_hash:
        return False
    try:
        return _hasher.verify(staff.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_token(session: Session, email: str) -> str:
    staff = session.scalar(select(Staff).where(Staff.email == email.strip().lower()))
    if staff is None:
        raise StaffError(f"no staff user {email}")
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(staff_id=staff.id, token_hash=hash_token(token)))
    session.flush()
    return token


def staff_for_token(session: Session, token: str) -> Staff | None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token),
                                                ApiToken.revoked.is_(False)))
    if row is None:
        return None
    staff = session.get(Staff, row.staff_id)
    return staff if staff is not None and staff.active else None


# --- staff administration (R28), called by the workspace's admin pages ------------------------
#
# Every change writes an audit entry with `before` and `after`, so the grant history (who had
# which role, when an account was opened, closed or unlocked, and by whom) is the audit log.
# R29 asks for at least two years of it; the hub deletes no audit entry at all (retention only
# unlinks a destroyed person), so R28's three years of grant history hold too. A future purge
# of the audit log must keep `staff.*` entries (they name no data subject) three years.

STAFF_LOCALES = ("ko", "en")


def _grants(staff: Staff) -> dict[str, object]:
    return {"role": staff.role, "locale": staff.locale, "active": staff.active}


def _audit(session: Session, actor_id: int, action: str, staff: Staff, ip: str | None,
           **detail: object) -> None:
    audit(session, actor_id, action, None, f"staff:{staff.id}", ip, email=staff.email, **detail)


def add_staff(session: Session, actor_id: int, email: str, role: str, password: str,
              name: str | None = None, locale: str = "ko", ip: str | None = None) -> Staff:
    """A new personal account (R28) with an argon2 password of at least 10 characters."""
    if locale not in STAFF_LOCALES:
        raise StaffError(f"locale must be one of {', '.join(STAFF_LOCALES)}")
    if not password or len(password) < 10:
        raise StaffError("a password needs at least 10 characters")
    staff = create_staff(session, email, role, password=password,
                         name=(name or "").strip() or None, locale=locale)
    _audit(session, actor_id, "staff.create", staff, ip, before=None, after=_grants(staff))
    return staff


def _refuse_self(staff: Staff, actor_id: int, what: str) -> None:
    # An admin who demotes or closes their own account could leave the clinic with no admin.
    if staff.id == actor_id:
        raise StaffError(f"you cannot {what} your own account")


def change_staff(session: Session, staff: Staff, actor_id: int, role: str | None = None,
                 locale: str | None = None, ip: str | None = None) -> bool:
    """Change a staff user's role and/or locale; False (and no audit entry) when nothing
    changed."""
    before = _grants(staff)
    if role is not None and role != staff.role:
        try:
            role = Role(role)
        except ValueError:
            raise StaffError(
                f"role must be one of {', '.join(r.value for r in Role)}") from None
        _refuse_self(staff, actor_id, "change the role of")
        staff.role = role
    if locale is not None and locale != staff.locale:
        if locale not in STAFF_LOCALES:
            raise StaffError(f"locale must be one of {', '.join(STAFF_LOCALES)}")
        staff.locale = locale
    after = _grants(staff)
    if after == before:
        return False
    _audit(session, actor_id, "staff.change", staff, ip, before=before, after=after)
    return True


def set_staff_active(session: Session, staff: Staff, active: bool, actor_id: int,
                     ip: str | None = None) -> bool:
    """Deactivate (sign-in refused, sessions end on their next request, API tokens revoked)
    or reactivate an account. Reactivating does not bring old API tokens back: revoked means
    revoked (R28); a new token is issued if one is needed. False when nothing changed."""
    if staff.active == active:
        return False
    _refuse_self(staff, actor_id, "deactivate")
    before = _grants(staff)
    staff.active = active
    revoked = 0
    if not active:
        for token in session.scalars(select(ApiToken).where(ApiToken.staff_id == staff.id,
                                                            ApiToken.revoked.is_(False))):
            token.revoked = True
            revoked += 1
    _audit(session, actor_id, "staff.reactivate" if active else "staff.deactivate", staff, ip,
           before=before, after=_grants(staff), tokens_revoked=revoked)
    return True


def unlock_staff(session: Session, staff: Staff, actor_id: int, ip: str | None = None,
                 now: datetime | None = None) -> bool:
    """End a sign-in lock before its 15 minutes are over. The failures before it stop counting
    (the workspace's failure count starts after the last `staff.unlock` entry). False when the
    account was not locked."""
    now = now or utcnow()
    if staff.locked_until is None or staff.locked_until <= now:
        return False
    before = {"locked_until": staff.locked_until.isoformat(),
              "failed_logins": staff.failed_logins}
    staff.locked_until = None
    staff.failed_logins = 0
    _audit(session, actor_id, "staff.unlock", staff, ip, before=before,
           after={"locked_until": None, "failed_logins": 0})
    return True
