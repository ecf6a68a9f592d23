"""The email channel: outbound over SMTP (`smtp`); inbound email and fax-to-email through the
webhooks in `routes` (raw MIME, SendGrid, Mailgun), parsed by `parsing`, stored by `inbound`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from intake.hub import Hub


def senders(hub: Hub) -> dict[str, Any]:
    """Real SMTP when SMTP_HOST is set; otherwise the development sink stays."""
    if not hub.settings.smtp_host:
        return {}
    from channels.email.smtp import SmtpSender

    return {"email": SmtpSender(hub.settings, reply_to=reply_address_resolver(hub))}


def reply_address_resolver(hub: Hub) -> Callable[[int], str | None]:
    """`delivery_id -> consult+TOKEN@domain` of the delivery's consultation (None without one)."""
    from sqlalchemy import select

    from channels.email.threading import reply_address
    from intake.models import Delivery

    def resolve(delivery_id: int) -> str | None:
        with hub.db.begin() as session:
            consultation_id = session.scalar(
                select(Delivery.consultation_id).where(Delivery.id == delivery_id))
        if consultation_id is None:
            return None
        return reply_address(consultation_id, secret_key=hub.settings.secret_key,
                             mail_from=hub.settings.mail_from)

    return resolve


def register(app: Flask, hub: Hub) -> None:
    """Mount `/webhooks/email/raw`, `/sendgrid` and `/mailgun`."""
    from channels.email.routes import bp

    app.register_blueprint(bp)
