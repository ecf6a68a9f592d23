"""The counsellor API under `/api/v1` (bearer tokens) and its OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify
from flask.typing import ResponseReturnValue

from intake.api.docs import build_spec
from intake.hub import current_hub

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    hub = current_hub()
    return jsonify(build_spec(f"{hub.clinic.name_en} consultation intake hub"))


def register_api(app: Flask) -> None:
    from intake.api import (  # noqa: F401 - routes on `bp`
        attachments,
        consultations,
        deliveries,
        metrics,
        people,
    )

    app.register_blueprint(bp)
