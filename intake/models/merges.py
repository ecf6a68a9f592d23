"""Person merges: two records found to be one person, joined by a counsellor and undoable."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from intake.db import Base, BigId, UTCDateTime, utcnow


class PersonMerge(Base):
    """`merged` was folded into `survivor`. `moved` lists the ids of every row that moved (contact
    points, consultations, consent events, deliveries) and the survivor's fields filled from the
    merged record, which is what undoing needs; the merged person row itself is kept, empty."""

    __tablename__ = "person_merges"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    merged_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    moved: Mapped[dict[str, Any]] = mapped_column(JSON)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
