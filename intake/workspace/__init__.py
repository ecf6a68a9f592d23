"""The counsellors' workspace in the browser: server-rendered pages under `/workspace`.

Owns the workspace blueprint (views in `views.py`, sign-in and roles in `auth.py`, words in
`i18n.py`, templates and static files beside them). `create_app` calls `register_workspace`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, render_template

from intake.hub import current_hub

bp = Blueprint("workspace", __name__, url_prefix="/workspace", template_folder="templates",
               static_folder="static", static_url_path="/static")


def _context() -> dict[str, Any]:
    from intake.workspace.auth import (
        ADMINS,
        AUDITORS,
        READERS,
        WORKERS,
        csrf_token,
        current_staff,
    )
    from intake.workspace.i18n import age, local_time, reason, translate

    staff = current_staff()
    locale = staff.locale if staff else "ko"
    tz = current_hub().clinic.tz
    return {
        "me": staff, "locale": locale, "csrf_token": csrf_token,
        "t": lambda key, **values: translate(locale, key, **values),
        "when": lambda at, with_date=True: local_time(at, tz, with_date),
        "age": lambda seconds: age(seconds, locale),
        "why": lambda text: reason(text or "", locale),
        "can_read": staff is not None and staff.role in READERS,
        "can_work": staff is not None and staff.role in WORKERS,
        "can_audit": staff is not None and staff.role in AUDITORS,
        "can_admin": staff is not None and staff.role in ADMINS,
    }


def _error_page(code: int) -> Any:
    def handler(exc: Exception) -> Any:
        key = {403: "forbidden", 404: "not_found"}.get(code, "refused")
        return render_template("workspace/error.html", code=code, key=key), code

    return handler


def register_workspace(app: Flask) -> None:
    """Register the workspace on `app`; the session lasts SESSION_HOURS."""
    from intake.workspace import views  # noqa: F401 - routes on `bp`

    settings = app.extensions["intake"].settings
    app.permanent_session_lifetime = timedelta(hours=settings.session_hours)
    app.register_blueprint(bp)


def _setup() -> None:
    from intake.workspace.auth import check_csrf

    bp.before_request(check_csrf)
    bp.context_processor(_context)
    for code in (400, 401, 403, 404):
        bp.register_error_handler(code, _error_page(code))


_setup()
