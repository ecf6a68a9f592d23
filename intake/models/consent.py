"""The consent ledger (append-only events with evidence) and the state derived from it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from intake.db import Base, BigId, UTCDateTime, utcnow
from intake.models.people import Person


class ConsentEvent(Base):
    """One consent decision and its evidence (R2, R5). Rows are never updated: the migration
    installs a trigger that refuses UPDATE on this table."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str | None] = mapped_column(String(10))
    action: Mapped[str] = mapped_column(String(10))
    method: Mapped[str] = mapped_column(String(24))
    # notice version and sha256, source (form submission / message id), ip, contact value...
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person: Mapped[Person] = relationship()


class ConsentState(Base):
    """The current state per (person, purpose, channel), kept in step with the ledger in the same
    transaction so that the send path reads one small indexed row set."""

    __tablename__ = "consent_states"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20), primary_key=True)
    # '' where the purpose has no channel (sensitive_health, guardian).
    channel: Mapped[str] = mapped_column(String(10), primary_key=True, default="")
    action: Mapped[str] = mapped_column(String(10))
    event_id: Mapped[int] = mapped_column(ForeignKey("consent_events.id"))
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    # R48: when a marketing grant must be reconfirmed (consent date + 2 years - 1 day).
    reconfirm_due: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person: Mapped[Person] = relationship()
    event: Mapped[ConsentEvent] = relationship()
