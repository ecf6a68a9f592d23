"""Twilio's own bookkeeping: status callbacks that arrived before their MessageSid was stored.

Twilio may call `/webhooks/twilio/status` before the worker that sent the message has recorded
the MessageSid on its delivery (the REST answer and the callback race). Such a callback is kept
here and applied by `intake.services.provider_status.apply_pending` once the sid is recorded.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from intake.db import Base, BigId, UTCDateTime, utcnow


class PendingProviderStatus(Base):
    """One (MessageSid, MessageStatus) seen before its delivery was known; unique, so a replayed
    callback is kept once."""

    __tablename__ = "pending_provider_statuses"
    __table_args__ = (UniqueConstraint("provider_id", "status",
                                       name="uq_pending_provider_statuses_sid_status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(10))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
