"""Email channel bookkeeping: Mailgun tokens seen (each accepted once) and IMAP mailbox state.

Written by `channels.email` (routes) and, for IMAP, by `workers.email_jobs`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from intake.db import Base, UTCDateTime, utcnow


class MailgunToken(Base):
    """A Mailgun webhook token and the message it came with: a token seen again on another
    message is a replay (406); on the same message it is Mailgun retrying (200)."""

    __tablename__ = "email_mailgun_tokens"

    token: Mapped[str] = mapped_column(String(128), primary_key=True)
    message_key: Mapped[str] = mapped_column(String(255))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ImapMailbox(Base):
    """Per polled mailbox: the UIDVALIDITY it was read under and the highest UID taken."""

    __tablename__ = "email_imap_mailboxes"

    mailbox: Mapped[str] = mapped_column(String(255), primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
