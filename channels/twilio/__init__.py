"""The Twilio channel: SMS/MMS, calls and voicemail in (webhooks), SMS out (sender).

`register(app, hub)` mounts the `/webhooks/twilio/*` blueprint; `senders(hub)` provides the
SMS sender only when TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are set (else the development
sink stays). Jobs (media and recording fetch with the recording's deletion at Twilio, the
pending-status sweep, recording retention, reconciliation of timed-out sends) live in
`workers/twilio_jobs.py`; their Twilio-side calls are in `media.py` and `reconcile.py`.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from intake.hub import Hub


def senders(hub: Hub) -> dict[str, Any]:
    if not hub.settings.sms_configured:
        return {}
    from channels.twilio.sender import TwilioSmsSender

    return {"sms": TwilioSmsSender(hub.settings, hub.db, lambda: hub.redis)}


def register(app: Flask, hub: Hub) -> None:
    from channels.twilio.webhooks import bp

    app.register_blueprint(bp)
