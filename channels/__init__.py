"""Channel adapters (inbound: verify → parse → Inquiry) and senders (outbound).

`register(app, hub)` is called by the composition root: it mounts each adapter's routes and puts
one sender per outbound channel into `hub.services["senders"]` (the development sink where a
channel has no credentials).
"""

from __future__ import annotations

from flask import Flask

from intake.hub import Hub


def build_senders(hub: Hub) -> dict[str, object]:
    from channels.email.smtp import SmtpSender
    from channels.sink import SinkSender

    settings = hub.settings
    senders: dict[str, object] = {
        channel: SinkSender(channel, hub.db) for channel in ("sms", "kakao", "email")
    }
    if settings.smtp_host:
        senders["email"] = SmtpSender(settings)
    return senders


def register(app: Flask, hub: Hub) -> None:
    from channels.web import register as register_web

    hub.register("senders", build_senders(hub))
    register_web(app, hub)
