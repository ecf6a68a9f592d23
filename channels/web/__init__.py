"""The web channel: the homepage consultation form (`GET`/`POST /consult`) and the same inquiry
as JSON (`POST /api/v1/inquiries`). Both validate with one schema (`schemas`), build the
channel-neutral `Inquiry` in one place (`adapter`) and hand it to `intake.services.receive`.
"""

from __future__ import annotations

from flask import Flask

from intake.hub import Hub


def register(app: Flask, hub: Hub) -> None:
    """Mount the form and the JSON route. The JSON route has its own blueprint (`web_api`) so it
    never collides with the domain's `api` blueprint under the same `/api/v1` prefix."""
    from channels.web.api import bp as api_bp
    from channels.web.form import bp as form_bp

    app.register_blueprint(form_bp)
    app.register_blueprint(api_bp)
