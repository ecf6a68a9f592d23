"""`GET /api/v1/metrics`: the shared counters (refusals by route and reason, inquiries)."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from intake import metrics
from intake.api import bp
from intake.api.docs import documented
from intake.auth import require_role
from intake.hub import current_hub
from intake.vocab import Role


@bp.get("/metrics")
@documented("/api/v1/metrics", "get", "Counters: refused requests by route and reason, "
            "accepted inquiries by channel", "operations")
@require_role(Role.ADMIN, Role.PRIVACY_OFFICER)
def get_metrics() -> ResponseReturnValue:
    return jsonify({"counters": metrics.snapshot(current_hub().redis)})
