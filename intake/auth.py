"""Bearer-token authentication and role checks for `/api/v1` (the workspace has its own
session sign-in). Missing or unknown token: 401; a role that may not: 403."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from intake.errors import ApiError
from intake.hub import current_hub
from intake.services.staff import staff_for_token
from intake.vocab import Role

F = TypeVar("F", bound=Callable[..., Any])

STAFF_READERS = (Role.COUNSELLOR, Role.PRIVACY_OFFICER, Role.ADMIN)


@dataclass(frozen=True)
class Principal:
    id: int
    email: str
    role: str


def current_principal() -> Principal:
    principal: Principal = g.principal
    return principal


def _authenticate() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send Authorization: Bearer TOKEN")
    with current_hub().db.begin() as session:
        staff = staff_for_token(session, token.strip())
        if staff is None:
            raise ApiError(401, "unauthorized", "unknown or revoked token")
        return Principal(staff.id, staff.email, staff.role)


def require_role(*roles: str) -> Callable[[F], F]:
    """Authenticate the bearer token, then allow only `roles`."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = _authenticate()
            if principal.role not in roles:
                raise ApiError(403, "forbidden", f"the {principal.role} role may not do this")
            g.principal = principal
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
