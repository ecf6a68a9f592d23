"""The staff access log (R29): who, when, from where, whose data, what."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from intake.models import AuditEntry


def audit(session: Session, staff_id: int | None, action: str, person_id: int | None,
          target: str | None, ip: str | None, **detail: Any) -> None:
    session.add(AuditEntry(staff_id=staff_id, action=action, person_id=person_id, target=target,
                           ip=ip, detail=detail or None))
