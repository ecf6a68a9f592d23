"""`GET /healthz`: liveness and readiness (database, Redis)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from intake.hub import current_hub

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    hub = current_hub()
    checks: dict[str, str] = {}
    try:
        with hub.db.begin() as session:  # a session like any request's (SQLite: its lock)
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        hub.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {type(exc).__name__}"
    # The web app can accept inquiries without Redis (the outbox keeps them): degraded, not down.
    status = "ok" if all(v == "ok" for v in checks.values()) else (
        "degraded" if checks["database"] == "ok" else "down")
    code = 503 if checks["database"] != "ok" else 200
    return jsonify({"status": status, "checks": checks}), code
