"""Outbound deliveries, their status history, the outbox and the development sink."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from intake.db import Base, BigId, UTCDateTime, utcnow
from intake.models.consultations import Consultation
from intake.models.people import Person


class Delivery(Base):
    """One message to one contact point. Its status only moves forward; the worker decides at
    send time whether it may go (consent is re-checked then, not when it was queued)."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    consultation_id: Mapped[int | None] = mapped_column(ForeignKey("consultations.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    channel: Mapped[str] = mapped_column(String(10))
    purpose: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="queued", index=True)
    reason: Mapped[str | None] = mapped_column(String(500))
    provider_id: Mapped[str | None] = mapped_column(String(255), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Outbound email threading: the Message-ID this delivery carries, In-Reply-To it answers.
    headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person: Mapped[Person] = relationship()
    consultation: Mapped[Consultation | None] = relationship()
    history: Mapped[list[DeliveryEvent]] = relationship(
        order_by="DeliveryEvent.id", lazy="selectin", cascade="all, delete-orphan"
    )


class DeliveryEvent(Base):
    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxRow(Base):
    """A side effect written in the same transaction as the change that causes it; the relay
    moves due rows into RQ, so an accepted inquiry's work survives a Redis outage."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "available_at", "id",
              postgresql_where=text("relayed_at IS NULL"),
              sqlite_where=text("relayed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job: Mapped[str] = mapped_column(String(50))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The delivery a `deliver` row sends: a column (not only args) so that the row can be
    # written in the same flush as its delivery, and found by an index.
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), index=True)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    relayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    delivery: Mapped[Delivery | None] = relationship()

    def job_kwargs(self) -> dict[str, Any]:
        """The keyword arguments the job is called with."""
        if self.delivery_id is None:
            return dict(self.args)
        return {**self.args, "delivery_id": self.delivery_id}


class SinkMessage(Base):
    """What a channel without provider credentials would have sent (development sink)."""

    __tablename__ = "sink_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
