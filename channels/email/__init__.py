"""The email channel: outbound over SMTP (`smtp`); inbound email and fax-to-email arrive with
their issue."""

from __future__ import annotations

from typing import Any

from flask import Flask

from intake.hub import Hub


def senders(hub: Hub) -> dict[str, Any]:
    """Real SMTP when SMTP_HOST is set; otherwise the development sink stays."""
    if not hub.settings.smtp_host:
        return {}
    from channels.email.smtp import SmtpSender

    return {"email": SmtpSender(hub.settings)}


def register(app: Flask, hub: Hub) -> None:
    pass
