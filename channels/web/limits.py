"""The per-address rate limit both web entry points share (the contract's INTAKE_RATE_LIMIT):
one bucket, `intake`, so the form and the JSON route cannot be used to double the allowance."""

from __future__ import annotations

from intake.app import client_address
from intake.hub import Hub
from intake.ratelimit import hit

SCOPE = "intake"


def client_allowed(hub: Hub) -> tuple[bool, int]:
    """Count this request against the caller's address: (allowed, seconds until reset)."""
    limit, window = hub.settings.intake_rate_limit
    return hit(hub.redis, SCOPE, client_address(), limit, window)
