"""The development sink: a channel without provider credentials "sends" by writing here.

Rows are visible through `GET /api/v1/deliveries` (and the workspace), the way a console email
backend shows mail, but shared by every process through the database.
"""

from __future__ import annotations

from channels.base import Outgoing, SendResult
from intake.db import Database
from intake.models import SinkMessage


class SinkSender:
    def __init__(self, channel: str, db: Database) -> None:
        self.channel = channel
        self._db = db

    def send(self, message: Outgoing) -> SendResult:
        with self._db.begin() as session:
            row = SinkMessage(delivery_id=message.delivery_id, channel=message.channel,
                              recipient=message.recipient, subject=message.subject,
                              body=message.body)
            session.add(row)
            session.flush()
            return SendResult(provider_id=f"sink-{row.id}", status="delivered")
