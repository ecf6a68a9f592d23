"""Staff accounts and API tokens: argon2id password hashes (R23), tokens stored as SHA-256."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.contacts import InvalidContact, normalise_email
from intake.models import ApiToken, Staff
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
