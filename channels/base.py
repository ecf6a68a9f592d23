"""What every channel shares: the outbound sender protocol and its errors.

A sender takes one `Outgoing` message and either returns a `SendResult` or raises:
`TransientSendError` (nothing was sent; retry later), `PermanentSendError` (will never work:
fail the delivery with the reason), `UnknownOutcomeError` (it may have been sent: never resend
blindly; the delivery is marked for reconciliation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Outgoing:
    delivery_id: int
    channel: str
    recipient: str
    body: str
    subject: str | None = None
    headers: Mapping[str, Any] = field(default_factory=dict)

    @property
    def idempotency_key(self) -> str:
        return f"delivery-{self.delivery_id}"


@dataclass(frozen=True)
class SendResult:
    provider_id: str | None
    status: str = "sent"  # or "delivered" when the provider confirms synchronously


class SendError(Exception):
    """Base of the sender errors; the message is stored as the delivery's reason."""


class TransientSendError(SendError):
    pass


class PermanentSendError(SendError):
    pass


class UnknownOutcomeError(SendError):
    pass


class Sender(Protocol):
    channel: str

    def send(self, message: Outgoing) -> SendResult: ...
